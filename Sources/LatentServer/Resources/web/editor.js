// The edit panel: a source image on one canvas and a paintable mask on a canvas stacked above it.
// The mask is painted in a visible colour and exported as black (keep) / white (repaint), the convention of
// A1111's `mask` field; both canvases keep the image's own resolution and are scaled by CSS only.

const PAINT = [255, 64, 96];

export class MaskEditor {
  constructor({ imageCanvas, maskCanvas, stack, brushInput }) {
    this.imageCanvas = imageCanvas;
    this.maskCanvas = maskCanvas;
    this.stack = stack;
    this.brushInput = brushInput;
    this.erasing = false;
    this.drawing = false;
    this.last = null;
    this.loaded = false;
    this.onChange = () => {};
    maskCanvas.addEventListener("pointerdown", (e) => this.down(e));
    maskCanvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      maskCanvas.addEventListener(type, () => this.up());
    }
  }

  get width() { return this.imageCanvas.width; }
  get height() { return this.imageCanvas.height; }

  /** Shows `source` (a Blob or File) as the image to edit and clears the mask. */
  async load(source) {
    const url = URL.createObjectURL(source);
    try {
      const image = await new Promise((resolve, reject) => {
        const img = new Image();
        img.onload = () => resolve(img);
        img.onerror = () => reject(new Error("the file is not an image this browser can read"));
        img.src = url;
      });
      for (const canvas of [this.imageCanvas, this.maskCanvas]) {
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
      }
      this.imageCanvas.getContext("2d").drawImage(image, 0, 0);
      this.clear();
      this.loaded = true;
      this.stack.hidden = false;
      this.stack.style.aspectRatio = `${image.naturalWidth} / ${image.naturalHeight}`;
      this.onChange();
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  setEraser(on) { this.erasing = on; }

  point(event) {
    const box = this.maskCanvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) / box.width) * this.maskCanvas.width,
      y: ((event.clientY - box.top) / box.height) * this.maskCanvas.height,
    };
  }

  /** Brush diameter in image pixels (the slider is in image pixels so a stroke means the same at any zoom). */
  brush() { return Number(this.brushInput.value) || 24; }

  down(event) {
    if (!this.loaded) return;
    event.preventDefault();
    this.maskCanvas.setPointerCapture?.(event.pointerId);
    this.drawing = true;
    this.last = this.point(event);
    this.stroke(this.last, this.last);
  }

  move(event) {
    if (!this.drawing) return;
    event.preventDefault();
    const next = this.point(event);
    this.stroke(this.last, next);
    this.last = next;
  }

  up() {
    if (this.drawing) this.onChange();
    this.drawing = false;
  }

  stroke(from, to) {
    const ctx = this.maskCanvas.getContext("2d");
    ctx.save();
    ctx.globalCompositeOperation = this.erasing ? "destination-out" : "source-over";
    ctx.strokeStyle = `rgb(${PAINT.join(",")})`;
    ctx.lineWidth = this.brush();
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x + 0.01, to.y);
    ctx.stroke();
    ctx.restore();
  }

  clear() {
    this.maskCanvas.getContext("2d").clearRect(0, 0, this.maskCanvas.width, this.maskCanvas.height);
    this.onChange();
  }

  invert() {
    const ctx = this.maskCanvas.getContext("2d");
    const data = ctx.getImageData(0, 0, this.maskCanvas.width, this.maskCanvas.height);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      const painted = px[i + 3] >= 128;
      px[i] = PAINT[0]; px[i + 1] = PAINT[1]; px[i + 2] = PAINT[2];
      px[i + 3] = painted ? 0 : 255;
    }
    ctx.putImageData(data, 0, 0);
    this.onChange();
  }

  /** Fraction of the image the mask covers (0…1). */
  coverage() {
    if (!this.loaded || !this.maskCanvas.width) return 0;
    const px = this.maskCanvas.getContext("2d").getImageData(0, 0, this.maskCanvas.width, this.maskCanvas.height).data;
    let painted = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] >= 128) painted += 1;
    return painted / (px.length / 4);
  }

  /** The source image as a PNG data URL. */
  imageDataURL() { return this.imageCanvas.toDataURL("image/png"); }

  /** The mask as a black/white PNG data URL (white = repaint). */
  maskDataURL() {
    const out = document.createElement("canvas");
    out.width = this.maskCanvas.width;
    out.height = this.maskCanvas.height;
    const src = this.maskCanvas.getContext("2d").getImageData(0, 0, out.width, out.height).data;
    const ctx = out.getContext("2d");
    const dst = ctx.createImageData(out.width, out.height);
    for (let i = 0; i < src.length; i += 4) {
      const v = src[i + 3] >= 128 ? 255 : 0;
      dst.data[i] = v; dst.data[i + 1] = v; dst.data[i + 2] = v; dst.data[i + 3] = 255;
    }
    ctx.putImageData(dst, 0, 0);
    return out.toDataURL("image/png");
  }

  /**
   * Outpainting as inpainting: the image on a larger canvas, the new border filled by stretching the edge
   * pixels outwards (a better start for the denoiser than flat grey), and a mask over the border plus a small
   * overlap so the seam is repainted too.
   */
  outpaint({ left = 0, right = 0, top = 0, bottom = 0 }) {
    const w = this.width, h = this.height;
    const W = w + left + right, H = h + top + bottom;
    const image = document.createElement("canvas");
    image.width = W; image.height = H;
    const ic = image.getContext("2d");
    ic.imageSmoothingEnabled = false;
    // Edge stretch: each side's outermost row/column smeared over the new border, corners from the corners.
    ic.drawImage(this.imageCanvas, 0, 0, w, 1, left, 0, w, top);
    ic.drawImage(this.imageCanvas, 0, h - 1, w, 1, left, top + h, w, bottom);
    ic.drawImage(this.imageCanvas, 0, 0, 1, h, 0, top, left, h);
    ic.drawImage(this.imageCanvas, w - 1, 0, 1, h, left + w, top, right, h);
    ic.drawImage(this.imageCanvas, 0, 0, 1, 1, 0, 0, left, top);
    ic.drawImage(this.imageCanvas, w - 1, 0, 1, 1, left + w, 0, right, top);
    ic.drawImage(this.imageCanvas, 0, h - 1, 1, 1, 0, top + h, left, bottom);
    ic.drawImage(this.imageCanvas, w - 1, h - 1, 1, 1, left + w, top + h, right, bottom);
    ic.drawImage(this.imageCanvas, left, top);

    const mask = document.createElement("canvas");
    mask.width = W; mask.height = H;
    const mc = mask.getContext("2d");
    mc.fillStyle = "#fff";
    mc.fillRect(0, 0, W, H);
    const overlap = 8;
    mc.fillStyle = "#000";
    mc.fillRect(
      left ? left + overlap : 0, top ? top + overlap : 0,
      w - (left ? overlap : 0) - (right ? overlap : 0), h - (top ? overlap : 0) - (bottom ? overlap : 0));
    return { image: image.toDataURL("image/png"), mask: mask.toDataURL("image/png"), width: W, height: H };
  }
}
