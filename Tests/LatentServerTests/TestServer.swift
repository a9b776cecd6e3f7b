import Foundation
import HTTPTypes
import Hummingbird
import LatentPipeline
import LatentTesting
import Logging
import NIOCore
import NIOEmbedded
import ServiceLifecycle
import Testing

@testable import LatentServer

/// The tiny fixture model, loaded once per test process (every suite shares it).
enum SharedEngine {
    static let modelURL = Fixtures.url("models/sd15-tiny")
    static let generator: PipelineGenerator? = try? PipelineGenerator(model: modelURL, modelsDirectory: nil)
    static func require() throws -> PipelineGenerator { try #require(generator) }
}

/// One HTTP response as a test sees it.
struct TestResponse: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any], "not a JSON object: \(text)")
    }
    func jsonArray() throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: body) as? [[String: Any]], "not a JSON array: \(text)")
    }
}

/// Sends requests straight into the router (no sockets), with the engine worker running beside it, the way
/// HummingbirdTesting's `.router` mode does.
struct TestServer: Sendable {
    let responder: RouterResponder<ServerRequestContext>
    let components: ServerComponents
    var apiKey: String?

    /// Runs `body` against a fresh server; the worker is drained and stopped afterwards.
    static func with<T: Sendable>(
        _ arguments: ServerArguments? = nil, generator: (any ImageGenerating)? = nil, apiKey: String? = nil,
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        let arguments = arguments ?? ServerArguments(model: SharedEngine.modelURL)
        let components = try ServerComponents(arguments, generator: try generator ?? SharedEngine.require())
        let router = buildRouter(components.generator, components: components)
        let server = TestServer(responder: router.buildResponder(), components: components, apiKey: apiKey)
        let worker = JobWorker(
            queue: components.queue, generator: components.generator, logger: components.logger,
            sweepInterval: arguments.sweepInterval, maxBatch: arguments.maxBatch)
        let group = ServiceGroup(services: [worker], logger: components.logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let value = try await body(server)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return value
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    @discardableResult
    func request(
        _ method: HTTPRequest.Method, _ path: String, json: Any? = nil, body: Data? = nil, headers: HTTPFields = [:],
        key: String?? = .none, channel: NIOAsyncTestingChannel? = nil
    ) async throws -> TestResponse {
        var fields = headers
        if let key = key ?? apiKey { fields[.authorization] = "Bearer \(key)" }
        var payload = body
        if let json { payload = try JSONSerialization.data(withJSONObject: json) }
        if payload != nil, fields[.contentType] == nil { fields[.contentType] = "application/json" }
        let request = Request(
            head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path, headerFields: fields),
            body: RequestBody(buffer: ByteBuffer(bytes: payload ?? Data())))
        let context = ServerRequestContext(
            source: ApplicationRequestContextSource(channel: channel ?? NIOAsyncTestingChannel(), logger: Logger(label: "test")))
        let response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        let collector = BodyCollector()
        try await response.body.write(collector)
        return TestResponse(status: response.status, headers: response.headers, body: collector.data)
    }

    func get(_ path: String, key: String?? = .none) async throws -> TestResponse { try await request(.get, path, key: key) }
    func post(_ path: String, json: Any, key: String?? = .none) async throws -> TestResponse {
        try await request(.post, path, json: json, key: key)
    }

    /// A multipart/form-data body: text fields and files (name, filename, bytes).
    static func multipart(
        boundary: String = "latent-test-boundary", fields: [(String, String)], files: [(String, String, Data)]
    ) -> (body: Data, contentType: String) {
        var body = Data()
        for (name, value) in fields {
            body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8))
        }
        for (name, filename, data) in files {
            body.append(Data(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: image/png\r\n\r\n".utf8))
            body.append(data)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return (body, "multipart/form-data; boundary=\(boundary)")
    }

    /// Posts a multipart body.
    func postMultipart(_ path: String, body: Data, contentType: String, key: String?? = .none) async throws -> TestResponse {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return try await request(.post, path, body: body, headers: headers, key: key)
    }

    /// Polls a job until it leaves queued/running.
    func waitForJob(_ id: String, key: String?? = .none) async throws -> [String: Any] {
        for _ in 0..<2000 {
            let job = try await get("/v1/jobs/\(id)", key: key).json()
            if let status = job["status"] as? String, !["queued", "running"].contains(status) { return job }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CancellationError()
    }
}

/// Collects a streamed response body.
final class BodyCollector: ResponseBodyWriter, @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    var data: Data { lock.withLock { buffer } }
    func write(_ chunk: ByteBuffer) async throws { lock.withLock { buffer.append(contentsOf: chunk.readableBytesView) } }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// A fake engine: instant, deterministic, and blockable so tests can hold the queue full.
final class FakeGenerator: ImageGenerating, @unchecked Sendable {
    private let lock = NSLock()
    private var gateOpen = true
    private var model = "fake"
    var stepDelay: Duration = .milliseconds(1)

    func hold() { lock.withLock { gateOpen = false } }
    func release() { lock.withLock { gateOpen = true } }

    func availableModels() -> [ModelDescriptor] {
        ["fake", "other"].map { ModelDescriptor(name: $0, url: URL(fileURLWithPath: "/models/\($0)")) }
    }
    func currentModel() -> String { lock.withLock { model } }
    func selectModel(_ name: String) throws {
        guard availableModels().contains(where: { $0.name == name }) else { throw ServerError.notFound("unknown model '\(name)'") }
        lock.withLock { model = name }
    }
    func prepare(_ parameters: GenerationParameters) throws -> GenerationParameters {
        var prepared = parameters
        let name = parameters.model ?? currentModel()
        guard availableModels().contains(where: { $0.name == name }) else { throw ServerError.notFound("unknown model '\(name)'") }
        prepared.model = name
        return prepared
    }
    func generate(_ parameters: GenerationParameters, onStep: @escaping @Sendable (EngineStep) -> Bool) throws -> [GeneratedImage] {
        for step in 1...parameters.steps {
            while !lock.withLock({ gateOpen }) { Thread.sleep(forTimeInterval: 0.002) }
            Thread.sleep(forTimeInterval: Double(stepDelay.components.attoseconds) / 1e18)
            guard onStep(EngineStep(step: step, stepCount: parameters.steps)) else { throw PipelineError.cancelled }
        }
        let image = RGBImage(width: 8, height: 8, hasAlpha: false, pixels: [UInt8](repeating: 128, count: 192))
        let png = try encodeImage(image, format: .png, text: ["parameters": parameters.prompt])
        return [GeneratedImage(png: png, seed: parameters.resolvedSeed, infotext: parameters.prompt, width: 8, height: 8)]
    }
    func statistics() -> EngineStatistics { EngineStatistics(loadedModels: 1, modelLoads: 1) }
}
