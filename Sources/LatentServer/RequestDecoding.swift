import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Body reading and JSON decoding with errors that name the limit or the offending field.
enum RequestDecoding {
    /// Reads the whole body, refusing more than `limit` bytes.
    static func body(of request: Request, limit: Int) async throws -> Data {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw ServerError.bodyTooLarge(limit: limit)
        }
    }

    /// Decodes JSON, turning `DecodingError` into a 400 that names the field and the problem.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        guard !data.isEmpty else { throw ServerError.badRequest("request body is empty; expected a JSON object") }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw ServerError.badRequest(describe(error))
        } catch {
            throw ServerError.badRequest("invalid JSON: \(error)")
        }
    }

    /// The top-level keys of a JSON object (for reporting fields a dialect cannot honour).
    static func keys(of data: Data) -> Set<String> {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        return Set(object.keys)
    }

    /// The top-level JSON object, for fields that accept several types.
    static func object(of data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "body" : "field '\(keys.joined(separator: "."))'"
        }
        switch error {
        case let .typeMismatch(type, context): return "\(path(context)): expected \(typeName(type))"
        case let .valueNotFound(type, context): return "\(path(context)): expected \(typeName(type)), got null"
        case let .keyNotFound(key, _): return "missing required field '\(key.stringValue)'"
        case let .dataCorrupted(context):
            return context.codingPath.isEmpty
                ? "invalid JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)"
                : "\(path(context)): \(context.debugDescription)"
        @unknown default: return "invalid request: \(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Float.Type, is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "\(type)"
        }
    }
}

extension Response {
    /// A JSON response from an `Encodable` value.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return json(data: try encoder.encode(value), status: status, headers: headers)
    }

    /// A JSON response from a `JSONSerialization` object.
    static func json(object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        json(data: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), status: status)
    }

    static func json(data: Data, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
