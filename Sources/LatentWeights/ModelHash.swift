import Foundation

/// Model hashes as shown by AUTOMATIC1111's web UI ("Model hash" in generation parameters).
public enum ModelHash {
    /// The full SHA-256 of a file, as lower-case hex, streamed over a read-only mapping.
    /// - Parameter url: The file.
    /// - Returns: 64 hex characters.
    /// - Throws: `WeightsError.missingFile` / `.invalidFile` when the file cannot be mapped.
    public static func sha256(of url: URL) throws -> String {
        let file = try MappedFile(contentsOf: url)
        var hasher = SHA256()
        file.withBytes { bytes in
            // Chunks keep the page-in pattern sequential and leave room for cancellation points later.
            let chunk = 1 << 22
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + chunk, bytes.count)
                hasher.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
                offset = end
            }
        }
        return hasher.hexDigest()
    }

    /// A1111's AutoV2 hash: the first 10 hex characters of the file's SHA-256.
    /// - Parameter url: The checkpoint.
    /// - Returns: 10 lower-case hex characters.
    /// - Throws: As `sha256(of:)`.
    public static func autoV2(of url: URL) throws -> String {
        String(try sha256(of: url).prefix(10))
    }
}
