import Foundation
import LatentCore
import LatentImageIO
import LatentPipeline
import LatentWeights

/// The real engine: Latent's `StableDiffusionPipeline`, with the models of `--models-dir` loaded on demand and
/// at most `maxLoadedModels` kept resident, and optionally at most `maxModelBytes` of estimated weights (least
/// recently used goes first).
public final class PipelineGenerator: ImageGenerating, @unchecked Sendable {
    private let defaultModelURL: URL
    private let modelsDirectory: URL?
    private let maxLoadedModels: Int
    private let maxModelBytes: Int?
    private let precision: ArithmeticPrecision
    // Guards every var below; a generation holds its pipeline by reference, so eviction never frees it early.
    private let lock = NSLock()
    private var current: String
    private var loaded: [(name: String, pipeline: StableDiffusionPipeline, bytes: Int)] = []
    private var loads = 0
    private var evictions = 0

    /// Creates the engine and loads the default model (so readiness means "can generate").
    /// - Parameters:
    ///   - model: The `--model` path (a diffusers folder or a .safetensors file).
    ///   - modelsDirectory: `--models-dir`: further models, addressable by name only.
    ///   - maxLoadedModels: How many pipelines may stay resident.
    ///   - maxModelBytes: Most estimated weight bytes resident (`nil` = no cap); the model in use always stays,
    ///     even when it alone exceeds the cap.
    ///   - precision: Arithmetic of every model's UNet and VAE (`--weights`).
    /// - Throws: `PipelineError` when the default model cannot be loaded.
    public init(
        model: URL, modelsDirectory: URL?, maxLoadedModels: Int = 1, maxModelBytes: Int? = nil,
        precision: ArithmeticPrecision = .fp32
    ) throws {
        self.precision = precision
        defaultModelURL = model.standardizedFileURL
        self.modelsDirectory = modelsDirectory?.standardizedFileURL
        self.maxLoadedModels = max(1, maxLoadedModels)
        self.maxModelBytes = maxModelBytes
        current = model.deletingPathExtension().lastPathComponent
        _ = try pipeline(named: current)
    }

