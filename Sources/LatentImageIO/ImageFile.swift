import CLatentImageIO
import Foundation

/// Reads and decodes an image file; the format is recognised from the content, not the extension.
/// - Parameters:
///   - url: A file URL.
///   - maxPixels: Refuse images with more than this many pixels.
/// - Returns: The image and its PNG text chunks (empty for JPEG and WebP).
/// - Throws: `ImageIOError.cannotRead` when the file cannot be read, `ImageIOError.inFile` wrapping the
///   decoding error otherwise.
public func readImage(at url: URL, maxPixels: Int = 1 << 26) throws -> (image: RGBImage, text: [String: String]) {
    let path = url.path
    var buffer = lio_buffer()
    var message = [CChar](repeating: 0, count: Int(LIO_MESSAGE_CAPACITY))
    let code = message.withUnsafeMutableBufferPointer { text in
        lio_read_file(path, &buffer, text.baseAddress, text.count)
    }
    defer { lio_buffer_free(&buffer) }
    guard code == Int32(LIO_OK) else { throw ImageIOError.cannotRead(path: path, reason: shimMessage(message)) }
    let data = buffer.data.map { Data(bytes: $0, count: buffer.size) } ?? Data()
    do {
        return try decodeImage(data, maxPixels: maxPixels)
    } catch let error as ImageIOError {
        throw ImageIOError.inFile(path: path, error)
    }
}

/// Encodes an image and writes it atomically: the bytes go to a temporary file in the same directory,
/// which is fsynced and renamed over `url`, so readers never see a partial file and a failure leaves
/// neither a partial nor a temporary file behind.
/// - Parameters:
///   - image: The pixels to write.
///   - url: The destination file URL.
///   - format: The format; `nil` picks it from the path extension.
///   - quality: 1...100 for JPEG and lossy WebP.
///   - lossless: WebP only: encode losslessly.
///   - text: PNG text chunks (ignored for JPEG and WebP).
/// - Throws: `ImageIOError.cannotWrite` naming the path and the reason (unknown extension, encoding
///   failure, missing or unwritable directory, ...).
public func writeImage(
    _ image: RGBImage, to url: URL, format: ImageFormat? = nil, quality: Int = 95, lossless: Bool = false,
    text: [String: String] = [:]
) throws {
    let path = url.path
    guard let resolved = format ?? ImageFormat(pathExtension: url.pathExtension) else {
        let shown = url.pathExtension.isEmpty ? "no extension" : "unknown extension \".\(url.pathExtension)\""
        throw ImageIOError.cannotWrite(
            path: path, reason: "\(shown); use .png, .jpg, .jpeg or .webp or pass a format")
    }
    let data: Data
    do {
        data = try encodeImage(image, format: resolved, quality: quality, lossless: lossless, text: text)
    } catch let error as ImageIOError {
        throw ImageIOError.cannotWrite(path: path, reason: error.description)
    }
    var message = [CChar](repeating: 0, count: Int(LIO_MESSAGE_CAPACITY))
    let code: Int32 = data.withUnsafeBytes { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        return message.withUnsafeMutableBufferPointer { text in
            lio_write_file_atomic(path, bytes.baseAddress, bytes.count, text.baseAddress, text.count)
        }
    }
    guard code == Int32(LIO_OK) else { throw ImageIOError.cannotWrite(path: path, reason: shimMessage(message)) }
}
