import Foundation
import HTTPTypes
import Hummingbird

/// Requires `Authorization: Bearer <key>` on every route but health when API keys are configured.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    /// Key → identity ("key-1", …); the identity, not the key, is what jobs record as their owner.
    let keys: [String: String]

    init(keys: [String]) {
        var table: [String: String] = [:]
        for (index, key) in keys.enumerated() where table[key] == nil { table[key] = "key-\(index + 1)" }
        self.keys = table
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard !keys.isEmpty, !request.uri.path.hasPrefix("/v2/health") else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw ServerError.unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", let identity = keys[String(parts[1])] else {
            throw ServerError.unauthorized("invalid API key")
        }
        var context = context
        context.keyIdentity = identity
        return try await next(request, context)
    }
}

/// Counts every response by route template (never the raw path: ids would explode the label set) and status.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            let response = try await next(request, context)
            record(request, context, response.status.code)
            return response
        } catch let error as any HTTPResponseError {
            record(request, context, error.status.code)
            throw error
        } catch {
            record(request, context, 500)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, _ status: Int) {
        metrics.recordRequest(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status)
    }
}

extension ServerError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try httpError.response(from: request, context: context)
    }
}
