import ArgumentParser
import Foundation
import LatentCore
import LatentImageIO
import LatentPipeline

/// Image-editing flags shared by `latent generate --init-image` and `latent outpaint`.
struct EditingOptions: ParsableArguments {
    @Option(name: .long, help: "Denoising strength in (0, 1] (default 0.8 for image-to-image, 1 for inpainting and outpainting).")
    var strength: Float?

    @Option(name: .long, help: "How an input of another size is fitted: just-resize, crop or fill.")
    var resizeMode: String = "just-resize"

    @Option(name: .long, help: "Inpainting mask (white = repaint); the init image's size.")
    var mask: String?

    @Option(name: .long, help: "Mask blur (Gaussian σ in pixels): softens the seam where the result is pasted back.")
    var maskBlur: Int?

    @Flag(name: .long, help: "Repaint the black area of the mask instead of the white one.")
    var invertMask = false

    @Flag(name: .long, help: "Generate only a crop around the mask at full resolution and paste it back.")
    var inpaintOnlyMasked = false

    @Option(name: .long, help: "Pixels around the mask's bounding box with --inpaint-only-masked.")
    var inpaintPadding: Int = 32

    @Option(name: .long, help: "What the masked area starts from: original, fill, latent-noise or latent-nothing.")
    var maskedContent: String?

    /// Checks the flags' values and combinations before anything is loaded.
    func check(hasInitImage: Bool, isOutpaint: Bool) throws {
        if let strength, !(strength.isFinite && strength > 0 && strength <= 1) {
            throw ImageEditingError.invalidStrength(strength)
        }
        guard ImageResizeMode(rawValue: resizeMode) != nil else {
            throw ImageEditingError.invalidOption("invalid --resize-mode '\(resizeMode)' (valid: just-resize, crop, fill)")
        }
        if let maskedContent, MaskedContent(rawValue: maskedContent) == nil {
            throw ImageEditingError.invalidOption(
                "invalid --masked-content '\(maskedContent)' (valid: original, fill, latent-noise, latent-nothing)")
        }
        if let maskBlur, maskBlur < 0 { throw ImageEditingError.invalidOption("--mask-blur must not be negative") }
        if inpaintPadding < 0 { throw ImageEditingError.invalidOption("--inpaint-padding must not be negative") }
        if !hasInitImage {
            let used = [strength != nil ? "--strength" : nil, mask != nil ? "--mask" : nil, invertMask ? "--invert-mask" : nil,
                        inpaintOnlyMasked ? "--inpaint-only-masked" : nil, maskedContent != nil ? "--masked-content" : nil]
                .compactMap { $0 }
            if let first = used.first { throw ImageEditingError.invalidOption("\(first) needs --init-image") }
        }
        if isOutpaint && mask != nil { throw ImageEditingError.invalidOption("outpaint builds its own mask; --mask is not accepted") }
    }
}

/// Reading the editing inputs and running an edit for the CLI.
enum EditingInput {
    /// Largest input image accepted (pixels): 4096².
    static let maxPixels = 4096 * 4096

    /// The init image and its mask (resized, with a note, when its size is a scaled version of the image's).
    static func load(image path: String, mask maskPath: String?, options: EditingOptions) throws -> (image: RGBImage, mask: MaskImage?) {
        let image = try readImage(at: URL(fileURLWithPath: path), maxPixels: maxPixels).image.droppingAlpha()
        guard let maskPath else { return (image, nil) }
        var mask = MaskImage(luminanceOf: try readImage(at: URL(fileURLWithPath: maskPath), maxPixels: maxPixels).image)
        if mask.width != image.width || mask.height != image.height {
            // Same aspect ratio (a mask drawn at another scale): resize it; otherwise it cannot be meant for this image.
            guard mask.width * image.height == mask.height * image.width else {
                throw ImageEditingError.maskSizeMismatch(
                    maskWidth: mask.width, maskHeight: mask.height, imageWidth: image.width, imageHeight: image.height)
            }
            note("mask is \(mask.width)×\(mask.height), the image \(image.width)×\(image.height): resizing the mask")
            mask = mask.resized(width: image.width, height: image.height, mode: .justResize)
        }
        return (image, mask)
    }

