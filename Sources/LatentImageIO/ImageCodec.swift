import CLatentImageIO
import Foundation

/// Decodes a PNG, JPEG or WebP image to 8-bit RGB or RGBA pixels.
///
/// PNGs of every kind (1-16 bit, gray, palette, with alpha or tRNS, interlaced) come out as RGB8, or RGBA8
/// when they carry transparency; 16-bit samples are scaled with rounding. JPEGs come out as RGB8 (grayscale
/// expanded, CMYK/YCCK converted); WebPs as RGB8 or RGBA8.
/// - Parameters:
///   - data: The encoded bytes.
///   - format: The expected format; `nil` recognises it from the signature.
///   - maxPixels: Refuse images with more than this many pixels before allocating them.
/// - Returns: The image and, for PNG, its text chunks (tEXt, zTXt, iTXt) by key; later duplicates win.
/// - Throws: `ImageIOError` naming the problem (empty, not an image, truncated, corrupt, too large, ...).
public func decodeImage(
    _ data: Data, format: ImageFormat? = nil, maxPixels: Int = 1 << 26
) throws -> (image: RGBImage, text: [String: String]) {
    let resolved = try format ?? detectFormat(data)
    var decoded = lio_decoded()
    var message = [CChar](repeating: 0, count: Int(LIO_MESSAGE_CAPACITY))
    let limit = UInt64(max(maxPixels, 0))
    let code: Int32 = data.withUnsafeBytes { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        return message.withUnsafeMutableBufferPointer { text in
            switch resolved {
            case .png: lio_png_decode(bytes.baseAddress, bytes.count, limit, &decoded, text.baseAddress, text.count)
            case .jpeg: lio_jpeg_decode(bytes.baseAddress, bytes.count, limit, &decoded, text.baseAddress, text.count)
            case .webp: lio_webp_decode(bytes.baseAddress, bytes.count, limit, &decoded, text.baseAddress, text.count)
            }
        }
    }
    defer { lio_decoded_free(&decoded) }
    guard code == Int32(LIO_OK) else {
        throw ImageIOError(code: code, format: resolved, message: shimMessage(message),
                           width: Int(decoded.width), height: Int(decoded.height), limit: max(maxPixels, 0))
    }
    let count = Int(decoded.width) * Int(decoded.height) * Int(decoded.channels)
    let pixels = decoded.pixels.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    let image = RGBImage(
        width: Int(decoded.width), height: Int(decoded.height), hasAlpha: decoded.channels == 4, pixels: pixels)
    var text: [String: String] = [:]
    if let entries = decoded.texts {
        for entry in UnsafeBufferPointer(start: entries, count: Int(decoded.text_count)) {
            guard let key = entry.key, let value = entry.value else { continue }
            text[PNGText.latin1String(key)] =
                entry.utf8 != 0 ? String(decoding: PNGText.bytes(value), as: UTF8.self) : PNGText.latin1String(value)
        }
    }
    return (image, text)
}

/// Encodes an image as PNG, JPEG or WebP.
/// - Parameters:
///   - image: RGB or RGBA pixels. JPEG drops alpha (the colour bytes are kept, not composited).
///   - format: The output format.
///   - quality: 1...100; used by JPEG and lossy WebP, ignored by PNG and lossless WebP.
///   - lossless: WebP only: encode losslessly (every byte, including RGB under zero alpha, is kept).
///   - text: PNG only (ignored for JPEG and WebP): text chunks by key. A value with only Latin-1 characters
///     is stored as tEXt, otherwise as UTF-8 iTXt. Keys are PNG keywords: 1-79 printable Latin-1 characters.
/// - Returns: The encoded bytes.
/// - Throws: `ImageIOError` for an inconsistent image, bad quality or text, or an encoder failure.
public func encodeImage(
    _ image: RGBImage, format: ImageFormat, quality: Int = 95, lossless: Bool = false,
    text: [String: String] = [:]
) throws -> Data {
    if let problem = image.validationProblem { throw ImageIOError.invalidImage(problem) }
    guard (1...100).contains(quality) else { throw ImageIOError.invalidQuality(quality) }
    let entries = format == .png ? try PNGText.encodeEntries(text) : []
    var buffer = lio_buffer()
    var message = [CChar](repeating: 0, count: Int(LIO_MESSAGE_CAPACITY))
    let width = Int32(image.width), height = Int32(image.height), channels = Int32(image.channels)
    let code: Int32 = image.pixels.withUnsafeBufferPointer { pixels in
        message.withUnsafeMutableBufferPointer { text in
            switch format {
            case .png:
                PNGText.withCEntries(entries) { inputs in
                    lio_png_encode(pixels.baseAddress, width, height, channels, inputs.baseAddress,
                                   Int32(inputs.count), &buffer, text.baseAddress, text.count)
                }
            case .jpeg:
                lio_jpeg_encode(pixels.baseAddress, width, height, channels, Int32(quality), &buffer,
                                text.baseAddress, text.count)
            case .webp:
                lio_webp_encode(pixels.baseAddress, width, height, channels, Int32(quality), lossless ? 1 : 0,
                                &buffer, text.baseAddress, text.count)
            }
        }
    }
    defer { lio_buffer_free(&buffer) }
    guard code == Int32(LIO_OK), let data = buffer.data else {
        let detail = shimMessage(message)
        if code == Int32(LIO_ERR_NO_MEMORY) { throw ImageIOError.outOfMemory(detail) }
        throw ImageIOError.encodingFailed(format, detail: detail)
    }
    return Data(bytes: data, count: buffer.size)
}

/// The format of `data` from its signature, or the error explaining why there is none.
private func detectFormat(_ data: Data) throws -> ImageFormat {
    guard !data.isEmpty else { throw ImageIOError.empty(nil) }
    if let format = ImageFormat(sniffing: data) { return format }
    if let format = ImageFormat.allCases.first(where: { $0.signatureMatch(data) == .prefix }) {
        throw ImageIOError.truncated(format)
    }
    throw ImageIOError.notAnImage(nil)
}

extension ImageIOError {
    /// Maps a shim result code to the matching case.
    init(code: Int32, format: ImageFormat, message: String, width: Int, height: Int, limit: Int) {
        switch code {
        case Int32(LIO_ERR_EMPTY): self = .empty(format)
        case Int32(LIO_ERR_NOT_FORMAT): self = .notAnImage(format)
        case Int32(LIO_ERR_TRUNCATED): self = .truncated(format)
        case Int32(LIO_ERR_TOO_LARGE): self = .tooLarge(width: width, height: height, limit: limit)
        case Int32(LIO_ERR_UNSUPPORTED): self = .unsupported(format, detail: message)
        case Int32(LIO_ERR_NO_MEMORY): self = .outOfMemory(message)
        default:
            let prefix = "corrupt \(format.displayName) data: "
            self = .corrupt(format, detail: message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message)
        }
    }
}

/// The NUL-terminated text the shim wrote into a message buffer.
func shimMessage(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
