import Foundation
import LatentCore
import LatentImageIO
import LatentModels
import LatentSchedulers

extension StableDiffusionPipeline {
    /// Inpainting with a 9-channel inpainting UNet (mask and masked-image latents as extra input channels)
    /// or an ordinary 4-channel model (the known region's latents blended back after every step).
    ///
    /// Matches: diffusers `StableDiffusionInpaintPipeline.__call__` (pipeline_stable_diffusion_inpaint.py,
    /// diffusers 0.42.1) with a CPU generator — the same random draws in the same order: the image's VAE
    /// sample (4-channel models, or strength < 1), the noise, then the masked image's VAE sample — when
    /// `blur` is 0, `maskedContent` is `.original`, `onlyMasked` is off and `overlaysOriginal` is off.
    /// The A1111 options are applied around that core: mask inversion and blur before, the masked-content
    /// fill before encoding (`fill`) or on the encoded latents (`latentNoise` / `latentNothing`, which only
    /// act when the image is encoded), and the paste-back over the original with the blurred mask after.
    /// - Throws: `ImageEditingError` (mask size, empty mask, strength, UNet channels), `PipelineError`.
    public func inpaint(
        _ request: ImageEditingRequest, options: InpaintingOptions, onStep: ((StepProgress) -> Bool)? = nil
    ) throws -> GenerationResult {
        let channels = unet.configuration.inChannels
        guard channels == 4 || channels == 9 else { throw ImageEditingError.unsupportedUNetChannels(channels) }
        let original = request.image.droppingAlpha()
        guard options.mask.width == original.width, options.mask.height == original.height else {
            throw ImageEditingError.maskSizeMismatch(
                maskWidth: options.mask.width, maskHeight: options.mask.height, imageWidth: original.width,
                imageHeight: original.height)
        }
        guard options.blur >= 0, options.padding >= 0 else {
            throw ImageEditingError.invalidOption("mask blur and inpaint padding must not be negative")
        }
        var mask = options.inverted ? options.mask.inverted() : options.mask
        mask = mask.blurred(radius: options.blur)
        guard !mask.isEmpty else { throw ImageEditingError.emptyMask }
        let generation = try validatedEditing(request)
        let (width, height) = (generation.width ?? defaultWidth, generation.height ?? defaultHeight)

        // The picture the model sees, its mask, and where the result goes back.
        var region: MaskRegion?
        var workImage: RGBImage, workMask: MaskImage
        if options.onlyMasked, let crop = mask.cropRegion(width: width, height: height, padding: options.padding) {
            region = crop
            workImage = ImageResampler.resize(ImageEditing.cropped(original, to: crop), width: width, height: height, mode: .fill)
            workMask = mask.cropped(crop).resized(width: width, height: height, mode: .fill)
        } else {
            workImage = Self.fitted(original, width: width, height: height, mode: request.resizeMode)
            workMask = mask.width == width && mask.height == height
                ? mask : mask.resized(width: width, height: height, mode: request.resizeMode)
        }
        let overlayBase = workImage
        if options.maskedContent == .fill { workImage = ImageEditing.fill(workImage, mask: workMask) }

        var (kind, scheduler) = try scheduler(for: generation)
        let start = try Self.startIndex(strength: request.strength, stepCount: generation.stepCount)
        let context = try encodePrompt(
            generation.prompt, negativePrompt: generation.negativePrompt, classifierFreeGuidance: generation.usesClassifierFreeGuidance)

        let random = TorchCPURandomSource(seed: generation.seed)
        let factor = vaeScaleFactor
        let pixels = Tensor(shape: [1, 3, height, width], scalars: try ImageConversion.encoderInput(from: [workImage]))
        let (fullMask, latentMask) = workMask.binaryTensors(latentWidth: width / factor, latentHeight: height / factor)
        let fullStrength = request.strength == 1
        var imageLatents: Tensor?
        if channels == 4 || !fullStrength {
            var latents = encode(pixels: pixels, random: random)  // [1, 4, h, w]
            switch options.maskedContent {
            case .latentNoise:
                let fresh = random.normal(shape: latents.shape)
                latents = Self.masked(latents, replacement: fresh, mask: latentMask)
            case .latentNothing:
                latents = Self.masked(latents, replacement: Tensor(zeros: latents.shape), mask: latentMask)
            case .original, .fill:
                break
            }
            imageLatents = latents
        }
        let noise = random.normal(shape: [1, 4, height / factor, width / factor])
        let initial: Tensor
        if let imageLatents, !fullStrength {
            initial = scheduler.addNoise(original: imageLatents, noise: noise, stepIndex: start)
        } else {
            initial = noise * scheduler.initNoiseSigma
        }
        // The image with the area to repaint set to 0 (mid-grey), as diffusers builds `masked_image`.
        let plane = height * width
        let maskedPixels = Tensor(uninitializedShape: pixels.shape) { out in
            for i in 0..<out.count { out[i] = fullMask.scalars[i % plane] < 0.5 ? pixels.scalars[i] : 0 * pixels.scalars[i] }
        }
        let maskedLatents = encode(pixels: maskedPixels, random: random)  // [1, 4, h, w]

        var conditioning = DenoisingConditioning()
        if channels == 9 {
            conditioning.extraChannels = concatChannels([latentMask, maskedLatents])  // [1, 5, h, w]
        } else if let imageLatents {
            conditioning.blend = (imageLatents, noise, latentMask)
        }
        let latents = try denoise(
            initial, scheduler: &scheduler, startIndex: start, context: context, guidanceScale: generation.guidanceScale,
            random: random, conditioning: conditioning, onStep: onStep)
        var image = try decode(latents)
        if options.overlaysOriginal || region != nil {
            if let region {
                let placed = ImageResampler.resize(image, width: region.width, height: region.height, mode: .crop)
                image = ImageEditing.composite(placed, over: original, mask: mask, at: (region.x0, region.y0))
            } else {
                image = ImageEditing.composite(image, over: overlayBase, mask: workMask)
            }
        }
        return GenerationResult(image: image, latents: latents, request: generation, scheduler: kind)
    }

    /// `latents` with the masked cells (`mask` = 1) taken from `replacement`.
    private static func masked(_ latents: Tensor, replacement: Tensor, mask: Tensor) -> Tensor {
        let plane = mask.count
        return Tensor(uninitializedShape: latents.shape) { out in
            for i in 0..<out.count { out[i] = mask.scalars[i % plane] >= 0.5 ? replacement.scalars[i] : latents.scalars[i] }
        }
    }
}
