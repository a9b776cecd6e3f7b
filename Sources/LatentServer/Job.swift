import Foundation

/// Where a job is in its life.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled, expired

    /// Whether the job will change no more.
    public var isTerminal: Bool { ![.queued, .running].contains(self) }
}

/// A job as the queue tracks and the store persists it (images live in the store only).
public struct JobRecord: Sendable, Equatable {
    /// Random UUID, lowercase.
    public var id: String
    /// Who submitted it (API-key identity or client address); only they may see or cancel it.
    public var owner: String
    /// Higher runs first; equal priorities run in submission order.
    public var priority: Int
    /// Submission order, unique and increasing across restarts.
    public var sequence: Int64
    /// Where the job is.
    public var status: JobStatus
    /// What it generates (seed resolved at submission).
    public var parameters: GenerationParameters
    /// Submission time.
    public var createdAt: Date
    /// When it last started running.
    public var startedAt: Date?
    /// When it ended.
    public var finishedAt: Date?
    /// Why it failed or was cancelled.
    public var error: String?
    /// Something the client should know (e.g. "re-queued after a server restart").
    public var note: String?
    /// Steps done and total, over every image of the job.
    public var step: Int
    /// Total steps of the job.
    public var stepCount: Int
    /// Seeds of the finished images (their PNGs are in the store).
    public var imageSeeds: [UInt64]
    /// Infotexts of the finished images.
    public var infotexts: [String]

    /// Creates a queued job.
    public init(id: String, owner: String, priority: Int, sequence: Int64, parameters: GenerationParameters, createdAt: Date) {
        self.id = id
        self.owner = owner
        self.priority = priority
        self.sequence = sequence
        status = .queued
        self.parameters = parameters
        self.createdAt = createdAt
        step = 0
        stepCount = parameters.steps * max(parameters.imageCount, 1)
        imageSeeds = []
        infotexts = []
    }

    /// Whether `self` runs before `other` (priority, then FIFO).
    func runsBefore(_ other: JobRecord) -> Bool {
        priority != other.priority ? priority > other.priority : sequence < other.sequence
    }
}

/// What a job's event stream (`GET /v1/jobs/{id}/events`) reports.
public enum JobEvent: Sendable, Equatable {
    /// Waiting; `position` 0 is next.
    case queued(position: Int)
    /// Denoising step `step` of `stepCount` finished.
    case step(step: Int, stepCount: Int)
    /// The job ended (succeeded, failed, cancelled or expired); the record says how.
    case finished(JobRecord)
    /// The server is shutting down; the job stays queued and resumes after a restart.
    case suspended(JobRecord)
}

/// Why a running job is being stopped; set from any thread, read by the engine between steps.
final class JobControl: @unchecked Sendable {
    enum StopReason: Equatable {
        case cancelled(String)
        case timedOut(seconds: Double)
        case shutdown
    }

    private let lock = NSLock()
    private var reason: StopReason?
    private var lastStep: EngineStep?
    let deadline: Date?
    let timeout: Double?

    init(timeout: Double?) {
        self.timeout = timeout
        deadline = timeout.map { Date().addingTimeInterval($0) }
    }

    /// Asks the job to stop at its next step (the first reason wins).
    func stop(_ newReason: StopReason) { lock.withLock { if reason == nil { reason = newReason } } }

    /// The reason to stop, if any; a passed deadline becomes one.
    var stopReason: StopReason? {
        if let deadline, let timeout, Date() > deadline { stop(.timedOut(seconds: timeout)) }
        return lock.withLock { reason }
    }

    /// The latest step report, for previews.
    var latestStep: EngineStep? {
        get { lock.withLock { lastStep } }
        set { lock.withLock { lastStep = newValue } }
    }
}
