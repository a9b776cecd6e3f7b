import ArgumentParser
import Foundation
import LatentCore
import LatentImageIO
import LatentPipeline

/// `latent generate`: one prompt → one image file.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate an image from a text prompt.",
        discussion: """
            MODEL is a diffusers folder (with model_index.json) or a single-file .safetensors checkpoint \
            (original Stable Diffusion key names, SD 1.x or 2.x, or a 9-channel inpainting model).
            With --init-image: image-to-image (diffusers StableDiffusionImg2ImgPipeline); with --mask as well: \
            inpainting (StableDiffusionInpaintPipeline; white = repaint). An input whose size is not a multiple \
            of 8 is resized (Pillow's Lanczos) to its size rounded down to a multiple of 8 unless --width/--height \
            are given.
            """)

    @Option(name: .long, help: "A diffusers model folder or a single .safetensors checkpoint.")
    var model: String

    @Option(name: .long, help: "The text to depict.")
    var prompt: String

    @Option(name: .long, help: "What to steer away from.")
    var negativePrompt: String = ""

    @Option(name: .long, help: "Denoising steps (1–1000).")
    var steps: Int = 20

    @Option(name: .long, help: "Classifier-free guidance scale; 1 or less disables the unconditional pass.")
    var cfgScale: Float = 7.5

    @Option(name: .long, help: "Sampler name (see `latent schedulers`); default: the model's own scheduler.")
    var scheduler: String?

    @Option(name: .long, help: "Seed of the torch-compatible random stream; random when omitted (printed).")
    var seed: UInt64?

    @Option(name: .long, help: "Image width in pixels, a multiple of 8 (default: the model's size, 512 or 768).")
    var width: Int?

    @Option(name: .long, help: "Image height in pixels, a multiple of 8 (default: the model's size, 512 or 768).")
    var height: Int?

    @Option(name: .long, help: "Override the model's prediction type: epsilon or v_prediction.")
    var prediction: String?

    @Option(name: .shortAndLong, help: "Output image (.png, .jpg or .webp); default latent-SEED.png.")
    var output: String?

    @Option(name: .long, help: "Image to start from (image-to-image / inpainting).")
    var initImage: String?

    @Option(name: .long, help: "Arithmetic of the UNet and VAE: fp32 (default, equal to diffusers), bf16 or int8 (faster, approximate).")
    var weights: ArithmeticPrecision = .fp32

    @OptionGroup var editing: EditingOptions

    @Flag(name: .long, help: "Keep no weights in memory: read each layer's weights from the file just before use (slower, far less RAM).")
    var lowMemory = false

    func run() throws {
        do {
            try generate()
        } catch let error as CleanExit {
            throw error
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func generate() throws {
        // Everything checkable is checked before the model loads.
        let kind = try scheduler.map { try SchedulerChoice(named: $0) }
        let seed = self.seed ?? UInt64.random(in: 0..<(1 << 32))
        let outputURL = URL(fileURLWithPath: output ?? "latent-\(seed).png")
        let format = try OutputTarget.check(outputURL)
        var request = GenerationRequest(
            prompt: prompt, negativePrompt: negativePrompt, stepCount: steps, guidanceScale: cfgScale, seed: seed,
            width: width, height: height, scheduler: kind, predictionType: prediction)
        if let width, let height, width % 8 != 0 || height % 8 != 0 {
            throw PipelineError.invalidSize(width: width, height: height, reason: "width and height must be multiples of 8")
        }
        guard (1...1000).contains(steps) else { throw PipelineError.invalidStepCount(steps) }
        try editing.check(hasInitImage: initImage != nil, isOutpaint: false)
        if let initImage {
            let input = try EditingInput.load(image: initImage, mask: editing.mask, options: editing)
            try EditingInput.run(
                input, generation: request, options: editing, model: model, output: outputURL, format: format,
                printSeed: self.seed == nil, precision: weights)
            return
        }

        let pipeline = try StableDiffusionPipeline.load(
            from: URL(fileURLWithPath: model), precision: weights, releasingTextEncoder: true, lowMemory: lowMemory)
        request = try pipeline.validated(request)
        for warning in pipeline.configurationWarnings(for: request) {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        if self.seed == nil { FileHandle.standardError.write(Data("seed: \(seed)\n".utf8)) }
        let progress = ProgressBar()
        let result = try pipeline.generate(request) { step in
            progress.update(step.step, of: step.stepCount)
            return true
        }
        progress.finish()
        let info = InfoText(result: result, modelName: pipeline.modelName, modelHash: try? pipeline.modelHash())
        try writeImage(result.image, to: outputURL, format: format, text: ["parameters": info.text])
        print(outputURL.path)
    }
}
