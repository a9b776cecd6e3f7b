"""Writes the LatentImageIO fixtures under Tests/Fixtures/images/ (run by hand, never in CI).

- Tiny images made by Pillow in kinds Latent's own encoder does not produce (palette + tRNS, gray + alpha,
  1-bit, 16-bit gray, grayscale and CMYK JPEG, Pillow-made WebP, a PNG with tEXt/zTXt/iTXt text), with the
  pixels Pillow decodes (as RGB/RGBA) and the text in `decoded.json`; plus `animated.webp` (unsupported).
- `conversion.json`: diffusers `VaeImageProcessor` results for the tensor <-> pixel conversion, including
  inputs that land exactly on .5 after scaling by 255 (to pin numpy's half-to-even rounding).

Pinned: Pillow 13.0.0, numpy 2.x, torch 2.13 (cpu), diffusers 0.42.1.
"""
import io
import json
import pathlib

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from diffusers.image_processor import VaeImageProcessor

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests/Fixtures/images"
rng = np.random.default_rng(20240611)
W, H = 7, 5


def smooth_rgb(width, height):
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 30 + 20, y * 40 + 10, (x + y) * 15 + 60], axis=-1)
    return np.clip(base + rng.integers(-8, 9, size=base.shape), 0, 255).astype(np.uint8)


def entry(name, image_bytes, tolerance=0, text=None, expected=None):
    (OUT / name).write_bytes(image_bytes)
    decoded = Image.open(io.BytesIO(image_bytes))
    decoded.load()
    if expected is None:
        has_alpha = decoded.mode in ("RGBA", "LA", "PA") or "transparency" in decoded.info
        expected = np.array(decoded.convert("RGBA" if has_alpha else "RGB"))
    return {
        "file": name,
        "width": int(expected.shape[1]),
        "height": int(expected.shape[0]),
        "hasAlpha": bool(expected.shape[2] == 4),
        "pixels": expected.reshape(-1).tolist(),
        "tolerance": tolerance,
        "text": text or {},
    }


def save(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def image_fixtures():
    entries = []
    palette = Image.frombytes("P", (W, H), rng.integers(0, 6, size=(H, W)).astype(np.uint8).tobytes())
    palette.putpalette(rng.integers(0, 256, size=6 * 3).astype(np.uint8).tolist())
    entries.append(entry("palette_trns.png", save(palette, "PNG", transparency=bytes([0, 128, 255, 255, 40, 255]))))
    entries.append(entry("palette_opaque.png", save(palette, "PNG")))
    gray_alpha = Image.frombytes("LA", (W, H), rng.integers(0, 256, size=(H, W, 2)).astype(np.uint8).tobytes())
    entries.append(entry("gray_alpha.png", save(gray_alpha, "PNG")))
    one_bit = Image.fromarray(rng.integers(0, 2, size=(H, W)).astype(bool)).convert("1")
    entries.append(entry("gray1.png", save(one_bit, "PNG")))
    gray16 = rng.integers(0, 65536, size=(H, W)).astype(np.uint16)
    # Pillow clips 16-bit gray when converting to RGB; the expected bytes are the rounded v * 255 / 65535.
    scaled = np.floor(gray16.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    entries.append(entry("gray16.png", save(Image.fromarray(gray16), "PNG"),
                         expected=np.repeat(scaled[..., None], 3, axis=-1)))
    info = PngImagePlugin.PngInfo()
    text = {
        "parameters": "a photo of a cat, highly detailed\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
                      "CFG scale: 7, Seed: 1234, Size: 512x512",
        "Title": "café crème",           # Latin-1: tEXt
        "Comment": "猫の写真 🐱",          # not Latin-1: Pillow writes iTXt
        "Software": "compressed " * 20,  # zTXt
    }
    info.add_text("parameters", text["parameters"])
    info.add_text("Title", text["Title"])
    info.add_text("Comment", text["Comment"])
    info.add_text("Software", text["Software"], zip=True)
    entries.append(entry("text.png", save(Image.fromarray(smooth_rgb(W, H)), "PNG", pnginfo=info), text=text))

    gray = Image.fromarray(smooth_rgb(16, 16)[..., 0])
    entries.append(entry("gray.jpg", save(gray, "JPEG", quality=90), tolerance=1))
    cmyk = Image.fromarray(smooth_rgb(16, 16)).convert("CMYK")
    entries.append(entry("cmyk.jpg", save(cmyk, "JPEG", quality=95), tolerance=1))
    rgba = np.concatenate([smooth_rgb(W, H), rng.integers(0, 256, size=(H, W, 1)).astype(np.uint8)], axis=-1)
    entries.append(entry("rgba_lossless.webp", save(Image.fromarray(rgba), "WEBP", lossless=True, exact=True)))
    entries.append(entry("rgb_lossy.webp", save(Image.fromarray(smooth_rgb(16, 16)), "WEBP", quality=90),
                         tolerance=1))
    frames = [Image.fromarray(smooth_rgb(8, 8)), Image.fromarray(smooth_rgb(8, 8)[::-1].copy())]
    (OUT / "animated.webp").write_bytes(save(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                                             duration=100, lossless=True))
    return entries


def half_boundary_inputs():
    """Decoder values x with float32 ((x * 0.5 + 0.5) * 255) exactly k + 0.5."""
    values = []
    for k in range(255):
        target = np.float32(k + 0.5)
        c = np.float32(target / np.float32(255))
        for step in range(-6, 7):
            candidate = np.nextafter(c, np.float32(step), dtype=np.float32) if step else c
            for _ in range(abs(step) - 1):
                candidate = np.nextafter(candidate, np.float32(np.sign(step) * 2), dtype=np.float32)
            x = np.float32((candidate - np.float32(0.5)) * np.float32(2))
            if np.float32(np.float32(x * np.float32(0.5) + np.float32(0.5)) * np.float32(255)) == target:
                values.append(float(x))
                break
    return values


def conversion_fixture():
    processor = VaeImageProcessor(vae_scale_factor=8)
    batch, height, width = 2, 8, 16
    count = batch * 3 * height * width
    boundary = half_boundary_inputs()
    random = (rng.standard_normal(count - len(boundary) - 6) * 0.7).astype(np.float32)
    special = np.array([-1.0, 1.0, -1.5, 1.5, 0.0, -0.0], dtype=np.float32)
    values = np.concatenate([np.array(boundary, dtype=np.float32), special, random])
    rng.shuffle(values)
    tensor = torch.from_numpy(values.reshape(batch, 3, height, width))
    images = processor.postprocess(tensor, output_type="pil")
    output_pixels = np.stack([np.array(image) for image in images]).reshape(-1).tolist()

    source = rng.integers(0, 256, size=(height, width, 3)).astype(np.uint8)
    encoded = processor.preprocess(Image.fromarray(source)).numpy().astype(np.float32)
    return {
        "decoder": {"batch": batch, "height": height, "width": width,
                    "values": [float(v) for v in values], "pixels": output_pixels,
                    "half_boundary_count": len(boundary)},
        "encoder": {"height": height, "width": width, "pixels": source.reshape(-1).tolist(),
                    "values": [float(v) for v in encoded.reshape(-1)]},
    }


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "decoded.json").write_text(json.dumps(image_fixtures(), ensure_ascii=False) + "\n")
    (OUT / "conversion.json").write_text(json.dumps(conversion_fixture()) + "\n")
