import Foundation
import LatentCore
import Hummingbird
import NIOCore
import Logging
import ServiceLifecycle

/// Everything `latent serve` is configured with.
public struct ServerArguments: Sendable {
    /// The default model (`--model`).
    public var model: URL
    /// Further models, addressable by name only (`--models-dir`).
    public var modelsDirectory: URL?
    /// Address to bind (loopback by default).
    public var host: String
    /// Port to bind.
    public var port: Int
    /// Queue bound, job timeout and result TTL.
    public var queue: JobQueue.Configuration
    /// Per-request caps.
    public var limits: ServerLimits
    /// Accepted API keys; empty = no authentication.
    public var apiKeys: [String]
    /// Where the job database lives; `nil` keeps jobs in memory only.
    public var dataDirectory: URL?
    /// How many models may stay resident.
    public var maxLoadedModels: Int
    /// How often expired results are swept.
    public var sweepInterval: Duration
    /// Most jobs stepped together in one UNet batch (continuous batching); 1 runs jobs one at a time.
    public var maxBatch: Int
    /// Most estimated weight bytes of resident models (`--max-model-memory`); `nil` = only the count limit.
    public var maxModelBytes: Int?
    /// Arithmetic of every model's UNet and VAE (`--weights`); `fp32` matches diffusers.
    public var precision: ArithmeticPrecision

    /// Creates arguments with `latent serve`'s defaults (loopback, port 7860).
    public init(
        model: URL, modelsDirectory: URL? = nil, host: String = "127.0.0.1", port: Int = 7860,
        queue: JobQueue.Configuration = .init(), limits: ServerLimits = .init(), apiKeys: [String] = [],
        dataDirectory: URL? = nil, maxLoadedModels: Int = 1, sweepInterval: Duration = .seconds(30), maxBatch: Int = 1,
        maxModelBytes: Int? = nil, precision: ArithmeticPrecision = .fp32
    ) {
        self.precision = precision
        self.maxBatch = maxBatch
        self.maxModelBytes = maxModelBytes
        self.model = model
        self.modelsDirectory = modelsDirectory
        self.host = host
        self.port = port
        self.queue = queue
        self.limits = limits
        self.apiKeys = apiKeys
        self.dataDirectory = dataDirectory
        self.maxLoadedModels = maxLoadedModels
        self.sweepInterval = sweepInterval
    }
}

/// The parts of a running server, shared by the router, the worker and the drain on shutdown.
public struct ServerComponents: Sendable {
    /// The configuration.
    public let arguments: ServerArguments
    /// The engine.
    public let generator: any ImageGenerating
    /// The job queue (the one actor).
    public let queue: JobQueue
    /// Prometheus metrics.
    public let metrics: ServerMetrics
    /// The server's logger.
    public let logger: Logger

    /// Opens the job store and queue; loads the default model unless a generator is given.
    /// - Throws: `PipelineError` when the model cannot load, `JobStoreError` when the database cannot open.
    public init(_ arguments: ServerArguments, generator: (any ImageGenerating)? = nil) throws {
        var logger = Logger(label: "latent.server")
        logger.logLevel = .info
        self.arguments = arguments
        self.logger = logger
        self.generator = try generator ?? PipelineGenerator(
            model: arguments.model, modelsDirectory: arguments.modelsDirectory, maxLoadedModels: arguments.maxLoadedModels,
            maxModelBytes: arguments.maxModelBytes, precision: arguments.precision)
        metrics = ServerMetrics()
        let store = try JobStore(directory: arguments.dataDirectory)
        queue = try JobQueue(configuration: arguments.queue, store: store, metrics: metrics, logger: logger)
    }
}

/// Builds the HTTP application: router, middleware and the engine worker.
/// - Parameters:
///   - arguments: The server configuration.
///   - generator: An engine to use instead of loading `arguments.model` (tests pass a shared or fake one).
/// - Returns: The application, ready for `runService()` or HummingbirdTesting.
public func buildApplication(_ arguments: ServerArguments, generator: (any ImageGenerating)? = nil) throws
    -> some ApplicationProtocol
{
    buildApplication(try ServerComponents(arguments, generator: generator))
}

