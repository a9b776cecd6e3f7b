/// An 8-bit image in memory: row-major, interleaved RGB (3 bytes a pixel) or RGBA (4 bytes a pixel).
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Whether `pixels` holds a fourth (alpha) byte per pixel.
    public var hasAlpha: Bool
    /// `height` rows of `width` pixels, each `channels` bytes, without row padding.
    public var pixels: [UInt8]

    /// Creates an image from packed pixel bytes.
    /// - Parameters:
    ///   - width: Width in pixels.
    ///   - height: Height in pixels.
    ///   - hasAlpha: `true` for RGBA pixels, `false` for RGB.
    ///   - pixels: `width * height * (hasAlpha ? 4 : 3)` bytes; checked when the image is encoded.
    public init(width: Int, height: Int, hasAlpha: Bool, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.hasAlpha = hasAlpha
        self.pixels = pixels
    }

    /// Bytes per pixel: 4 with alpha, 3 without.
    public var channels: Int { hasAlpha ? 4 : 3 }

    /// Describes why the image cannot be encoded, or `nil` when sizes and byte count agree.
    public var validationProblem: String? {
        guard width > 0, height > 0 else { return "image has zero size (\(width)x\(height))" }
        guard width <= Int(Int32.max), height <= Int(Int32.max) else {
            return "image dimensions \(width)x\(height) exceed \(Int32.max)"
        }
        let (count, overflow) = width.multipliedReportingOverflow(by: height * channels)
        guard !overflow, pixels.count == count else {
            return "pixel buffer has \(pixels.count) bytes, expected \(width)x\(height)x\(channels)"
        }
        return nil
    }

    /// The same image without its alpha channel (the colour bytes are kept as they are, not composited).
    public func droppingAlpha() -> RGBImage {
        guard hasAlpha else { return self }
        var rgb = [UInt8]()
        rgb.reserveCapacity(pixels.count / 4 * 3)
        var index = 0
        while index + 3 < pixels.count {
            rgb.append(pixels[index])
            rgb.append(pixels[index + 1])
            rgb.append(pixels[index + 2])
            index += 4
        }
        return RGBImage(width: width, height: height, hasAlpha: false, pixels: rgb)
    }
}
