import Foundation
import LatentCore
import LatentImageIO
import LatentModels
import LatentSchedulers

extension StableDiffusionPipeline {
    /// Runs image-to-image (no mask) or inpainting (with `request.inpainting`).
    /// - Parameters:
    ///   - request: The image, strength and options.
    ///   - onStep: Called after every denoising step; return `false` to cancel.
    /// - Returns: The edited image; `request` in the result is the generation request with the resolved size
    ///   and scheduler.
    /// - Throws: `ImageEditingError` for invalid editing input, `PipelineError` / `SchedulerError` as `generate`.
    public func edit(_ request: ImageEditingRequest, onStep: ((StepProgress) -> Bool)? = nil) throws -> GenerationResult {
        if let inpainting = request.inpainting { return try inpaint(request, options: inpainting, onStep: onStep) }
        return try imageToImage(request, onStep: onStep)
    }

    /// Image-to-image: the image's latents noised to the step `strength` selects, denoised from there.
    ///
    /// Matches: diffusers `StableDiffusionImg2ImgPipeline.__call__` (pipeline_stable_diffusion_img2img.py,
    /// diffusers 0.42.1) with a CPU generator: `get_timesteps`, then `prepare_latents` — the VAE posterior is
    /// sampled from the generator first, then the noise — and the shared denoising loop.
    public func imageToImage(_ request: ImageEditingRequest, onStep: ((StepProgress) -> Bool)? = nil) throws -> GenerationResult {
        switch unet.configuration.inChannels {
        case 4: break
        case 9: throw ImageEditingError.inpaintingModelNeedsMask
        case let other: throw ImageEditingError.unsupportedUNetChannels(other)
        }
        let generation = try validatedEditing(request)
        let (width, height) = (generation.width ?? defaultWidth, generation.height ?? defaultHeight)
        var (kind, scheduler) = try scheduler(for: generation)
        let start = try Self.startIndex(strength: request.strength, stepCount: generation.stepCount)
        let context = try encodePrompt(
            generation.prompt, negativePrompt: generation.negativePrompt, classifierFreeGuidance: generation.usesClassifierFreeGuidance)

        let random = TorchCPURandomSource(seed: generation.seed)
        let image = Self.fitted(request.image, width: width, height: height, mode: request.resizeMode)
        let imageLatents = try encode(image, random: random)  // [1, 4, h, w]
        let noise = random.normal(shape: imageLatents.shape)
        let initial = scheduler.addNoise(original: imageLatents, noise: noise, stepIndex: start)
        let latents = try denoise(
            initial, scheduler: &scheduler, startIndex: start, context: context, guidanceScale: generation.guidanceScale,
            random: random, conditioning: DenoisingConditioning(), onStep: onStep)
        return GenerationResult(image: try decode(latents), latents: latents, request: generation, scheduler: kind)
    }

    /// Checks strength and size and resolves the output size (default: the image's size rounded down to a
    /// multiple of 8).
    func validatedEditing(_ request: ImageEditingRequest) throws -> GenerationRequest {
        guard request.strength.isFinite, request.strength > 0, request.strength <= 1 else {
            throw ImageEditingError.invalidStrength(request.strength)
        }
        if let problem = request.image.validationProblem { throw ImageIOError.invalidImage(problem) }
        var generation = request.generation
        let factor = vaeScaleFactor
        let width = generation.width ?? request.image.width - request.image.width % factor
        let height = generation.height ?? request.image.height - request.image.height % factor
        guard width > 0, height > 0 else { throw ImageEditingError.imageTooSmall(width: request.image.width, height: request.image.height) }
        generation.width = width
        generation.height = height
        generation = try validated(generation)
        _ = try Self.startIndex(strength: request.strength, stepCount: generation.stepCount)
        return generation
    }

    /// The first timestep index `strength` selects.
    ///
    /// Matches: diffusers `get_timesteps`: `init = min(int(steps · strength), steps)`, `t_start = steps − init`
    /// (first-order schedulers; `order` is 1 for every scheduler Latent has). The product is taken in
    /// double precision on the strength's shortest decimal form, as Python computes it on the float the
    /// user typed (Float 0.7 times 10 would truncate to 6).
    /// - Throws: `ImageEditingError.noStepsLeft` when no step would run.
    static func startIndex(strength: Float, stepCount: Int) throws -> Int {
        let exact = Double(String(describing: strength)) ?? Double(strength)
        let initSteps = min(Int(Double(stepCount) * exact), stepCount)
        guard initSteps >= 1 else { throw ImageEditingError.noStepsLeft(strength: strength, steps: stepCount) }
        return stepCount - initSteps
    }

    /// The image fitted to `width × height` (unchanged when it already has that size).
    static func fitted(_ image: RGBImage, width: Int, height: Int, mode: ImageResizeMode) -> RGBImage {
        let rgb = image.droppingAlpha()
        guard rgb.width != width || rgb.height != height else { return rgb }
        return ImageResampler.resize(rgb, width: width, height: height, mode: mode)
    }

    /// The VAE posterior of an image, sampled from `random` and scaled (`scaling_factor · latent_dist.sample`).
    /// - Returns: `[1, 4, h, w]`
    func encode(_ image: RGBImage, random: any RandomSource) throws -> Tensor {
        let pixels = Tensor(shape: [1, 3, image.height, image.width], scalars: try ImageConversion.encoderInput(from: [image]))
        return encode(pixels: pixels, random: random)
    }

    /// `encode(_:random:)` for an encoder input `[1, 3, H, W]` in [-1, 1].
    func encode(pixels: Tensor, random: any RandomSource) -> Tensor {
        vae.encode(pixels).sample(using: random) * vae.configuration.scalingFactor
    }
}
