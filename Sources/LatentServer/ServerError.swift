import Foundation
import HTTPTypes
import Hummingbird

/// Errors the server answers with; each maps to one HTTP status and names the problem.
public enum ServerError: Error, CustomStringConvertible, Equatable {
    /// Malformed or invalid request (400).
    case badRequest(String)
    /// A configured limit was exceeded (413 for body size, 422 otherwise via `limitExceeded`).
    case limitExceeded(String)
    /// The body is larger than `--max-body-bytes` (413).
    case bodyTooLarge(limit: Int)
    /// Missing or wrong API key (401).
    case unauthorized(String)
    /// Unknown job, model or resource (404).
    case notFound(String)
    /// The resource exists but is not in a usable state (409), e.g. a job's image before it finished.
    case conflict(String)
    /// The result expired (410).
    case gone(String)
    /// The queue is full (429) — retry after the given seconds.
    case queueFull(capacity: Int, retryAfter: Int)
    /// The server is draining or not yet ready (503).
    case unavailable(String)
    /// The engine failed (500).
    case internalError(String)

    public var description: String {
        switch self {
        case let .badRequest(message), let .limitExceeded(message), let .unauthorized(message), let .notFound(message),
            let .conflict(message), let .gone(message), let .unavailable(message), let .internalError(message):
            message
        case let .bodyTooLarge(limit): "request body exceeds the server limit --max-body-bytes \(limit)"
        case let .queueFull(capacity, retryAfter):
            "queue full: \(capacity) jobs waiting (--max-queue \(capacity)); retry after \(retryAfter) s"
        }
    }

    /// The HTTP status this error answers with.
    public var status: HTTPResponse.Status {
        switch self {
        case .badRequest: .badRequest
        case .limitExceeded: .unprocessableContent
        case .bodyTooLarge: .contentTooLarge
        case .unauthorized: .unauthorized
        case .notFound: .notFound
        case .conflict: .conflict
        case .gone: .gone
        case .queueFull: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .internalError: .internalServerError
        }
    }

    /// The Hummingbird error carrying status, headers and a JSON `{"error": {"message": …}}` body.
    var httpError: HTTPError {
        var headers = HTTPFields()
        switch self {
        case let .queueFull(_, retryAfter): headers[.retryAfter] = String(retryAfter)
        case .unauthorized: headers[.wwwAuthenticate] = "Bearer"
        case .unavailable: headers[.retryAfter] = "5"
        default: break
        }
        return HTTPError(status, headers: headers, message: description)
    }
}
