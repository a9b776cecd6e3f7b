import Foundation
import LatentCore
import LatentImageIO
import LatentModels
import LatentSchedulers
import LatentTokenizer

/// Inpainting inputs of the denoising loop.
struct DenoisingConditioning {
    /// 9-channel UNets: the downsampled mask and the masked image's latents, `[1, 1 + 4, h, w]`, appended to
    /// the model input's channels.
    var extraChannels: Tensor?
    /// 4-channel models: the image's latents `[1, 4, h, w]`, the noise that noised them and the latent mask
    /// `[1, 1, h, w]` (1 = repaint), blended after every step.
    var blend: (imageLatents: Tensor, noise: Tensor, mask: Tensor)?
}

/// Progress of one denoising step, handed to the caller after the scheduler has stepped.
public struct StepProgress: Sendable {
    /// 1-based index of the step just finished.
    public var step: Int
    /// Total number of UNet evaluations (a scheduler may use more calls than requested steps, e.g. PNDM).
    public var stepCount: Int
    /// Latents after this step, `[1, 4, h, w]`.
    public var latents: Tensor
}

/// The outcome of a generation.
public struct GenerationResult: Sendable {
    /// The decoded image, 8-bit RGB.
    public var image: RGBImage
    /// Final latents before decoding, `[1, 4, h, w]`.
    public var latents: Tensor
    /// The request with defaults resolved (size, scheduler).
    public var request: GenerationRequest
    /// The scheduler that ran.
    public var scheduler: SchedulerChoice
}

/// Text-to-image generation with Stable Diffusion 1.x/2.x: tokenizer, CLIP text encoder, UNet, VAE and a
/// scheduler composed into diffusers' denoising loop.
///
/// Matches: diffusers `StableDiffusionPipeline.__call__` (pipelines/stable_diffusion/pipeline_stable_diffusion.py,
/// diffusers 0.42.1) with a CPU generator: the same prompt encoding, the same random draws in the same
/// order, classifier-free guidance over a batched unconditional/conditional pass, and the same
/// post-processing — so a seed gives diffusers' image.
public final class StableDiffusionPipeline: Sendable {
    /// Where the model was loaded from.
    public let modelURL: URL
    public let tokenizer: CLIPTokenizer
    /// The CLIP text encoder (loaded again on demand if it was released after encoding).
    /// - Throws: `WeightsError` when reloading a released encoder fails.
    public var textEncoder: CLIPTextModel { get throws { try textEncoderSlot.get() } }
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    /// The model's own scheduler configuration (`scheduler_config.json`, or the family default).
    public let schedulerConfiguration: SchedulerConfiguration
    /// Size used when a request gives none: `unet.sample_size × vae_scale_factor`.
    public let defaultWidth: Int
    public let defaultHeight: Int
    /// Whether the text encoder is dropped from memory after each prompt encoding (see `load(from:releasingTextEncoder:)`).
    public let releasesTextEncoder: Bool
    /// Whether layer weights are streamed from the mapped files and the VAE always decodes in tiles
    /// (see `load(from:releasingTextEncoder:lowMemory:)`).
    public let lowMemory: Bool

    let textEncoderSlot: ReleasableComponent<CLIPTextModel>
    /// The last prompt encoding: an identical request (e.g. a benchmark's second encode, or a server job
    /// repeating a prompt) reuses it instead of running, or reloading, the text encoder.
    private let lastEncoding = PromptEncodingCache()

    /// Assembles a pipeline from loaded components.
    /// - Parameters:
    ///   - reloadTextEncoder: How to load the text encoder again; when given, the encoder is released after
    ///     every prompt encoding and reloaded on next use (lower peak memory for single generations).
    ///   - lowMemory: The components stream their weights; decode in tiles at every size.
    public init(
        modelURL: URL, tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel, unet: UNet2DConditionModel,
        vae: AutoencoderKL, schedulerConfiguration: SchedulerConfiguration,
        reloadTextEncoder: (@Sendable () throws -> CLIPTextModel)? = nil, lowMemory: Bool = false
    ) {
        self.lowMemory = lowMemory
        self.modelURL = modelURL
        self.tokenizer = tokenizer
        textEncoderSlot = ReleasableComponent(textEncoder, reload: reloadTextEncoder)
        releasesTextEncoder = reloadTextEncoder != nil
        self.unet = unet
        self.vae = vae
        self.schedulerConfiguration = schedulerConfiguration
        let size = (unet.configuration.sampleSize ?? 64) * vae.configuration.downscaleFactor
        defaultWidth = size
        defaultHeight = size
    }

    /// The factor between image and latent size (8 for Stable Diffusion).
    public var vaeScaleFactor: Int { vae.configuration.downscaleFactor }

