import Foundation
import LatentImageIO
import LatentPipeline

/// Turning the images clients send for editing (base64 fields, multipart files) into the canonical form a job
/// stores: an RGB PNG and a gray PNG mask (white = repaint) of the image's size. Every failure is a 4xx that
/// names the field and the problem.
enum EditInput {
    /// Decodes base64 text (raw or a `data:image/…;base64,` URL), refusing more than `--max-image-bytes`.
    /// - Throws: `ServerError.limitExceeded` when too large, `.badRequest` when not base64.
    static func base64(_ text: String, field: String, limits: ServerLimits) throws -> Data {
        let payload = text.hasPrefix("data:") ? Substring(text.drop { $0 != "," }.dropFirst()) : Substring(text)
        // 4 base64 characters carry 3 bytes: refuse before decoding anything large.
        if payload.utf8.count / 4 * 3 > limits.maxImageBytes + 3 {
            throw tooLarge(field: field, limits: limits)
        }
        guard let data = Data(base64Encoded: String(payload), options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw ServerError.badRequest("field '\(field)': not valid base64 image data")
        }
        return data
    }

    /// Decodes image bytes (PNG, JPEG or WebP) within the byte and pixel limits.
    /// - Throws: `ServerError.limitExceeded` / `.badRequest` naming `field`.
    static func image(_ data: Data, field: String, limits: ServerLimits) throws -> RGBImage {
        if data.count > limits.maxImageBytes { throw tooLarge(field: field, limits: limits) }
        do {
            return try decodeImage(data, maxPixels: limits.maxInputPixels).image
        } catch let error as ImageIOError {
            if case .tooLarge = error {
                throw ServerError.limitExceeded(
                    "field '\(field)': \(error) (server limit --max-input-pixels \(limits.maxInputPixels))")
            }
            throw ServerError.badRequest("field '\(field)': cannot decode the image: \(error)")
        } catch {
            throw ServerError.badRequest("field '\(field)': cannot decode the image: \(error)")
        }
    }

    /// A1111's mask convention: white = repaint; a mask with transparency uses its alpha channel instead
    /// (as A1111 does for masks drawn on a transparent layer).
    static func a1111Mask(_ image: RGBImage) -> MaskImage {
        guard image.hasAlpha, stride(from: 3, to: image.pixels.count, by: 4).contains(where: { image.pixels[$0] != 255 }) else {
            return MaskImage(luminanceOf: image)
        }
        let values = stride(from: 3, to: image.pixels.count, by: 4).map { image.pixels[$0] > 128 ? UInt8(255) : 0 }
        return MaskImage(width: image.width, height: image.height, values: values)
    }

    /// OpenAI's mask convention: fully transparent pixels (alpha 0) mark the area to edit.
    /// - Returns: `nil` when the image has no fully transparent pixel.
    static func transparencyMask(_ image: RGBImage) -> MaskImage? {
        guard image.hasAlpha else { return nil }
        let values = stride(from: 3, to: image.pixels.count, by: 4).map { image.pixels[$0] == 0 ? UInt8(255) : 0 }
        return values.contains(255) ? MaskImage(width: image.width, height: image.height, values: values) : nil
    }

    /// Checks the mask against the image: equal sizes pass; with `allowScaled`, a mask of the same aspect ratio
    /// at another scale is resized (a mask drawn on a scaled canvas).
    /// - Throws: `ServerError.badRequest` naming both sizes.
    static func fitted(_ mask: MaskImage, to image: RGBImage, field: String, allowScaled: Bool) throws -> MaskImage {
        if mask.width == image.width, mask.height == image.height { return mask }
        guard allowScaled, mask.width * image.height == mask.height * image.width else {
            throw ServerError.badRequest(
                "field '\(field)': mask is \(mask.width)x\(mask.height) but the image is \(image.width)x\(image.height); they must match")
        }
        return mask.resized(width: image.width, height: image.height, mode: .justResize)
    }

    /// The job's stored form of the image: RGB PNG.
    static func png(_ image: RGBImage) throws -> Data {
        try encodeImage(image.droppingAlpha(), format: .png)
    }

    /// The job's stored form of a mask: gray PNG (R = G = B = value, so luminance gives the value back exactly).
    static func png(_ mask: MaskImage) throws -> Data {
        var pixels = [UInt8](repeating: 0, count: mask.values.count * 3)
        for (index, value) in mask.values.enumerated() {
            pixels[3 * index] = value
            pixels[3 * index + 1] = value
            pixels[3 * index + 2] = value
        }
        return try encodeImage(RGBImage(width: mask.width, height: mask.height, hasAlpha: false, pixels: pixels), format: .png)
    }

    /// The output size when the client gives none: the image's size rounded down to a multiple of 8 (the
    /// pipeline's own default), so the pixel limit can be checked before the job is queued.
    static func defaultSize(width: Int?, height: Int?, image: RGBImage) throws -> (width: Int, height: Int) {
        let size = (width ?? image.width - image.width % 8, height ?? image.height - image.height % 8)
        guard size.0 > 0, size.1 > 0 else {
            throw ServerError.badRequest("image \(image.width)x\(image.height) is too small: both sides must be at least 8 pixels")
        }
        return size
    }

    /// Refuses a mask that repaints nothing (after inversion), which would make the edit a no-op.
    static func checkNotEmpty(_ mask: MaskImage, inverted: Bool, field: String) throws {
        let empty = inverted ? mask.isFull : mask.isEmpty
        if empty {
            throw ServerError.badRequest("field '\(field)': the mask marks nothing to repaint\(inverted ? " (after inversion)" : "")")
        }
    }

    private static func tooLarge(field: String, limits: ServerLimits) -> ServerError {
        .limitExceeded("field '\(field)': image exceeds the server limit --max-image-bytes \(limits.maxImageBytes)")
    }
}
