import Foundation
import Prometheus

/// The server's Prometheus metrics, in a registry of its own (so several apps in one test process never share
/// counters), rendered as text by `GET /metrics`.
public final class ServerMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry = PrometheusCollectorRegistry()
    private let queueDepth: Gauge
    private let running: Gauge
    private let residentMemory: Gauge
    private let loadedModels: Gauge
    private let modelLoads: Gauge
    private let modelEvictions: Gauge
    private let modelBytes: Gauge
    private let queueWait: ValueHistogram
    private let generationTime: ValueHistogram
    private let imagesGenerated: Counter
    private let stepsDone: Counter
    private let stepsPerSecond: Gauge
    private let batchJobsMax: Gauge
    private let batchedSteps: Counter
    private let largestBatch = LargestValue()

    /// Creates the metric families.
    public init() {
        queueDepth = registry.makeGauge(name: "latent_queue_depth", help: "Jobs waiting in the queue")
        running = registry.makeGauge(name: "latent_jobs_running", help: "Jobs being generated")
        residentMemory = registry.makeGauge(
            name: "process_resident_memory_bytes", help: "Resident set size of the server process")
        loadedModels = registry.makeGauge(name: "latent_models_loaded", help: "Models resident in memory")
        modelLoads = registry.makeGauge(name: "latent_model_loads_total", help: "Model loads since start")
        modelEvictions = registry.makeGauge(
            name: "latent_model_evictions_total", help: "Models dropped by --max-loaded-models or --max-model-memory")
        modelBytes = registry.makeGauge(
            name: "latent_model_weight_bytes", help: "Estimated fp32 weight bytes of the resident models")
        let seconds: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
        queueWait = registry.makeValueHistogram(
            name: "latent_queue_wait_seconds", buckets: seconds, help: "Time from submission to start")
        generationTime = registry.makeValueHistogram(
            name: "latent_generation_seconds", buckets: seconds, help: "Time from start to finish of a job")
        imagesGenerated = registry.makeCounter(name: "latent_images_generated_total", help: "Images generated")
        stepsDone = registry.makeCounter(name: "latent_steps_total", help: "Denoising steps run")
        stepsPerSecond = registry.makeGauge(name: "latent_steps_per_second", help: "Step rate of the last finished job")
        batchJobsMax = registry.makeGauge(
            name: "latent_step_batch_jobs_max", help: "Most jobs that shared one UNet call (step-level batching)")
        batchedSteps = registry.makeCounter(
            name: "latent_batched_unet_calls_total", help: "UNet calls that served more than one job")
    }

    /// Counts one HTTP response.
    func recordRequest(route: String, method: String, status: Int) {
        registry.makeCounter(
            name: "latent_http_requests_total",
            labels: [("route", route), ("method", method), ("status", String(status))],
            help: "HTTP requests by route, method and status"
        ).increment()
    }

    func setQueue(depth: Int, running count: Int) {
        queueDepth.set(Double(depth))
        running.set(Double(count))
    }

    /// Records one batched step over `jobs` jobs.
    func recordBatch(jobs: Int) {
        if jobs > 1 { batchedSteps.increment() }
        batchJobsMax.set(Double(largestBatch.update(jobs)))
    }

    func recordStart(waited: TimeInterval) { queueWait.record(waited) }

    func recordFinish(duration: TimeInterval, steps: Int, images: Int) {
        generationTime.record(duration)
        if images > 0 { imagesGenerated.increment(by: Int64(images)) }
        if steps > 0 {
            stepsDone.increment(by: Int64(steps))
            if duration > 0 { stepsPerSecond.set(Double(steps) / duration) }
        }
    }

    /// Refreshes the sampled gauges and renders the exposition text.
    func render(engine: EngineStatistics) -> String {
        residentMemory.set(Double(Self.residentBytes()))
        loadedModels.set(Double(engine.loadedModels))
        modelLoads.set(Double(engine.modelLoads))
        modelEvictions.set(Double(engine.modelEvictions))
        modelBytes.set(Double(engine.residentModelBytes))
        return registry.emitToString()
    }

    /// RSS from `/proc/self/statm` (pages × page size); 0 where unavailable.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// A running maximum, safe from any thread.
private final class LargestValue: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func update(_ candidate: Int) -> Int {
        lock.withLock {
            value = max(value, candidate)
            return value
        }
    }
}
