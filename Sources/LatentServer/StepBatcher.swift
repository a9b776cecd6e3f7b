import Foundation
import LatentCore
import LatentPipeline

/// One job in flight under step-level batching: its own scheduler state, random stream, prompt embeddings and
/// latents, advanced one denoising step at a time by `StepBatcher`. Touched only by the engine thread.
final class DenoisingSession: @unchecked Sendable {
    let jobID: String
    let control: JobControl
    let parameters: GenerationParameters
    let pipeline: StableDiffusionPipeline
    /// Jobs with equal keys (same model, same latent size) can share a UNet batch.
    let batchKey: String
    private let choice: SchedulerChoice
    private let modelHash: String?
    /// `[2, 77, D]` (unconditional first) with guidance, `[1, 77, D]` without.
    let context: Tensor
    private(set) var imageIndex = 0
    private(set) var request: GenerationRequest
    var scheduler: any Scheduler
    private(set) var random: TorchCPURandomSource
    var latents: Tensor
    var stepIndex = 0
    private(set) var images: [GeneratedImage] = []

    /// Sets up the first image exactly as `StableDiffusionPipeline.generate` does (same draws, same order).
    init(jobID: String, control: JobControl, parameters: GenerationParameters, pipeline: StableDiffusionPipeline) throws {
        self.jobID = jobID
        self.control = control
        self.parameters = parameters
        self.pipeline = pipeline
        let requested = try parameters.sampler.map { try SchedulerChoice(named: $0, scheduleType: parameters.scheduleType) }
        let choice = try pipeline.resolvedScheduler(requested)
        let request = try pipeline.validated(GenerationRequest(
            prompt: parameters.prompt, negativePrompt: parameters.negativePrompt, stepCount: parameters.steps,
            guidanceScale: parameters.cfgScale, seed: parameters.resolvedSeed, width: parameters.width,
            height: parameters.height, scheduler: requested))
        self.choice = choice
        self.request = request
        modelHash = try? pipeline.modelHash()
        context = try pipeline.encodePrompt(
            request.prompt, negativePrompt: request.negativePrompt, classifierFreeGuidance: request.usesClassifierFreeGuidance)
        batchKey = "\(pipeline.modelURL.path)|\(request.width ?? 0)x\(request.height ?? 0)"
        let started = try Self.start(request, choice: choice, pipeline: pipeline)
        scheduler = started.scheduler
        random = started.random
        latents = started.latents
    }

    private static func start(_ request: GenerationRequest, choice: SchedulerChoice, pipeline: StableDiffusionPipeline) throws
        -> (scheduler: any Scheduler, random: TorchCPURandomSource, latents: Tensor)
    {
        let scheduler = try makeScheduler(
            choice, modelConfiguration: pipeline.schedulerConfiguration, stepCount: request.stepCount,
            predictionOverride: request.predictionType.flatMap(PredictionType.init(rawValue:)))
        let random = TorchCPURandomSource(seed: request.seed)
        let factor = pipeline.vaeScaleFactor
        let shape = [1, pipeline.unet.configuration.outChannels, (request.height ?? 0) / factor, (request.width ?? 0) / factor]
        return (scheduler, random, random.normal(shape: shape) * scheduler.initNoiseSigma)  // [1, 4, h, w]
    }

    var imageCount: Int { max(parameters.imageCount, 1) }
    var stepsPerImage: Int { scheduler.timesteps.count }
    /// Progress over all images of the job.
    var overallStep: Int { imageIndex * stepsPerImage + stepIndex }
    var overallStepCount: Int { imageCount * stepsPerImage }
    var isDone: Bool { images.count == imageCount }

    /// After the last step of an image: decode it, then set up the next image (seed + 1) if any.
    func finishImageIfComplete() throws {
        guard stepIndex == stepsPerImage, !isDone else { return }
        let image = try pipeline.decode(latents)
        let result = GenerationResult.assembled(image: image, latents: latents, request: request, scheduler: choice)
        let info = InfoText(result: result, modelName: pipeline.modelName, modelHash: modelHash)
        let png = try encodeImage(image, format: .png, text: ["parameters": info.text])
        images.append(GeneratedImage(png: png, seed: request.seed, infotext: info.text, width: image.width, height: image.height))
        guard !isDone else { return }
        imageIndex += 1
        request.seed = parameters.resolvedSeed &+ UInt64(imageIndex)
        let started = try Self.start(request, choice: choice, pipeline: pipeline)
        scheduler = started.scheduler
        random = started.random
        latents = started.latents
        stepIndex = 0
    }
}

/// Continuous batching at step level: several jobs' latents go through the UNet as one batch, each with its own
/// timestep, scheduler state, seed, prompt and CFG scale; jobs join and leave between steps.
enum StepBatcher {
    /// Advances every session (all sharing one `batchKey`) by one denoising step with a single UNet call.
    /// - Throws: Scheduler errors.
    static func step(_ sessions: [DenoisingSession]) throws {
        guard let first = sessions.first else { return }
        var inputs: [Tensor] = [], timesteps: [Float] = [], contexts: [Tensor] = []
        for session in sessions {
            let scaled = session.scheduler.scaleModelInput(session.latents, stepIndex: session.stepIndex)  // [1, 4, h, w]
            let t = session.scheduler.timesteps[session.stepIndex]
            if session.request.usesClassifierFreeGuidance {
                inputs += [scaled, scaled]
                timesteps += [t, t]
            } else {
                inputs.append(scaled)
                timesteps.append(t)
            }
            contexts.append(session.context)
        }
        // [ΣB, 4, h, w]: each guided job contributes (unconditional, conditional), others one row.
        let prediction = first.pipeline.unet(concatBatch(inputs), timesteps: timesteps, context: concatBatch(contexts))
        var row = 0
        for session in sessions {
            let noise: Tensor
            if session.request.usesClassifierFreeGuidance {
                let unconditional = prediction.batchItem(row), conditional = prediction.batchItem(row + 1)
                let g = session.request.guidanceScale
                noise = unconditional.zip(conditional) { u, c in u + g * (c - u) }
                row += 2
            } else {
                noise = prediction.batchItem(row)
                row += 1
            }
            session.latents = try session.scheduler.step(
                modelOutput: noise, stepIndex: session.stepIndex, sample: session.latents, random: session.random)
            session.stepIndex += 1
        }
    }
}
