import Foundation
import LatentCore
import LatentModels
import LatentSchedulers
import LatentTokenizer
import LatentWeights

extension StableDiffusionPipeline {
    /// Loads a Stable Diffusion 1.x/2.x model from a diffusers folder or a single-file checkpoint.
    ///
    /// Every weight is checked by name and shape; tensors no component asks for are an error (except the
    /// buffers and EMA copies single files carry, which the key mapping drops).
    /// - Parameters:
    ///   - url: A folder with `model_index.json`, or a `.safetensors` file with LDM key names.
    ///   - precision: Arithmetic of the UNet's and VAE's convolutions and linear layers; `fp32` (the default)
    ///     matches diffusers, `bf16`/`int8` are faster approximations (the text encoder always runs fp32).
    ///   - releasingTextEncoder: Drop the text encoder from memory after each prompt encoding and load it
    ///     again (from the memory-mapped file) on next use: lower peak memory for one-off generations (CLI),
    ///     at the price of a reload per new prompt (so a server keeps it loaded).
    ///   - lowMemory: Keep no layer weights in memory: every convolution, linear and embedding reads its
    ///     weights from the memory-mapped file just before use and drops the pages after; the VAE always
    ///     decodes in tiles. Slower (weights are widened and reordered on every call), far lower peak RSS.
    /// - Throws: `PipelineError.modelNotFound`, `WeightsError` (naming file and tensor), `TokenizerError`,
    ///   `ModelConfigurationError`, `SchedulerError`.
    public static func load(
        from url: URL, precision: ArithmeticPrecision = .fp32, releasingTextEncoder: Bool = false, lowMemory: Bool = false
    ) throws -> StableDiffusionPipeline {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw PipelineError.modelNotFound(path: url.path)
        }
        // Weights loaded now live for the whole run: give each of them its own mapping so the freed fp32
        // staging copies of the load do not leave holes between them in the heap; afterwards the usual
        // (higher) threshold lets activations recycle heap memory without page faults.
        ProcessMemory.setMappedAllocationThreshold(256 << 10)
        defer {
            // Low-memory mode keeps mapping every allocation above 1 MiB (freed memory leaves at once, at
            // the price of page faults on reuse); the normal mode recycles up to 32 MiB in the heap.
            ProcessMemory.setMappedAllocationThreshold(lowMemory ? 1 << 20 : 32 << 20)
            ProcessMemory.releaseFreedMemory()
        }
        return isDirectory.boolValue
            ? try loadDirectory(url, precision: precision, releasingTextEncoder: releasingTextEncoder, lowMemory: lowMemory)
            : try loadSingleFile(url, precision: precision, releasingTextEncoder: releasingTextEncoder, lowMemory: lowMemory)
    }

    private static func loadDirectory(
        _ url: URL, precision: ArithmeticPrecision, releasingTextEncoder: Bool, lowMemory: Bool
    ) throws -> StableDiffusionPipeline {
        let directory = try ModelDirectory(url: url)
        let tokenizer = try CLIPTokenizer(directory: directory.tokenizerDirectory)
        return try assemble(
            url: url, tokenizer: tokenizer,
            unet: (try directory.configData("unet"), try directory.weights("unet")),
            vae: (try directory.configData("vae"), try directory.weights("vae")),
            textEncoder: (try directory.configData("text_encoder"), try directory.weights("text_encoder")),
            scheduler: try directory.configData("scheduler"), precision: precision, releasingTextEncoder: releasingTextEncoder,
            lowMemory: lowMemory)
    }

    private static func loadSingleFile(
        _ url: URL, precision: ArithmeticPrecision, releasingTextEncoder: Bool, lowMemory: Bool
    ) throws -> StableDiffusionPipeline {
        // 9-channel inpainting files load like any other; `generate` refuses them, `inpaint` uses them.
        let checkpoint = try SingleFileCheckpoint(contentsOf: url)
        return try assemble(
            url: url, tokenizer: try CLIPTokenizer.bundled(padToken: checkpoint.tokenizerPadToken),
            unet: (checkpoint.unetConfig, checkpoint.unet), vae: (checkpoint.vaeConfig, checkpoint.vae),
            textEncoder: (checkpoint.textEncoderConfig, checkpoint.textEncoder), scheduler: checkpoint.schedulerConfig,
            precision: precision, releasingTextEncoder: releasingTextEncoder, lowMemory: lowMemory)
    }

    private static func assemble(
        url: URL, tokenizer: CLIPTokenizer, unet: (Data, any TensorSource), vae: (Data, any TensorSource),
        textEncoder: (Data, any TensorSource), scheduler: Data, precision: ArithmeticPrecision, releasingTextEncoder: Bool,
        lowMemory: Bool
    ) throws -> StableDiffusionPipeline {
        let decoder = JSONDecoder()
        // diffusers saves configs with Python's json.dumps, which writes -Infinity (DPM-Solver's lambda_min_clipped).
        decoder.allowsJSON5 = true
        func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ component: String) throws -> T {
            do {
                return try decoder.decode(type, from: data)
            } catch {
                throw WeightsError.invalidConfiguration(path: "\(url.path) (\(component))", reason: "\(error)")
            }
        }
        let unetStore = WeightStore(unet.1, streamingWeights: lowMemory, precision: precision)
        let unetModel = try UNet2DConditionModel(
            configuration: decode(UNet2DConditionConfiguration.self, unet.0, "unet"), weights: unetStore.root)
        try unetStore.verifyAllUsed()
        ProcessMemory.trace("loaded unet")
        // The VAE always streams its weights: its convolutions run on large planes, where reading and
        // reordering the weights per call costs < 1 % of the decode, and holding them would add 0.17 GB
        // (fp16) to the denoising loop's peak, which never uses them (docs/performance.md, wave 4).
        let vaeStore = WeightStore(vae.1, streamingWeights: true, precision: precision)
        let vaeModel = try AutoencoderKL(configuration: decode(AutoencoderKLConfiguration.self, vae.0, "vae"), weights: vaeStore.root)
        try vaeStore.verifyAllUsed()
        ProcessMemory.trace("loaded vae")
        let textConfiguration = try decode(CLIPTextConfiguration.self, textEncoder.0, "text_encoder")
        let textSource = textEncoder.1
        // Reloading reads the memory-mapped file again; the mapping stays, its pages are not resident.
        @Sendable func loadTextEncoder() throws -> CLIPTextModel {
            let store = WeightStore(textSource, streamingWeights: lowMemory)
            let model = try CLIPTextModel(configuration: textConfiguration, weights: store.root)
            try store.verifyAllUsed()
            return model
        }
        let textModel = try loadTextEncoder()
        ProcessMemory.trace("loaded text encoder")
        let schedulerConfiguration = try decode(SchedulerConfiguration.self, scheduler, "scheduler")
        return StableDiffusionPipeline(
            modelURL: url, tokenizer: tokenizer, textEncoder: textModel, unet: unetModel, vae: vaeModel,
            schedulerConfiguration: schedulerConfiguration, reloadTextEncoder: releasingTextEncoder ? loadTextEncoder : nil,
            lowMemory: lowMemory)
    }

    /// The checkpoint's display name: the file name without extension, or the folder name.
    public var modelName: String { modelURL.deletingPathExtension().lastPathComponent }

    /// A1111's short model hash (AutoV2: the first 10 hex digits of the file's SHA-256); for a diffusers
    /// folder, of the UNet's weights file.
    public func modelHash() throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelURL.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return try ModelHash.autoV2(of: modelURL)
        }
        let unet = modelURL.appendingPathComponent("unet")
        for name in ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"] {
            let file = unet.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: file.path) { return try ModelHash.autoV2(of: file) }
        }
        throw PipelineError.unsupportedModel(path: modelURL.path, reason: "no single UNet weights file to hash")
    }
}