    /// Resolves defaults and checks a request before any compute.
    /// - Throws: `PipelineError` naming the invalid field.
    public func validated(_ request: GenerationRequest) throws -> GenerationRequest {
        var resolved = request
        let width = request.width ?? defaultWidth, height = request.height ?? defaultHeight
        resolved.width = width
        resolved.height = height
        let factor = vaeScaleFactor
        guard width > 0, height > 0 else {
            throw PipelineError.invalidSize(width: width, height: height, reason: "width and height must be positive")
        }
        guard width % factor == 0, height % factor == 0 else {
            throw PipelineError.invalidSize(width: width, height: height, reason: "width and height must be multiples of \(factor)")
        }
        guard width <= 4096, height <= 4096 else {
            throw PipelineError.invalidSize(width: width, height: height, reason: "the largest supported side is 4096")
        }
        guard (1...1000).contains(request.stepCount) else { throw PipelineError.invalidStepCount(request.stepCount) }
        guard request.guidanceScale.isFinite, (0...100).contains(request.guidanceScale) else {
            throw PipelineError.invalidGuidanceScale(request.guidanceScale)
        }
        if let prediction = request.predictionType, !["epsilon", "v_prediction"].contains(prediction) {
            throw PipelineError.invalidPredictionType(prediction)
        }
        return resolved
    }

    /// The sampler a request names (or the model's own) and a fresh scheduler for its step count and prediction type.
    /// - Throws: `SchedulerError` for an unsupported model scheduler, step count or configuration value.
    public func scheduler(for request: GenerationRequest) throws -> (SchedulerChoice, any Scheduler) {
        let kind = try resolvedScheduler(request.scheduler)
        let scheduler = try makeScheduler(
            kind, modelConfiguration: schedulerConfiguration, stepCount: request.stepCount,
            predictionOverride: request.predictionType.flatMap(PredictionType.init(rawValue:)))
        return (kind, scheduler)
    }

    /// The scheduler a request runs: its own choice, else the model's (`_class_name`).
    /// - Throws: `SchedulerError.unsupportedModelScheduler` when the model names a scheduler Latent lacks.
    public func resolvedScheduler(_ requested: SchedulerChoice?) throws -> SchedulerChoice {
        if let requested { return requested }
        guard let kind = SchedulerKind(modelConfiguration: schedulerConfiguration) else {
            throw SchedulerError.unsupportedModelScheduler(
                className: schedulerConfiguration.className, supported: SchedulerChoice.validNames)
        }
        // The model's own config may already ask for Karras/exponential sigmas; it is passed through as-is.
        return SchedulerChoice(kind)
    }

    /// Encodes the prompt (and, with guidance, the negative prompt) to text embeddings.
    /// - Returns: `[2, 77, D]` (unconditional first) with guidance, `[1, 77, D]` without.
    public func encodePrompt(_ prompt: String, negativePrompt: String, classifierFreeGuidance: Bool) throws -> Tensor {
        let key = PromptEncodingCache.Key(prompt: prompt, negativePrompt: negativePrompt, guided: classifierFreeGuidance)
        if let cached = lastEncoding.value(for: key) { return cached }
        let encoder = try textEncoderSlot.get()
        let conditional = tokenizer.encode(prompt)
        let context = classifierFreeGuidance
            ? try encoder(inputIDs: [tokenizer.encode(negativePrompt), conditional])
            : try encoder(inputIDs: [conditional])
        lastEncoding.store(context, for: key)
        if releasesTextEncoder {
            textEncoderSlot.release()
            ProcessMemory.releaseFreedMemory()
        }
        ProcessMemory.trace("text encoded")
        return context
    }

    /// Runs text-to-image generation.
    /// - Parameters:
    ///   - request: What to generate.
    ///   - onStep: Called after every denoising step; return `false` to cancel (the call then throws
    ///     `PipelineError.cancelled`).
    /// - Returns: The image and final latents.
    /// - Throws: `PipelineError` for invalid requests or cancellation, `SchedulerError` for scheduler
    ///   misconfiguration.
    public func generate(_ request: GenerationRequest, onStep: ((StepProgress) -> Bool)? = nil) throws -> GenerationResult {
        let request = try validated(request)
        guard unet.configuration.inChannels == 4 else {
            throw unet.configuration.inChannels == 9
                ? ImageEditingError.inpaintingModelNeedsMask : ImageEditingError.unsupportedUNetChannels(unet.configuration.inChannels)
        }
        let width = request.width ?? defaultWidth, height = request.height ?? defaultHeight
        var (kind, scheduler) = try scheduler(for: request)

        let guided = request.usesClassifierFreeGuidance
        let context = try encodePrompt(request.prompt, negativePrompt: request.negativePrompt, classifierFreeGuidance: guided)

        // diffusers draws the initial latents first, then any per-step noise, from one generator.
        let random = TorchCPURandomSource(seed: request.seed)
        let latentShape = [1, unet.configuration.outChannels, height / vaeScaleFactor, width / vaeScaleFactor]
        let initial = random.normal(shape: latentShape) * scheduler.initNoiseSigma  // [1, 4, h, w]
        let latents = try denoise(
            initial, scheduler: &scheduler, startIndex: 0, context: context, guidanceScale: request.guidanceScale,
            random: random, conditioning: DenoisingConditioning(), onStep: onStep)
        return GenerationResult(image: try decode(latents), latents: latents, request: request, scheduler: kind)
    }

