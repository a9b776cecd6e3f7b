import CLatentImageIO

/// PNG text chunk encoding rules: keywords and tEXt values are Latin-1, iTXt values are UTF-8.
enum PNGText {
    /// A text entry ready for the C encoder: Latin-1 key bytes and value bytes in the chosen encoding.
    struct Entry {
        var key: [UInt8]
        var value: [UInt8]
        var utf8: Bool
    }

    /// Validates and encodes entries in key order, so output bytes do not depend on dictionary order.
    static func encodeEntries(_ text: [String: String]) throws -> [Entry] {
        try text.keys.sorted().map { key in
            let value = text[key] ?? ""
            let keyBytes = try keywordBytes(key)
            if value.unicodeScalars.contains(where: { $0.value == 0 }) {
                throw ImageIOError.invalidText(key: key, reason: "value contains a NUL character")
            }
            if let latin1 = latin1Bytes(value) {
                return Entry(key: keyBytes, value: latin1, utf8: false)
            }
            return Entry(key: keyBytes, value: Array(value.utf8), utf8: true)
        }
    }

    /// The Latin-1 bytes of a PNG keyword: 1-79 printable characters, no leading, trailing or double spaces.
    static func keywordBytes(_ key: String) throws -> [UInt8] {
        guard let bytes = latin1Bytes(key), (1...79).contains(bytes.count) else {
            throw ImageIOError.invalidText(key: key, reason: "a key must be 1-79 Latin-1 characters")
        }
        let printable = bytes.allSatisfy { (0x20...0x7E).contains($0) || $0 >= 0xA1 }
        let spacing = bytes.first != 0x20 && bytes.last != 0x20
            && !zip(bytes, bytes.dropFirst()).contains { $0 == 0x20 && $1 == 0x20 }
        guard printable, spacing else {
            throw ImageIOError.invalidText(
                key: key, reason: "a key must be printable, without leading, trailing or consecutive spaces")
        }
        return bytes
    }

    /// Latin-1 bytes when every scalar is below U+0100, else `nil`.
    static func latin1Bytes(_ string: String) -> [UInt8]? {
        var bytes = [UInt8]()
        bytes.reserveCapacity(string.unicodeScalars.count)
        for scalar in string.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            bytes.append(UInt8(scalar.value))
        }
        return bytes
    }

    /// Calls `body` with C views of `entries`, valid only during the call.
    static func withCEntries<R>(_ entries: [Entry], _ body: (UnsafeBufferPointer<lio_text_input>) -> R) -> R {
        var owned: [UnsafeMutablePointer<CChar>] = []
        defer { owned.forEach { $0.deallocate() } }
        func copy(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (index, byte) in bytes.enumerated() { pointer[index] = CChar(bitPattern: byte) }
            pointer[bytes.count] = 0
            owned.append(pointer)
            return pointer
        }
        let inputs = entries.map { entry in
            lio_text_input(key: copy(entry.key), value: copy(entry.value), utf8: entry.utf8 ? 1 : 0)
        }
        return inputs.withUnsafeBufferPointer(body)
    }

    /// The bytes of a NUL-terminated C string.
    static func bytes(_ pointer: UnsafePointer<CChar>) -> UnsafeBufferPointer<UInt8> {
        let raw = UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self)
        var length = 0
        while raw[length] != 0 { length += 1 }
        return UnsafeBufferPointer(start: raw, count: length)
    }

    /// Decodes a NUL-terminated Latin-1 C string (each byte is the code point).
    static func latin1String(_ pointer: UnsafePointer<CChar>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes(pointer) { scalars.append(Unicode.Scalar(byte)) }
        return String(scalars)
    }
}
