import Foundation

/// The file formats LatentImageIO reads and writes.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// Portable Network Graphics: lossless, carries text chunks (A1111 keeps `parameters` there).
    case png
    /// JPEG (JFIF): lossy, RGB only.
    case jpeg
    /// WebP: lossy or lossless, optional alpha.
    case webp

    /// Picks a format from a file extension (`png`, `jpg`, `jpeg`, `jpe`, `jfif`, `webp`; any case).
    /// - Parameter pathExtension: The extension without its dot.
    public init?(pathExtension: String) {
        switch pathExtension.lowercased() {
        case "png": self = .png
        case "jpg", "jpeg", "jpe", "jfif": self = .jpeg
        case "webp": self = .webp
        default: return nil
        }
    }

    /// Recognises a format from the leading signature bytes of `data`; `nil` when none matches fully.
    /// - Parameter data: The start of an encoded image (at least 12 bytes for WebP).
    public init?(sniffing data: Data) {
        for format in ImageFormat.allCases where format.signatureMatch(data) == .full {
            self = format
            return
        }
        return nil
    }

    /// The usual file extension for the format, without a dot.
    public var fileExtension: String {
        switch self {
        case .png: "png"
        case .jpeg: "jpg"
        case .webp: "webp"
        }
    }

    /// Human-readable name used in error messages.
    public var displayName: String {
        switch self {
        case .png: "PNG"
        case .jpeg: "JPEG"
        case .webp: "WebP"
        }
    }

    enum SignatureMatch { case none, prefix, full }

    /// How `data` compares with the format's signature: `.prefix` means it is too short to tell but so far
    /// agrees, which is how truncated data is told apart from data of another kind.
    func signatureMatch(_ data: Data) -> SignatureMatch {
        // nil bytes are wildcards (the RIFF size field).
        let signature: [UInt8?] = switch self {
        case .png: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        case .jpeg: [0xFF, 0xD8, 0xFF]
        case .webp: [0x52, 0x49, 0x46, 0x46, nil, nil, nil, nil, 0x57, 0x45, 0x42, 0x50]
        }
        guard !data.isEmpty else { return .none }
        for (offset, expected) in signature.enumerated() {
            guard offset < data.count else { return .prefix }
            if let expected, data[data.startIndex + offset] != expected { return .none }
        }
        return .full
    }
}
