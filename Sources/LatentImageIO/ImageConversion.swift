/// Converts between VAE tensors and 8-bit pixels the way diffusers does.
///
/// Matches: diffusers `VaeImageProcessor` (image_processor.py, diffusers 0.42.1): `postprocess` with
/// `output_type="pil"` (`denormalize`, `pt_to_numpy`, `numpy_to_pil`) and the value mapping of `preprocess`
/// (`pil_to_numpy`, `normalize`). All arithmetic is fp32 like the reference, and `round` is numpy's
/// half-to-even.
public enum ImageConversion {
    /// One decoder output value in [-1, 1] to a byte: `clamp(x * 0.5 + 0.5, 0, 1) * 255`, rounded half to even.
    ///
    /// NaN becomes 0 (numpy's cast of NaN to uint8 on x86).
    /// - Parameter value: A decoder output sample.
    /// - Returns: The pixel byte.
    @inlinable
    public static func byte(fromDecoderValue value: Float) -> UInt8 {
        guard !value.isNaN else { return 0 }
        let shifted = value * 0.5 + 0.5
        let clamped = shifted < 0 ? 0 : (shifted > 1 ? 1 : shifted)
        let scaled: Float = clamped * 255
        return UInt8(scaled.rounded(.toNearestOrEven))
    }

    /// One byte to an encoder input value in [-1, 1]: `2 * (p / 255) - 1` in fp32.
    /// - Parameter byte: A pixel byte.
    /// - Returns: The encoder input sample.
    @inlinable
    public static func encoderValue(fromByte byte: UInt8) -> Float {
        let unit = Float(byte) / 255
        return 2 * unit - 1
    }

    /// Converts a VAE decoder output to images.
    /// - Parameters:
    ///   - values: Row-major `[batch, 3, height, width]` samples, nominally in [-1, 1].
    ///   - batch: Number of images.
    ///   - height: Image height.
    ///   - width: Image width.
    /// - Returns: `batch` RGB images.
    /// - Throws: `ImageIOError.invalidImage` when the count does not match the shape.
    public static func images(fromDecoderOutput values: [Float], batch: Int, height: Int, width: Int) throws
        -> [RGBImage]
    {
        guard batch >= 0, height > 0, width > 0, values.count == batch * 3 * height * width else {
            throw ImageIOError.invalidImage(
                "decoder output has \(values.count) values, expected [\(batch), 3, \(height), \(width)]")
        }
        let plane = height * width
        return (0..<batch).map { index in
            // [3, H, W] planes interleaved to [H, W, 3].
            let base = index * 3 * plane
            var pixels = [UInt8](repeating: 0, count: plane * 3)
            for offset in 0..<plane {
                pixels[offset * 3] = byte(fromDecoderValue: values[base + offset])
                pixels[offset * 3 + 1] = byte(fromDecoderValue: values[base + plane + offset])
                pixels[offset * 3 + 2] = byte(fromDecoderValue: values[base + 2 * plane + offset])
            }
            return RGBImage(width: width, height: height, hasAlpha: false, pixels: pixels)
        }
    }

    /// Converts images to a VAE encoder input; alpha is dropped, as `preprocess` does for RGB conversion.
    /// - Parameter images: Images of one common size.
    /// - Returns: Row-major `[images.count, 3, height, width]` samples in [-1, 1].
    /// - Throws: `ImageIOError.invalidImage` when sizes differ or an image is inconsistent.
    public static func encoderInput(from images: [RGBImage]) throws -> [Float] {
        guard let first = images.first else { return [] }
        let height = first.height, width = first.width, plane = height * width
        var values = [Float](repeating: 0, count: images.count * 3 * plane)
        for (index, image) in images.enumerated() {
            if let problem = image.validationProblem { throw ImageIOError.invalidImage(problem) }
            guard image.width == width, image.height == height else {
                throw ImageIOError.invalidImage(
                    "image \(index) is \(image.width)x\(image.height), expected \(width)x\(height)")
            }
            let channels = image.channels, base = index * 3 * plane
            // [H, W, C] interleaved to [3, H, W] planes.
            for offset in 0..<plane {
                for channel in 0..<3 {
                    values[base + channel * plane + offset] =
                        encoderValue(fromByte: image.pixels[offset * channels + channel])
                }
            }
        }
        return values
    }
}
