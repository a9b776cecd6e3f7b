import Foundation
import LatentCore
import LatentImageIO

/// An 8-bit single-channel inpainting mask: 255 = repaint, 0 = keep, values between blend.
public struct MaskImage: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// `height × width` bytes, row-major.
    public var values: [UInt8]

    /// Creates a mask from raw values.
    public init(width: Int, height: Int, values: [UInt8]) {
        self.width = width
        self.height = height
        self.values = values
    }

    /// The luminance of an image, as Pillow's `convert("L")` computes it (ITU-R 601-2 weights in 16-bit
    /// fixed point: `(19595 R + 38470 G + 7471 B + 0x8000) >> 16`); alpha is ignored, as Pillow does.
    public init(luminanceOf image: RGBImage) {
        let channels = image.channels
        width = image.width
        height = image.height
        values = (0..<(image.width * image.height)).map { i in
            let r = Int(image.pixels[i * channels]), g = Int(image.pixels[i * channels + 1])
            let b = Int(image.pixels[i * channels + 2])
            return UInt8((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16)
        }
    }

    /// Whether no pixel is to be repainted.
    public var isEmpty: Bool { values.allSatisfy { $0 == 0 } }
    /// Whether every pixel is to be repainted.
    public var isFull: Bool { values.allSatisfy { $0 == 255 } }

    /// The mask with keep and repaint swapped (A1111 "Inpaint not masked").
    public func inverted() -> MaskImage {
        MaskImage(width: width, height: height, values: values.map { 255 - $0 })
    }

    /// The mask resized with Pillow's Lanczos filter in `mode`.
    public func resized(width newWidth: Int, height newHeight: Int, mode: ImageResizeMode) -> MaskImage {
        MaskImage(
            width: newWidth, height: newHeight,
            values: ImageResampler.resize(values, width: width, height: height, channels: 1, toWidth: newWidth,
                                          height: newHeight, mode: mode))
    }

    /// The pixels inside `rect` (x0, y0, x1, y1; x1/y1 exclusive, within the mask).
    public func cropped(_ rect: MaskRegion) -> MaskImage {
        var out = [UInt8]()
        out.reserveCapacity(rect.width * rect.height)
        for y in rect.y0..<rect.y1 { out += values[(y * width + rect.x0)..<(y * width + rect.x1)] }
        return MaskImage(width: rect.width, height: rect.height, values: out)
    }

    /// A1111's mask blur: a separable Gaussian with σ = `radius` pixels over a window of
    /// `2·⌊2.5σ + 0.5⌋ + 1` taps, borders reflected without repeating the edge (OpenCV `BORDER_REFLECT_101`,
    /// as `cv2.GaussianBlur` in A1111's `processing.py`), each pass rounded to 8 bits.
    /// - Parameter radius: σ in pixels; 0 returns the mask unchanged.
    public func blurred(radius: Int) -> MaskImage {
        guard radius > 0 else { return self }
        let sigma = Double(radius)
        let half = Int(2.5 * sigma + 0.5)
        var kernel = (-half...half).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        func reflect(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i : 2 * (n - 1) - i }
            return i
        }
        var horizontal = [UInt8](repeating: 0, count: values.count)
        for y in 0..<height {
            for x in 0..<width {
                var sum = 0.0
                for (k, w) in kernel.enumerated() { sum += w * Double(values[y * width + reflect(x + k - half, width)]) }
                horizontal[y * width + x] = UInt8(min(max(sum.rounded(), 0), 255))
            }
        }
        var out = [UInt8](repeating: 0, count: values.count)
        for y in 0..<height {
            for x in 0..<width {
                var sum = 0.0
                for (k, w) in kernel.enumerated() { sum += w * Double(horizontal[reflect(y + k - half, height) * width + x]) }
                out[y * width + x] = UInt8(min(max(sum.rounded(), 0), 255))
            }
        }
        return MaskImage(width: width, height: height, values: out)
    }

    /// The region to generate for "inpaint only masked": the bounding box of the non-zero pixels, grown by
    /// `padding` and then to the aspect ratio of `width × height`, kept inside the mask.
    ///
    /// Matches: diffusers `VaeImageProcessor.get_crop_region` (image_processor.py, diffusers 0.42.1).
    /// - Returns: `nil` when the mask is empty.
    public func cropRegion(width targetWidth: Int, height targetHeight: Int, padding: Int) -> MaskRegion? {
        let columns = (0..<width).filter { x in (0..<height).contains { values[$0 * width + x] != 0 } }
        let rows = (0..<height).filter { y in values[(y * width)..<((y + 1) * width)].contains { $0 != 0 } }
        guard let left = columns.first, let right = columns.last, let top = rows.first, let bottom = rows.last else {
            return nil
        }
        var x1 = max(left - padding, 0), y1 = max(top - padding, 0)
        var x2 = min(right + 1 + padding, width), y2 = min(bottom + 1 + padding, height)
        let cropRatio = Double(x2 - x1) / Double(y2 - y1)
        let processingRatio = Double(targetWidth) / Double(targetHeight)
        if cropRatio > processingRatio {
            let desired = Double(x2 - x1) / processingRatio
            let diff = Int(desired - Double(y2 - y1))
            y1 -= Self.floorDiv(diff, 2)
            y2 += diff - Self.floorDiv(diff, 2)
            if y2 >= height { let over = y2 - height; y2 -= over; y1 -= over }
            if y1 < 0 { y2 -= y1; y1 = 0 }
            if y2 >= height { y2 = height }
        } else {
            let desired = Double(y2 - y1) * processingRatio
            let diff = Int(desired - Double(x2 - x1))
            x1 -= Self.floorDiv(diff, 2)
            x2 += diff - Self.floorDiv(diff, 2)
            if x2 >= width { let over = x2 - width; x2 -= over; x1 -= over }
            if x1 < 0 { x2 -= x1; x1 = 0 }
            if x2 >= width { x2 = width }
        }
        return MaskRegion(x0: x1, y0: y1, x1: x2, y1: y2)
    }

    /// Python's `//` on integers.
    private static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// The mask as diffusers' inpainting pipeline uses it: binarised (`v / 255 ≥ 0.5`, i.e. v ≥ 128) at
    /// full resolution, then nearest-neighbour downsampled to the latent grid.
    ///
    /// Matches: diffusers `VaeImageProcessor(do_binarize=True, do_normalize=False)` + `prepare_mask_latents`'s
    /// `interpolate` (diffusers 0.42.1).
    /// - Returns: The full-resolution binary mask `[1, 1, H, W]` and the latent mask `[1, 1, H/f, W/f]`.
    func binaryTensors(latentWidth: Int, latentHeight: Int) -> (full: Tensor, latent: Tensor) {
        let full = Tensor(shape: [1, 1, height, width], scalars: values.map { Float($0) / 255 >= 0.5 ? 1 : 0 })
        return (full, upsampleNearest(full, height: latentHeight, width: latentWidth))
    }
}

/// A pixel rectangle `[x0, x1) × [y0, y1)`.
public struct MaskRegion: Sendable, Equatable {
    public var x0: Int
    public var y0: Int
    public var x1: Int
    public var y1: Int

    /// Creates a rectangle from its corners (x1/y1 exclusive).
    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }

    /// Width in pixels.
    public var width: Int { x1 - x0 }
    /// Height in pixels.
    public var height: Int { y1 - y0 }
}