    public func availableModels() -> [ModelDescriptor] {
        var models = [ModelDescriptor(name: defaultModelURL.deletingPathExtension().lastPathComponent, url: defaultModelURL)]
        guard let modelsDirectory,
            let entries = try? FileManager.default.contentsOfDirectory(
                at: modelsDirectory, includingPropertiesForKeys: [.isDirectoryKey], options: [.skipsHiddenFiles])
        else { return models }
        for entry in entries.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) {
            // A symlinked model folder counts as a folder (models are often linked in from elsewhere).
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: entry.resolvingSymlinksInPath().path, isDirectory: &isDirectory)
            let usable = isDirectory.boolValue
                ? FileManager.default.fileExists(atPath: entry.appendingPathComponent("model_index.json").path)
                : entry.pathExtension.lowercased() == "safetensors"
            let name = entry.deletingPathExtension().lastPathComponent
            if usable, !models.contains(where: { $0.name == name }) {
                models.append(ModelDescriptor(name: name, url: entry.standardizedFileURL))
            }
        }
        return models
    }

    public func currentModel() -> String { lock.withLock { current } }

    public func selectModel(_ name: String) throws {
        let model = try resolve(name)
        _ = try pipeline(named: model.name)
        lock.withLock { current = model.name }
    }

    public func prepare(_ parameters: GenerationParameters) throws -> GenerationParameters {
        var prepared = parameters
        prepared.model = try resolve(parameters.model ?? currentModel()).name
        if let sampler = parameters.sampler {
            do {
                _ = try SchedulerChoice(named: sampler, scheduleType: parameters.scheduleType)
            } catch {
                throw ServerError.badRequest("\(error)")
            }
        }
        let probe = GenerationRequest(
            prompt: parameters.prompt, stepCount: parameters.steps, guidanceScale: parameters.cfgScale,
            width: parameters.width ?? 64, height: parameters.height ?? 64)
        do {
            // Range checks only; the size default needs the model and is resolved when the job runs.
            _ = try StableDiffusionPipeline.checkRanges(probe)
        } catch {
            throw ServerError.badRequest("\(error)")
        }
        return prepared
    }

    public func generate(_ parameters: GenerationParameters, onStep: @escaping @Sendable (EngineStep) -> Bool) throws
        -> [GeneratedImage]
    {
        let name = parameters.model ?? currentModel()
        let pipeline = try pipeline(named: name)
        let scheduler = try parameters.sampler.map { try SchedulerChoice(named: $0, scheduleType: parameters.scheduleType) }
        let hash = try? pipeline.modelHash()
        let count = max(parameters.imageCount, 1)
        var images: [GeneratedImage] = []
        for index in 0..<count {
            let seed = parameters.resolvedSeed &+ UInt64(index)
            let generation = GenerationRequest(
                prompt: parameters.prompt, negativePrompt: parameters.negativePrompt, stepCount: parameters.steps,
                guidanceScale: parameters.cfgScale, seed: seed, width: parameters.width, height: parameters.height,
                scheduler: scheduler)
            let report = { @Sendable (progress: StepProgress) -> Bool in
                let latents = progress.latents
                return onStep(EngineStep(
                    step: index * progress.stepCount + progress.step, stepCount: count * progress.stepCount,
                    preview: { LatentPreview.image(from: latents) }))
            }
            let result: GenerationResult
            let info: InfoText
            if let editing = parameters.editing {
                let request = try editing.editingRequest(generation)
                do {
                    result = try pipeline.edit(request, onStep: report)
                } catch let error as ImageEditingError {
                    throw EngineInputError(message: error.description)
                }
                info = InfoText(result: result, modelName: pipeline.modelName, modelHash: hash, editing: request)
            } else {
                result = try pipeline.generate(try pipeline.validated(generation), onStep: report)
                info = InfoText(result: result, modelName: pipeline.modelName, modelHash: hash)
            }
            let png = try encodeImage(result.image, format: .png, text: ["parameters": info.text])
            images.append(GeneratedImage(
                png: png, seed: seed, infotext: info.text, width: result.image.width, height: result.image.height))
        }
        return images
    }

    public func statistics() -> EngineStatistics {
        lock.withLock {
            EngineStatistics(
                loadedModels: loaded.count, modelLoads: loads, modelEvictions: evictions,
                residentModelBytes: loaded.reduce(0) { $0 + $1.bytes })
        }
    }

    /// Finds a model by name among `availableModels()`; names never reach the file system as paths.
    private func resolve(_ name: String) throws -> ModelDescriptor {
        let models = availableModels()
        // A1111 clients send "name [hash]" or "name.safetensors"; match on the bare name.
        let bare = name.split(separator: " [").first.map(String.init) ?? name
        let stem = URL(fileURLWithPath: bare).deletingPathExtension().lastPathComponent
        guard !bare.contains("/"), !bare.contains(".."), let model = models.first(where: { $0.name == stem }) else {
            throw ServerError.notFound(
                "unknown model '\(name)' (available: \(models.map(\.name).joined(separator: ", ")))")
        }
        return model
    }

    /// The resident pipeline for `name`, loading it (and evicting the least recently used) when needed.
    func pipeline(named name: String) throws -> StableDiffusionPipeline {
        let model = try resolve(name)
        if let hit = lock.withLock({ () -> StableDiffusionPipeline? in
            guard let index = loaded.firstIndex(where: { $0.name == model.name }) else { return nil }
            let entry = loaded.remove(at: index)
            loaded.append(entry)
            return entry.pipeline
        }) {
            return hit
        }
        let bytes = Self.estimatedWeightBytes(of: model.url)
        // Evict before loading, so the old and new weights are not resident together longer than needed
        // (a pipeline still running a job stays alive through that job's reference).
        var dropped = lock.withLock { () -> [StableDiffusionPipeline] in
            loaded.removeAll { $0.name == model.name }
            return evict(keeping: maxLoadedModels - 1, incoming: bytes)
        }
        Self.release(&dropped)
        let pipeline = try StableDiffusionPipeline.load(from: model.url, precision: precision)
        dropped = lock.withLock { () -> [StableDiffusionPipeline] in
            loaded.removeAll { $0.name == model.name }
            loaded.append((model.name, pipeline, bytes))
            loads += 1
            return evict(keeping: maxLoadedModels, incoming: 0)
        }
        Self.release(&dropped)
        return pipeline
    }

    /// Frees evicted pipelines outside the lock and hands the freed heap back to the OS: glibc keeps freed
    /// weight-sized blocks in its arenas (its mmap threshold rises after the first large free), which would
    /// otherwise show as RSS creeping up with every model switch.
    private static func release(_ pipelines: inout [StableDiffusionPipeline]) {
        guard !pipelines.isEmpty else { return }
        pipelines.removeAll()
        #if os(Linux)
        _ = glibcMallocTrim(0)
        #endif
    }

    /// Drops least recently used pipelines until at most `count` stay and, with a memory cap, the resident
    /// estimate plus `incoming` fits (the most recent one always stays). Call with `lock` held.
    /// - Returns: The evicted pipelines (freed by the caller, outside the lock).
    private func evict(keeping count: Int, incoming: Int) -> [StableDiffusionPipeline] {
        var evicted: [StableDiffusionPipeline] = []
        while loaded.count > max(count, 0) {
            evicted.append(loaded.removeFirst().pipeline)
        }
        if let maxModelBytes {
            while loaded.count > (incoming > 0 ? 0 : 1), loaded.reduce(incoming, { $0 + $1.bytes }) > maxModelBytes {
                evicted.append(loaded.removeFirst().pipeline)
            }
        }
        evictions += evicted.count
        return evicted
    }

    /// The fp32 bytes a model's weights take once loaded (Latent widens fp16/bf16 to fp32): 4 bytes per element
    /// of every tensor in its safetensors files, read from the headers only. A folder's fp16/bf16 variant files
    /// are skipped when the plain file is there too (the loader reads one of them).
    static func estimatedWeightBytes(of url: URL) -> Int {
        // Components may be symlinked folders (shared text encoder / VAE), so links are followed, two levels deep.
        func safetensors(in folder: URL, depth: Int) -> [URL] {
            let entries = (try? FileManager.default.contentsOfDirectory(
                at: folder, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles])) ?? []
            return entries.flatMap { entry -> [URL] in
                let target = entry.resolvingSymlinksInPath()
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: target.path, isDirectory: &isDirectory) else { return [] }
                if isDirectory.boolValue { return depth > 0 ? safetensors(in: target, depth: depth - 1) : [] }
                return target.pathExtension == "safetensors" ? [target] : []
            }
        }
        var isDirectory: ObjCBool = false
        let target = url.resolvingSymlinksInPath()
        var files = [target]
        if FileManager.default.fileExists(atPath: target.path, isDirectory: &isDirectory), isDirectory.boolValue {
            files = safetensors(in: target, depth: 2)
            func key(_ file: URL) -> String { file.deletingLastPathComponent().path + "/" + Self.baseName(file) }
            let plain = Set(files.filter { !Self.isVariant($0) }.map(key))
            files = files.filter { !Self.isVariant($0) || !plain.contains(key($0)) }
        }
        return files.reduce(0) { total, file in
            guard let weights = try? SafeTensorsFile(contentsOf: file) else { return total }
            return total + weights.entries.values.reduce(0) { $0 + $1.elementCount * 4 }
        }
    }

    private static func isVariant(_ file: URL) -> Bool {
        let stem = file.deletingPathExtension().lastPathComponent
        return stem.hasSuffix(".fp16") || stem.hasSuffix(".bf16")
    }

    private static func baseName(_ file: URL) -> String {
        var stem = file.deletingPathExtension().lastPathComponent
        for suffix in [".fp16", ".bf16"] where stem.hasSuffix(suffix) { stem.removeLast(suffix.count) }
        return stem
    }
}

/// A job's input the engine refused (e.g. an image-to-image request on a 9-channel inpainting model); the
/// server answers it as a 400 rather than a server failure.
struct EngineInputError: Error, CustomStringConvertible {
    let message: String
    var description: String { "invalid input: \(message)" }
}

extension StableDiffusionPipeline {
    /// The model-independent checks of `validated(_:)`: step count, CFG and size multiples.
    static func checkRanges(_ request: GenerationRequest) throws -> GenerationRequest {
        guard (1...1000).contains(request.stepCount) else { throw PipelineError.invalidStepCount(request.stepCount) }
        guard request.guidanceScale.isFinite, (0...100).contains(request.guidanceScale) else {
            throw PipelineError.invalidGuidanceScale(request.guidanceScale)
        }
        let width = request.width ?? 8, height = request.height ?? 8
        guard width > 0, height > 0, width % 8 == 0, height % 8 == 0 else {
            throw PipelineError.invalidSize(width: width, height: height, reason: "width and height must be positive multiples of 8")
        }
        return request
    }
}

#if os(Linux)
/// glibc's `malloc_trim` (declared in `<malloc.h>`, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
