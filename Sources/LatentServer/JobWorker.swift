import Dispatch
import Foundation
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

    private static let engineQueue = DispatchQueue(label: "latent.engine", qos: .userInitiated)

    public func run() async throws {
        try await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.workLoop() }
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
                let result = Result {
                    try generator.generate(parameters) { step in
                        control.latestStep = step
                        continuation.yield(step)
                        return control.stopReason == nil
                    }
                }
                continuation.finish()
                done.resume(returning: result)
            }
        }
        for await step in steps {
            await queue.stepped(job.id, step: step.step, stepCount: step.stepCount)
        }
        return await outcome
    }
}
