/// Failures of image decoding, encoding and file access; each message names the problem.
public enum ImageIOError: Error, CustomStringConvertible, Equatable {
    /// No bytes at all (format given when the caller asked for one).
    case empty(ImageFormat?)
    /// The data does not start with the signature of the format (or of any supported format when `nil`).
    case notAnImage(ImageFormat?)
    /// The data ends before the image is complete.
    case truncated(ImageFormat)
    /// The codec rejected the data; `detail` is the library's explanation.
    case corrupt(ImageFormat, detail: String)
    /// The image is larger than the caller's pixel limit.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// Valid data using a feature this module does not handle (e.g. animated WebP).
    case unsupported(ImageFormat, detail: String)
    /// The in-memory image is inconsistent (zero size, wrong byte count).
    case invalidImage(String)
    /// A quality outside 1...100.
    case invalidQuality(Int)
    /// A PNG text key or value that cannot be stored.
    case invalidText(key: String, reason: String)
    /// The encoder failed for another reason.
    case encodingFailed(ImageFormat, detail: String)
    /// Memory ran out inside a codec.
    case outOfMemory(String)
    /// A file could not be read.
    case cannotRead(path: String, reason: String)
    /// A file could not be written; nothing was left behind.
    case cannotWrite(path: String, reason: String)
    /// A decoding failure of the file at `path`.
    indirect case inFile(path: String, ImageIOError)

    /// A one-line message naming the problem (and the path, for file errors).
    public var description: String {
        switch self {
        case .empty(let format): "empty \(format?.displayName ?? "image") data"
        case .notAnImage(let format):
            "not a \(format?.displayName ?? ImageFormat.allCases.map(\.displayName).joined(separator: "/")) image"
        case .truncated(let format): "truncated \(format.displayName) data"
        case .corrupt(let format, let detail): "corrupt \(format.displayName) data: \(detail)"
        case .tooLarge(let width, let height, let limit): "image too large (\(width)x\(height), limit \(limit) pixels)"
        case .unsupported(let format, let detail): "unsupported \(format.displayName) image: \(detail)"
        case .invalidImage(let reason): "invalid image: \(reason)"
        case .invalidQuality(let quality): "invalid quality \(quality) (expected 1...100)"
        case .invalidText(let key, let reason): "invalid PNG text entry \"\(key)\": \(reason)"
        case .encodingFailed(let format, let detail): "cannot encode \(format.displayName): \(detail)"
        case .outOfMemory(let detail): "out of memory: \(detail)"
        case .cannotRead(let path, let reason): "cannot read \(path): \(reason)"
        case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
        case .inFile(let path, let error): "\(path): \(error)"
        }
    }
}
