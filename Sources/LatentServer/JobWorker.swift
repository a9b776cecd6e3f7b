import Dispatch
import Foundation
import LatentPipeline
import Logging
import ServiceLifecycle

/// The single worker that owns the engine: takes jobs from the queue one at a time and runs them on a
/// dedicated thread (never on Swift's cooperative pool, which must stay free for HTTP). On graceful shutdown
/// it tells the queue to drain; the running job stops after its current step and stays queued.
public struct JobWorker: Service {
    let queue: JobQueue
    let generator: any ImageGenerating
    let logger: Logger
    /// How often expired results are swept.
    let sweepInterval: Duration
    /// Most jobs stepped together in one UNet batch (1 = one job at a time, exactly `generate`'s arithmetic).
    var maxBatch = 1

    private static let engineQueue = DispatchQueue(label: "latent.engine", qos: .userInitiated)

    public func run() async throws {
        try await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    if maxBatch > 1, let engine = generator as? PipelineGenerator {
                        await self.batchedLoop(engine)
                    } else {
                        await self.workLoop()
                    }
                }
                group.addTask { await self.sweepLoop() }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            Task { await queue.beginDrain() }
        }
    }

    private func workLoop() async {
        while let (job, control) = await queue.nextJob() {
            let result = await execute(job, control: control)
            await queue.completed(job.id, result: result, control: control)
            if case let .failure(error) = result { logger.info("job \(job.id) ended: \(error)") }
        }
        // Drained (possibly before the service group asked): stay up until the group shuts down, since a
        // service that returns early would end the whole group.
        try? await gracefulShutdown()
    }

    private func sweepLoop() async {
        while !Task.isCancelled {
            await queue.expireResults()
            try? await Task.sleep(for: sweepInterval)
        }
    }

    /// Runs one job on the engine thread; step reports flow back through an ordered stream.
    private func execute(_ job: JobRecord, control: JobControl) async -> Result<[GeneratedImage], any Error> {
        let (steps, continuation) = AsyncStream<EngineStep>.makeStream(bufferingPolicy: .unbounded)
        let generator = self.generator
        let parameters = job.parameters
        async let outcome: Result<[GeneratedImage], any Error> = withCheckedContinuation { done in
            Self.engineQueue.async {
                let result = Result<[GeneratedImage], any Error>(catching: {
                    try generator.generate(parameters) { step in
                        control.latestStep = step
                        continuation.yield(step)
                        return control.stopReason == nil
                    }
                })
                continuation.finish()
                done.resume(returning: result)
            }
        }
        for await step in steps {
            await queue.stepped(job.id, step: step.step, stepCount: step.stepCount)
        }
        return await outcome
    }

    // MARK: - Step-level batching

    /// Continuous batching: between steps, waiting jobs join the batch (up to `maxBatch`), finished, cancelled
    /// and timed-out ones leave; each step runs one UNet call for every job sharing a model and latent size.
    private func batchedLoop(_ engine: PipelineGenerator) async {
        var active: [DenoisingSession] = []
        while true {
            if active.isEmpty {
                guard let (job, control) = await queue.nextJob() else { break }
                if job.parameters.editing != nil {
                    // Edits (image-to-image, inpainting) run whole and unbatched: their start step, conditioning
                    // and per-step blending differ per job.
                    let result = await execute(job, control: control)
                    await queue.completed(job.id, result: result, control: control)
                    continue
                }
                if let session = await admit(job, control, engine) { active.append(session) }
                continue
            }
            // An edit waiting at the head of the queue holds back joiners until the batch drains (FIFO order).
            while active.count < maxBatch, let (job, control) = await queue.nextJobIfReady({ $0.editing == nil }) {
                if let session = await admit(job, control, engine) { active.append(session) }
            }
            // Stopped jobs leave before the step (cancel, timeout or shutdown take effect at the next step).
            for session in active where session.control.stopReason != nil {
                await queue.completed(session.jobID, result: .failure(PipelineError.cancelled), control: session.control)
            }
            active.removeAll { $0.control.stopReason != nil }
            guard let key = active.first?.batchKey else { continue }
            let group = active.filter { $0.batchKey == key }
            let outcome = await onEngine {
                try StepBatcher.step(group)
                for session in group { try session.finishImageIfComplete() }
            }
            queue.metrics.recordBatch(jobs: group.count)
            // Groups take turns, so a job of another size or model is not starved.
            active = active.filter { $0.batchKey != key } + group
            for session in group {
                if case let .failure(error) = outcome {
                    await queue.completed(session.jobID, result: .failure(error), control: session.control)
                    continue
                }
                let latents = session.latents
                let step = EngineStep(
                    step: session.overallStep, stepCount: session.overallStepCount,
                    preview: { LatentPreview.image(from: latents) })
                session.control.latestStep = step
                await queue.stepped(session.jobID, step: step.step, stepCount: step.stepCount)
                if session.isDone {
                    await queue.completed(session.jobID, result: .success(session.images), control: session.control)
                }
            }
            active.removeAll { session in session.isDone || (group.contains { $0 === session } && outcome.isFailure) }
        }
        for session in active {
            await queue.completed(session.jobID, result: .failure(PipelineError.cancelled), control: session.control)
        }
        try? await gracefulShutdown()
    }

    /// Sets a job up for batching (model load, prompt encoding, first noise) on the engine thread.
    private func admit(_ job: JobRecord, _ control: JobControl, _ engine: PipelineGenerator) async -> DenoisingSession? {
        let parameters = job.parameters
        let outcome = await onEngine {
            try DenoisingSession(
                jobID: job.id, control: control, parameters: parameters,
                pipeline: engine.pipeline(named: parameters.model ?? engine.currentModel()))
        }
        switch outcome {
        case let .success(session): return session
        case let .failure(error):
            await queue.completed(job.id, result: .failure(error), control: control)
            return nil
        }
    }

    private func onEngine<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
        await withCheckedContinuation { done in
            Self.engineQueue.async { done.resume(returning: Result<T, any Error>(catching: body)) }
        }
    }
}

extension Result {
    var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
