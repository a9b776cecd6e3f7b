import Foundation
import HTTPTypes
import Hummingbird

/// KServe-v2 health (`/v2/health/live`, `/v2/health/ready`; never behind the API key) and `/metrics`.
struct HealthController {
    let api: APIContext

    func register(on router: Router<ServerRequestContext>) {
        router.get("v2/health/live") { _, _ in Response.json(data: Data(#"{"live":true}"#.utf8)) }
        router.get("v2/health/ready") { _, _ in
            // Not ready while draining for shutdown (the model is loaded before the server starts listening).
            guard !(await api.queue.draining) else {
                return Response.json(data: Data(#"{"ready":false}"#.utf8), status: .serviceUnavailable)
            }
            return Response.json(data: Data(#"{"ready":true}"#.utf8))
        }
        router.get("metrics") { _, _ in
            let text = api.components.metrics.render(engine: api.generator.statistics())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: .init(string: text)))
        }
    }
}