    /// Loads the model, runs the edit and writes the image with its parameters.
    static func run(
        _ input: (image: RGBImage, mask: MaskImage?), generation: GenerationRequest, options: EditingOptions, model: String,
        output: URL, format: ImageFormat, printSeed: Bool, defaultBlur: Int = 4, defaultContent: MaskedContent = .original,
        extraInfo: [(key: String, value: String)] = [], precision: ArithmeticPrecision = .fp32
    ) throws {
        var inpainting: InpaintingOptions?
        if let mask = input.mask {
            var effective = options.invertMask ? mask.inverted() : mask
            effective = effective.blurred(radius: options.maskBlur ?? defaultBlur)
            if effective.isEmpty {
                // Nothing to repaint: the input is the answer.
                note("the mask is entirely black: nothing to repaint, writing the input unchanged")
                try writeImage(input.image, to: output, format: format)
                print(output.path)
                return
            }
            if effective.isFull { note("the mask covers the whole image: the result is a full repaint") }
            inpainting = InpaintingOptions(
                mask: mask, blur: options.maskBlur ?? defaultBlur, inverted: options.invertMask, onlyMasked: options.inpaintOnlyMasked,
                padding: options.inpaintPadding, maskedContent: options.maskedContent.flatMap(MaskedContent.init(rawValue:)) ?? defaultContent)
        }
        let request = ImageEditingRequest(
            generation: generation, image: input.image, strength: options.strength,
            resizeMode: ImageResizeMode(rawValue: options.resizeMode) ?? .justResize, inpainting: inpainting)
        let pipeline = try StableDiffusionPipeline.load(from: URL(fileURLWithPath: model), precision: precision)
        for warning in pipeline.configurationWarnings(for: generation) { note("warning: \(warning)") }
        if printSeed { note("seed: \(generation.seed)") }
        let progress = ProgressBar()
        let result = try pipeline.edit(request) { step in
            progress.update(step.step, of: step.stepCount)
            return true
        }
        progress.finish()
        let info = InfoText(
            result: result, modelName: pipeline.modelName, modelHash: try? pipeline.modelHash(), editing: request, extra: extraInfo)
        try writeImage(result.image, to: output, format: format, text: ["parameters": info.text])
        print(output.path)
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }
}

/// `latent outpaint`: extend an image's canvas and paint the new area.
struct OutpaintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpaint",
        abstract: "Extend an image beyond its borders.",
        discussion: """
            The canvas grows by the given margins (rounded up so both sides are multiples of 8), the new area is \
            pre-filled from the image's colours and inpainted; the original pixels are kept exactly outside the \
            blend seam (about 2.5 × --mask-blur pixels wide). Works best with a 9-channel inpainting model.
            """)

    @Option(name: .long, help: "A diffusers model folder or a single .safetensors checkpoint.")
    var model: String

    @Option(name: .long, help: "The image to extend.")
    var image: String

    @Option(name: .long, help: "The text to depict.")
    var prompt: String

    @Option(name: .long, help: "What to steer away from.")
    var negativePrompt: String = ""

    @Option(name: .long, help: "Pixels to add on the left.")
    var left: Int = 0

    @Option(name: .long, help: "Pixels to add on the right.")
    var right: Int = 0

    @Option(name: .long, help: "Pixels to add at the top.")
    var top: Int = 0

    @Option(name: .long, help: "Pixels to add at the bottom.")
    var bottom: Int = 0

    @Option(name: .long, help: "Denoising steps (1–1000).")
    var steps: Int = 20

    @Option(name: .long, help: "Classifier-free guidance scale.")
    var cfgScale: Float = 7.5

    @Option(name: .long, help: "Sampler name (see `latent schedulers`); default: the model's own scheduler.")
    var scheduler: String?

    @Option(name: .long, help: "Seed; random when omitted (printed).")
    var seed: UInt64?

    @Option(name: .long, help: "Denoising strength in (0, 1] (default 1).")
    var strength: Float?

    @Option(name: .long, help: "Seam blur (Gaussian σ in pixels, default 8).")
    var maskBlur: Int?

    @Option(name: .long, help: "What the new area starts from: fill (default), original, latent-noise or latent-nothing.")
    var maskedContent: String?

    @Option(name: .shortAndLong, help: "Output image (.png, .jpg or .webp); default latent-SEED.png.")
    var output: String?

    @Option(name: .long, help: "Arithmetic of the UNet and VAE: fp32 (default, equal to diffusers), bf16 or int8 (faster, approximate).")
    var weights: ArithmeticPrecision = .fp32

    func run() throws {
        do {
            try outpaint()
        } catch let error as CleanExit {
            throw error
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func outpaint() throws {
        let kind = try scheduler.map { try SchedulerChoice(named: $0) }
        let seed = self.seed ?? UInt64.random(in: 0..<(1 << 32))
        let outputURL = URL(fileURLWithPath: output ?? "latent-\(seed).png")
        let format = try OutputTarget.check(outputURL)
        guard (1...1000).contains(steps) else { throw PipelineError.invalidStepCount(steps) }
        var options = try EditingOptions.parse([])
        options.strength = strength
        options.maskBlur = maskBlur
        options.maskedContent = maskedContent
        try options.check(hasInitImage: true, isOutpaint: true)
        let source = try readImage(at: URL(fileURLWithPath: image), maxPixels: EditingInput.maxPixels).image
        let (canvas, mask, margins) = try ImageEditing.outpaintingCanvas(source, left: left, right: right, top: top, bottom: bottom)
        if margins != (left, right, top, bottom) {
            EditingInput.note(
                "margins grown to left \(margins.left), right \(margins.right), top \(margins.top), bottom \(margins.bottom) "
                    + "so the canvas (\(canvas.width)×\(canvas.height)) is a multiple of 8")
        }
        let generation = GenerationRequest(
            prompt: prompt, negativePrompt: negativePrompt, stepCount: steps, guidanceScale: cfgScale, seed: seed,
            width: canvas.width, height: canvas.height, scheduler: kind)
        try EditingInput.run(
            (canvas, mask), generation: generation, options: options, model: model, output: outputURL, format: format,
            printSeed: self.seed == nil, defaultBlur: 8, defaultContent: .fill,
            extraInfo: [("Outpaint", "left \(margins.left) right \(margins.right) top \(margins.top) bottom \(margins.bottom)")],
            precision: weights)
    }
}