/// Builds the HTTP application over existing components.
public func buildApplication(_ components: ServerComponents) -> some ApplicationProtocol {
    let router = buildRouter(components.generator, components: components)
    var app = Application(
        router: router, server: .http1(configuration: .init(additionalChannelHandlers: [ClientDisconnectHandler()])),
        configuration: .init(address: .hostname(components.arguments.host, port: components.arguments.port), serverName: "Latent"),
        logger: components.logger)
    app.addServices(
        JobWorker(
            queue: components.queue, generator: components.generator, logger: components.logger,
            sweepInterval: components.arguments.sweepInterval, maxBatch: components.arguments.maxBatch))
    return app
}

/// Builds the router: every API dialect over one queue.
/// - Parameters:
///   - generator: The engine (real or fake).
///   - components: Queue, metrics and configuration.
public func buildRouter(_ generator: some ImageGenerating, components: ServerComponents) -> Router<ServerRequestContext> {
    let router = Router(context: ServerRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: components.metrics))
    router.add(middleware: WebController())
    router.add(middleware: APIKeyMiddleware(keys: components.arguments.apiKeys))
    let api = APIContext(generator: generator, components: components)
    HealthController(api: api).register(on: router)
    A1111Controller(api: api).register(on: router.group("sdapi/v1"))
    OpenAIController(api: api).register(on: router.group("v1/images"))
    JobsController(api: api).register(on: router.group("v1/jobs"))
    OpenAPIDocument.register(on: router)
    return router
}

/// Runs the server until SIGTERM/SIGINT. The drain runs before the HTTP server stops, so waiting requests are
/// answered (503, job kept queued) instead of holding the shutdown open.
public func runServer(_ arguments: ServerArguments) async throws {
    let components = try ServerComponents(arguments)
    let app = buildApplication(components)
    let group = ServiceGroup(
        configuration: .init(
            services: [.init(service: app), .init(service: DrainService(queue: components.queue))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: components.logger))
    try await group.run()
}

/// Shut down before the application (services stop in reverse order): turns readiness off, stops taking jobs,
/// and gives the running job a bounded time to finish its current step.
struct DrainService: Service {
    let queue: JobQueue
    var grace: Duration = .seconds(60)

    func run() async throws {
        try? await gracefulShutdown()
        await queue.beginDrain()
        let deadline = ContinuousClock.now + grace
        while await queue.counts().running > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// What every controller shares.
struct APIContext: Sendable {
    let generator: any ImageGenerating
    let components: ServerComponents
    var queue: JobQueue { components.queue }
    var limits: ServerLimits { components.arguments.limits }

    init(generator: some ImageGenerating, components: ServerComponents) {
        self.generator = generator
        self.components = components
    }

    /// Limits, names and ranges, then the queue.
    func submit(_ parameters: GenerationParameters, context: ServerRequestContext, priority: Int = 0) async throws -> JobRecord {
        try limits.check(parameters)
        let prepared = try generator.prepare(parameters)
        return try await queue.submit(prepared, owner: context.owner, priority: priority)
    }

    /// Submits and waits; if the client goes away the job is cancelled.
    func run(_ parameters: GenerationParameters, context: ServerRequestContext) async throws -> (JobRecord, [Data]) {
        let job = try await submit(parameters, context: context)
        let owner = context.owner
        let queue = self.queue
        let cancel: @Sendable () -> Void = {
            Task { _ = await queue.cancel(job.id, owner: owner, reason: "client disconnected") }
        }
        // Hummingbird does not cancel a handler whose client left; the connection's handler tells us instead.
        let watcher = try? await context.channel?.pipeline.handler(type: ClientDisconnectHandler.self).get()
        let token = watcher?.watch(cancel)
        defer { if let token { watcher?.unwatch(token) } }
        let finished = await withTaskCancellationHandler {
            await queue.wait(job.id, owner: owner)
        } onCancel: {
            cancel()
        }
        guard let finished else { throw ServerError.internalError("job \(job.id) vanished") }
        switch finished.status {
        case .succeeded: return (finished, try await queue.images(job.id, owner: owner))
        case .queued, .running:
            throw ServerError.unavailable("server is shutting down; job \(job.id) stays queued and resumes after restart")
        case .cancelled: throw ServerError.conflict("job \(job.id) cancelled: \(finished.error ?? "")")
        case .failed, .expired:
            if let error = finished.error, error.contains("--job-timeout") { throw ServerError.limitExceeded(error) }
            if let error = finished.error, error.hasPrefix("invalid input: ") {
                throw ServerError.badRequest("job \(job.id) refused: \(error.dropFirst("invalid input: ".count))")
            }
            throw ServerError.internalError("job \(job.id) failed: \(finished.error ?? "unknown error")")
        }
    }
}
