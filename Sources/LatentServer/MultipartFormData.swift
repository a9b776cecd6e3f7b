import Foundation

/// A strict `multipart/form-data` parser (RFC 7578) for bodies already read within the body-size limit:
/// the boundary comes from the Content-Type, every part needs a `Content-Disposition: form-data; name=…`
/// header, and the body must end with the closing delimiter. Anything else is a 400 naming the problem.
struct MultipartFormData {
    /// One form field or file.
    struct Part: Equatable {
        /// The field name.
        var name: String
        /// The file name, for file parts.
        var filename: String?
        /// The part's Content-Type, if given.
        var contentType: String?
        /// The part's bytes.
        var data: Data

        /// The value as UTF-8 text.
        var text: String { String(decoding: data, as: UTF8.self) }
    }

    /// Most parts a body may have.
    static let maxParts = 64
    /// Most header bytes per part.
    static let maxHeaderBytes = 8 * 1024

    /// The parts in body order.
    let parts: [Part]

    /// The first part named `name` (OpenAI clients send `image` or `image[]`).
    func part(_ name: String) -> Part? { parts.first { $0.name == name || $0.name == name + "[]" } }

    /// Extracts the boundary from a Content-Type header value.
    /// - Throws: `ServerError.badRequest` when the type is not multipart/form-data or the boundary is missing
    ///   or invalid (RFC 2046: 1–70 characters).
    static func boundary(fromContentType contentType: String?) throws -> String {
        guard let contentType else {
            throw ServerError.badRequest("missing Content-Type: expected multipart/form-data with a boundary")
        }
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard pieces.first?.lowercased() == "multipart/form-data" else {
            throw ServerError.badRequest("Content-Type '\(contentType)' is not multipart/form-data")
        }
        for piece in pieces.dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.utf8.count), !value.hasSuffix(" "),
                value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 32 && $0 != "\"" })
            else {
                throw ServerError.badRequest("multipart boundary '\(value)' is invalid (1–70 printable ASCII characters)")
            }
            return value
        }
        throw ServerError.badRequest("Content-Type multipart/form-data has no boundary parameter")
    }

    /// Parses a whole body.
    /// - Throws: `ServerError.badRequest` naming what is malformed.
    init(body: Data, boundary: String) throws {
        let bytes = [UInt8](body)
        let delimiter = [UInt8]("--\(boundary)".utf8)
        let crlf: [UInt8] = [13, 10]
        // The first delimiter may be preceded by a preamble, which is ignored.
        guard var position = Self.find(delimiter, in: bytes, from: 0) else {
            throw ServerError.badRequest("multipart body does not contain the boundary '\(boundary)'")
        }
        position += delimiter.count
        var parts: [Part] = []
        while true {
            if Self.matches([45, 45], in: bytes, at: position) { break }  // "--": closing delimiter
            guard Self.matches(crlf, in: bytes, at: position) else {
                throw ServerError.badRequest("multipart body is malformed: expected CRLF after the boundary")
            }
            position += 2
            guard parts.count < Self.maxParts else {
                throw ServerError.badRequest("multipart body has more than \(Self.maxParts) parts")
            }
            guard let headerEnd = Self.find([13, 10, 13, 10], in: bytes, from: position),
                headerEnd - position <= Self.maxHeaderBytes
            else {
                throw ServerError.badRequest("multipart part \(parts.count + 1) has no complete header (or one over \(Self.maxHeaderBytes) bytes)")
            }
            let headers = String(decoding: bytes[position..<headerEnd], as: UTF8.self)
            position = headerEnd + 4
            guard let next = Self.find(crlf + delimiter, in: bytes, from: position) else {
                throw ServerError.badRequest("multipart body is truncated: part \(parts.count + 1) has no closing boundary")
            }
            var part = try Self.part(headers: headers, index: parts.count + 1)
            part.data = Data(bytes[position..<next])
            parts.append(part)
            position = next + 2 + delimiter.count
        }
        guard !parts.isEmpty else { throw ServerError.badRequest("multipart body has no parts") }
        self.parts = parts
    }

    /// Reads a part's headers: the Content-Disposition's name and filename, and the Content-Type.
    private static func part(headers: String, index: Int) throws -> Part {
        var name: String?, filename: String?, contentType: String?
        for line in headers.components(separatedBy: "\r\n") where !line.isEmpty {
            let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { throw ServerError.badRequest("multipart part \(index): malformed header line '\(line)'") }
            switch pair[0].lowercased() {
            case "content-disposition":
                let params = parameters(pair[1])
                guard params.type == "form-data" else {
                    throw ServerError.badRequest("multipart part \(index): Content-Disposition must be form-data")
                }
                name = params.values["name"]
                filename = params.values["filename"]
            case "content-type": contentType = pair[1]
            default: continue
            }
        }
        guard let name, !name.isEmpty else {
            throw ServerError.badRequest("multipart part \(index): missing Content-Disposition form-data name")
        }
        return Part(name: name, filename: filename, contentType: contentType, data: Data())
    }

    /// `form-data; name="a"; filename="b.png"` → type and parameters (quoted values unquoted, `\"` unescaped).
    private static func parameters(_ value: String) -> (type: String, values: [String: String]) {
        var values: [String: String] = [:]
        var scalars = Substring(value)
        func take(until stop: Character) -> Substring {
            let end = scalars.firstIndex(of: stop) ?? scalars.endIndex
            defer { scalars = scalars[end...].dropFirst() }
            return scalars[..<end]
        }
        let type = take(until: ";").trimmingCharacters(in: .whitespaces).lowercased()
        while !scalars.isEmpty {
            let key = take(until: "=").trimmingCharacters(in: .whitespaces).lowercased()
            scalars = scalars.drop { $0 == " " }
            var result = ""
            if scalars.first == "\"" {
                scalars = scalars.dropFirst()
                var escaped = false
                while let character = scalars.first {
                    scalars = scalars.dropFirst()
                    if escaped { result.append(character); escaped = false }
                    else if character == "\\" { escaped = true }
                    else if character == "\"" { break }
                    else { result.append(character) }
                }
                _ = take(until: ";")
            } else {
                result = take(until: ";").trimmingCharacters(in: .whitespaces)
            }
            if !key.isEmpty { values[key] = result }
        }
        return (type, values)
    }

    private static func matches(_ needle: [UInt8], in bytes: [UInt8], at index: Int) -> Bool {
        index + needle.count <= bytes.count && bytes[index..<(index + needle.count)].elementsEqual(needle)
    }

    /// First index of `needle` in `bytes` at or after `start`.
    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, needle.count <= bytes.count else { return nil }
        var index = start
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
