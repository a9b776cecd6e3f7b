import Foundation
import Logging

/// The one actor: every job's state, the bounded priority queue, the subscribers of each job's events, and the
/// hand-off to the single worker that owns the engine. Persisted through `JobStore` on every state change.
public actor JobQueue {
    /// Queue settings.
    public struct Configuration: Sendable {
        /// Most jobs waiting (not counting the running one); more get 429.
        public var maxQueue: Int
        /// Seconds a job may run before it is stopped at its next step; `nil` = no limit.
        public var jobTimeout: Double?
        /// Seconds finished results are kept.
        public var resultTTL: Double

        /// Creates a configuration.
        public init(maxQueue: Int = 16, jobTimeout: Double? = 600, resultTTL: Double = 3600) {
            self.maxQueue = maxQueue
            self.jobTimeout = jobTimeout
            self.resultTTL = resultTTL
        }
    }

    let configuration: Configuration
    let store: JobStore
    let metrics: ServerMetrics
    private let logger: Logger
    private var jobs: [String: JobRecord] = [:]
    /// Waiting job ids, best first.
    private var pending: [String] = []
    /// Jobs being generated (one, or several when the worker batches steps) and their stop switches.
    private var running: [String: JobControl] = [:]
    private var subscribers: [String: [UUID: AsyncStream<JobEvent>.Continuation]] = [:]
    private var workerWaiter: CheckedContinuation<Void, Never>?
    private var nextSequence: Int64 = 1
    private var recentDurations: [Double] = []
    /// Set by graceful shutdown: readiness fails, no new jobs, the worker stops after the current step.
    public private(set) var draining = false

    /// Opens the queue over a store, restoring its jobs: queued jobs queue again, a job that was running when the
    /// server stopped is re-queued with a note saying so.
    init(configuration: Configuration, store: JobStore, metrics: ServerMetrics, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.metrics = metrics
        self.logger = logger
        var restored: [String: JobRecord] = [:]
        var waiting: [JobRecord] = []
        var sequence: Int64 = 1
        for var job in try store.loadAll() {
            if !job.status.isTerminal, let editing = job.parameters.editing, editing.image.isEmpty {
                job.status = .failed
                job.error = "the edit's input image was lost from the job store"
                job.finishedAt = Date()
                try store.saveFinished(job, images: [])
            }
            if job.status == .running {
                job.status = .queued
                job.step = 0
                job.startedAt = nil
                job.note = "re-queued after a server restart interrupted it"
                try store.save(job)
            }
            restored[job.id] = job
            if job.status == .queued { waiting.append(job) }
            sequence = max(sequence, job.sequence + 1)
        }
        jobs = restored
        pending = waiting.sorted { $0.runsBefore($1) }.map(\.id)
        nextSequence = sequence
        metrics.setQueue(depth: waiting.count, running: 0)
    }

    // MARK: - Clients

    /// Accepts a job.
    /// - Throws: `ServerError.queueFull` (429) when `maxQueue` jobs wait, `.unavailable` while draining.
    func submit(_ parameters: GenerationParameters, owner: String, priority: Int = 0) throws -> JobRecord {
        guard !draining else { throw ServerError.unavailable("server is shutting down; not accepting jobs") }
        guard pending.count < configuration.maxQueue else {
            throw ServerError.queueFull(capacity: configuration.maxQueue, retryAfter: retryAfter())
        }
        var parameters = parameters
        if (parameters.seed ?? -1) < 0 { parameters.seed = Int64.random(in: 0..<(1 << 32)) }
        let job = JobRecord(
            id: UUID().uuidString.lowercased(), owner: owner, priority: priority, sequence: nextSequence,
            parameters: parameters, createdAt: Date())
        nextSequence += 1
        try store.saveNew(job)
        jobs[job.id] = job
        let index = pending.firstIndex { id in jobs[id].map { job.runsBefore($0) } ?? true } ?? pending.count
        pending.insert(job.id, at: index)
        publishPositions()
        metrics.setQueue(depth: pending.count, running: running.count)
        workerWaiter?.resume()
        workerWaiter = nil
        return job
    }

    /// A job visible to `owner`.
    func job(_ id: String, owner: String) -> JobRecord? {
        guard let job = jobs[id], job.owner == owner else { return nil }
        return job
    }

    /// Position in the queue (0 = next), `nil` unless queued.
    func position(of id: String) -> Int? { pending.firstIndex(of: id) }

    /// A finished job's image.
    func image(_ id: String, index: Int, owner: String) throws -> Data {
        guard let job = job(id, owner: owner) else { throw ServerError.notFound("unknown job id '\(id)'") }
        switch job.status {
        case .succeeded: break
        case .expired: throw ServerError.gone("job \(id)'s result expired (--result-ttl)")
        case .queued, .running: throw ServerError.conflict("job \(id) is \(job.status.rawValue); its image is not ready")
        case .failed, .cancelled: throw ServerError.conflict("job \(id) \(job.status.rawValue): \(job.error ?? "no image")")
        }
        guard index >= 0, index < job.imageSeeds.count, let data = try store.image(job: id, index: index) else {
            throw ServerError.notFound("job \(id) has no image \(index)")
        }
        return data
    }

    /// Every image of a finished job.
    func images(_ id: String, owner: String) throws -> [Data] {
        guard let job = job(id, owner: owner) else { throw ServerError.notFound("unknown job id '\(id)'") }
        return try (0..<job.imageSeeds.count).map { try image(id, index: $0, owner: owner) }
    }

    /// Events of a job, starting with its current state; the stream ends when the job does.
    func events(_ id: String, owner: String) -> AsyncStream<JobEvent>? {
        guard let job = job(id, owner: owner) else { return nil }
        let (stream, continuation) = AsyncStream<JobEvent>.makeStream(bufferingPolicy: .bufferingNewest(64))
        switch job.status {
        case .queued: continuation.yield(.queued(position: pending.firstIndex(of: id) ?? 0))
        case .running: continuation.yield(.step(step: job.step, stepCount: job.stepCount))
        default:
            continuation.yield(.finished(job))
            continuation.finish()
            return stream
        }
        if draining {
            continuation.yield(.suspended(job))
            continuation.finish()
            return stream
        }
        let token = UUID()
        subscribers[id, default: [:]][token] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id, token) }
        }
        return stream
    }

    /// Waits until a job ends (or the server drains) and returns it.
    func wait(_ id: String, owner: String) async -> JobRecord? {
        guard let stream = events(id, owner: owner) else { return nil }
        for await event in stream {
            switch event {
            case let .finished(job), let .suspended(job): return job
            case .queued, .step: continue
            }
        }
        return jobs[id]
    }

    /// Cancels a job of `owner`: a queued job at once, a running one at its next step.
    /// - Returns: The job, or `nil` if `owner` has no such job.
    func cancel(_ id: String, owner: String, reason: String = "cancelled by the client") -> JobRecord? {
        guard var job = job(id, owner: owner) else { return nil }
        switch job.status {
        case .queued:
            pending.removeAll { $0 == id }
            job.status = .cancelled
            job.error = reason
            job.finishedAt = Date()
            finish(job, images: [])
            publishPositions()
        case .running:
            running[id]?.stop(.cancelled(reason))
        default: break
        }
        return jobs[id]
    }

    /// A1111 `interrupt`/`skip`: stops the caller's running job, else their next queued one. Other clients'
    /// jobs are never touched.
    /// - Returns: The job stopped, if any.
    func interrupt(owner: String) -> JobRecord? {
        if let id = runningIDs.first(where: { jobs[$0]?.owner == owner }) {
            return cancel(id, owner: owner, reason: "interrupted")
        }
        guard let id = pending.first(where: { jobs[$0]?.owner == owner }) else { return nil }
        return cancel(id, owner: owner, reason: "interrupted")
    }

    /// The caller's running job (else their first queued one) with its latest step, for A1111 `progress`.
    func progress(owner: String) -> (job: JobRecord, step: EngineStep?, queued: Int)? {
        if let id = runningIDs.first(where: { jobs[$0]?.owner == owner }), let job = jobs[id] {
            return (job, running[id]?.latestStep, pending.count)
        }
        guard let id = pending.first(where: { jobs[$0]?.owner == owner }), let job = jobs[id] else { return nil }
        return (job, nil, pending.count)
    }

    /// Queue length and whether something runs.
    func counts() -> (queued: Int, running: Int) { (pending.count, running.count) }

    /// Running job ids, oldest first.
    private var runningIDs: [String] {
        running.keys.sorted { (jobs[$0]?.sequence ?? 0) < (jobs[$1]?.sequence ?? 0) }
    }

    // MARK: - Worker

    /// Waits for the next job and marks it running; `nil` once draining.
    func nextJob() async -> (JobRecord, JobControl)? {
        while pending.isEmpty, !draining {
            await withCheckedContinuation { workerWaiter = $0 }
        }
        return start()
    }

    /// The next job if one waits and the server is not draining, without waiting (for joining a step batch).
    /// - Parameter accept: Whether the next job fits the current batch; it stays queued otherwise.
    func nextJobIfReady(_ accept: @Sendable (GenerationParameters) -> Bool) -> (JobRecord, JobControl)? {
        guard let id = pending.first, let job = jobs[id], accept(job.parameters) else { return nil }
        return start()
    }

    private func start() -> (JobRecord, JobControl)? {
        guard !draining, !pending.isEmpty, var job = jobs[pending.removeFirst()] else { return nil }
        job.status = .running
        job.startedAt = Date()
        job.step = 0
        jobs[job.id] = job
        try? store.save(job)
        let control = JobControl(timeout: configuration.jobTimeout)
        running[job.id] = control
        metrics.recordStart(waited: job.startedAt.map { $0.timeIntervalSince(job.createdAt) } ?? 0)
        metrics.setQueue(depth: pending.count, running: running.count)
        publishPositions()
        broadcast(job.id, .step(step: 0, stepCount: job.stepCount))
        return (job, control)
    }

    /// Records a finished step (not persisted: a restart re-runs the job from the start anyway).
    func stepped(_ id: String, step: Int, stepCount: Int) {
        guard var job = jobs[id] else { return }
        job.step = step
        job.stepCount = stepCount
        jobs[id] = job
        broadcast(id, .step(step: step, stepCount: stepCount))
    }

    /// Records the end of the running job.
    func completed(_ id: String, result: Result<[GeneratedImage], any Error>, control: JobControl) {
        guard var job = jobs[id] else { return }
        running[id] = nil
        let finishedAt = Date()
        let duration = job.startedAt.map { finishedAt.timeIntervalSince($0) } ?? 0
        switch (result, control.stopReason) {
        case let (.success(images), _):
            job.status = .succeeded
            job.imageSeeds = images.map(\.seed)
            job.infotexts = images.map(\.infotext)
            job.step = job.stepCount
            job.finishedAt = finishedAt
            recentDurations = Array((recentDurations + [duration]).suffix(8))
            metrics.recordFinish(duration: duration, steps: job.stepCount, images: images.count)
            finish(job, images: images)
        case (.failure, .shutdown?):
            // Persisted as queued: the next start runs it again.
            job.status = .queued
            job.step = 0
            job.startedAt = nil
            job.note = "suspended by a server shutdown; resumes after restart"
            jobs[id] = job
            try? store.save(job)
            for continuation in (subscribers.removeValue(forKey: id) ?? [:]).values {
                continuation.yield(.suspended(job))
                continuation.finish()
            }
        case let (.failure(error), reason):
            switch reason {
            case let .cancelled(message)?:
                job.status = .cancelled
                job.error = message
            case let .timedOut(seconds)?:
                job.status = .failed
                job.error = "job timed out after \(seconds) s (--job-timeout)"
            default:
                job.status = .failed
                job.error = "\(error)"
            }
            job.finishedAt = finishedAt
            metrics.recordFinish(duration: duration, steps: job.step, images: 0)
            finish(job, images: [])
        }
        metrics.setQueue(depth: pending.count, running: running.count)
    }

    /// Starts draining: no new jobs, the running job stops at its next step and stays queued, waiters are told.
    func beginDrain() {
        guard !draining else { return }
        draining = true
        for control in running.values { control.stop(.shutdown) }
        for id in pending {
            guard let job = jobs[id] else { continue }
            for continuation in (subscribers.removeValue(forKey: id) ?? [:]).values {
                continuation.yield(.suspended(job))
                continuation.finish()
            }
        }
        workerWaiter?.resume()
        workerWaiter = nil
    }

    /// Expires finished results older than the TTL (their images are deleted; the row says "expired").
    func expireResults(now: Date = Date()) {
        for (id, var job) in jobs where job.status.isTerminal && job.status != .expired {
            guard let finished = job.finishedAt, now.timeIntervalSince(finished) > configuration.resultTTL else { continue }
            try? store.deleteImages(job: id)
            job.status = .expired
            jobs[id] = job
            try? store.save(job)
        }
    }

    // MARK: - Internals

    private func finish(_ job: JobRecord, images: [GeneratedImage]) {
        var job = job
        // An ended edit no longer needs its input pixels; the record stays in memory until it expires.
        job.parameters.editing?.image = Data()
        job.parameters.editing?.mask = nil
        jobs[job.id] = job
        do {
            try store.saveFinished(job, images: images)
        } catch {
            logger.error("could not persist job \(job.id): \(error)")
        }
        for continuation in (subscribers.removeValue(forKey: job.id) ?? [:]).values {
            continuation.yield(.finished(job))
            continuation.finish()
        }
    }

    private func broadcast(_ id: String, _ event: JobEvent) {
        for continuation in (subscribers[id] ?? [:]).values { continuation.yield(event) }
    }

    private func publishPositions() {
        for (position, id) in pending.enumerated() where subscribers[id] != nil {
            broadcast(id, .queued(position: position))
        }
    }

    private func unsubscribe(_ id: String, _ token: UUID) {
        subscribers[id]?[token] = nil
        if subscribers[id]?.isEmpty == true { subscribers[id] = nil }
    }

    /// Seconds until a slot is likely free: queue length × recent mean job time.
    private func retryAfter() -> Int {
        let mean = recentDurations.isEmpty ? 5 : recentDurations.reduce(0, +) / Double(recentDurations.count)
        return max(1, min(3600, Int((mean * Double(pending.count + 1)).rounded(.up))))
    }
}