    /// The denoising loop shared by text-to-image, image-to-image and inpainting: from `startIndex` to the
    /// end of the scheduler's timesteps, UNet (with classifier-free guidance when `guidanceScale > 1`) then
    /// scheduler step, then — for 4-channel inpainting — the known region blended back in.
    ///
    /// Matches: the loop of diffusers' `StableDiffusionPipeline`, `StableDiffusionImg2ImgPipeline` and
    /// `StableDiffusionInpaintPipeline.__call__` (diffusers 0.42.1). Starting at `startIndex` is what their
    /// `timesteps[t_start * order:]` + `set_begin_index` does: step indices stay absolute, so Euler's σ and
    /// PNDM's timesteps are the same ones diffusers uses, while PNDM's call counter starts from zero.
    /// - Parameters:
    ///   - initial: The starting latents `[1, 4, h, w]` (noise, or the noised image).
    ///   - scheduler: A fresh scheduler for this generation.
    ///   - startIndex: The first index into `scheduler.timesteps` to run.
    ///   - context: Text embeddings, `[2, 77, D]` (unconditional first) with guidance, `[1, 77, D]` without.
    ///   - guidanceScale: CFG scale; > 1 runs the batched unconditional/conditional pass.
    ///   - random: The generation's stream (stochastic schedulers draw from it).
    ///   - conditioning: Inpainting inputs, empty for text/image-to-image.
    ///   - onStep: Progress callback; `false` cancels.
    /// - Returns: The final latents `[1, 4, h, w]`.
    func denoise(
        _ initial: Tensor, scheduler: inout any Scheduler, startIndex: Int, context: Tensor, guidanceScale: Float,
        random: any RandomSource, conditioning: DenoisingConditioning, onStep: ((StepProgress) -> Bool)?
    ) throws -> Tensor {
        let guided = guidanceScale > 1
        let timesteps = scheduler.timesteps
        var latents = initial
        let extraInput = conditioning.extraChannels.map { guided ? concatBatch([$0, $0]) : $0 }  // [B, 5, h, w]
        for index in startIndex..<timesteps.count {
            let t = timesteps[index]
            let scaled = scheduler.scaleModelInput(latents, stepIndex: index)
            var input = guided ? concatBatch([scaled, scaled]) : scaled  // [B, 4, h, w]
            if let extraInput { input = concatChannels([input, extraInput]) }  // [B, 9, h, w]
            let noisePrediction: Tensor
            if guided {
                let prediction = unet(input, timesteps: [t, t], context: context)  // [2, 4, h, w]
                let unconditional = prediction.batchItem(0), conditional = prediction.batchItem(1)
                noisePrediction = unconditional.zip(conditional) { u, c in u + guidanceScale * (c - u) }
            } else {
                noisePrediction = unet(input, timesteps: [t], context: context)
            }
            latents = try scheduler.step(modelOutput: noisePrediction, stepIndex: index, sample: latents, random: random)
            if let blend = conditioning.blend {
                // The known region follows the image, noised to the level of the next step (clean after the last).
                let known = index + 1 < timesteps.count
                    ? scheduler.addNoise(original: blend.imageLatents, noise: blend.noise, stepIndex: index + 1)
                    : blend.imageLatents
                latents = Tensor(uninitializedShape: latents.shape) { out in
                    let plane = blend.mask.count
                    for i in 0..<out.count {
                        let m = blend.mask.scalars[i % plane]
                        out[i] = (1 - m) * known.scalars[i] + m * latents.scalars[i]
                    }
                }
            }
            let done = index - startIndex + 1
            ProcessMemory.trace("step \(done)")
            if let onStep, !onStep(StepProgress(step: done, stepCount: timesteps.count - startIndex, latents: latents)) {
                throw PipelineError.cancelled
            }
        }
        return latents
    }

    /// Decodes latents to an 8-bit image exactly as diffusers' `VaeImageProcessor.postprocess` + `numpy_to_pil`.
    /// - Parameter latents: `[1, 4, h, w]`, as the denoising loop leaves them (not yet divided by the scaling factor).
    public func decode(_ latents: Tensor) throws -> RGBImage {
        // The UNet's widened weights (up to 118 MB per pooled buffer) are not needed by the VAE's smaller layers.
        WideningBuffers.shared.releaseAll()
        WinogradWeightCache.shared.releaseAll()
        ProcessMemory.releaseFreedMemory()
        ProcessMemory.trace("before decode")
        let z = latents / vae.configuration.scalingFactor
        let decoded = lowMemory ? vae.decode(z, tiled: true) : vae.decode(z)  // [1, 3, H, W]
        WinogradWeightCache.shared.releaseAll()
        ProcessMemory.trace("decoded")
        let images = try ImageConversion.images(
            fromDecoderOutput: decoded.scalars, batch: 1, height: decoded.shape[2], width: decoded.shape[3])
        guard let image = images.first else { throw PipelineError.cancelled }
        return image
    }
}
