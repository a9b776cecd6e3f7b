import Foundation
import LatentImageIO

/// A model the server can run, as `GET /sdapi/v1/sd-models` lists it.
public struct ModelDescriptor: Sendable, Equatable {
    /// The name clients use (file or folder name without extension).
    public var name: String
    /// Where it lives (inside `--models-dir`, or the `--model` path).
    public var url: URL

    /// Creates a descriptor.
    public init(name: String, url: URL) {
        self.name = name
        self.url = url
    }
}

/// One finished image.
public struct GeneratedImage: Sendable, Equatable {
    /// PNG bytes with the A1111 `parameters` text chunk.
    public var png: Data
    /// The seed this image used.
    public var seed: UInt64
    /// The A1111 infotext (also in the PNG's `parameters` chunk).
    public var infotext: String
    /// Pixel size.
    public var width: Int
    /// Pixel height.
    public var height: Int

    /// Creates an image record.
    public init(png: Data, seed: UInt64, infotext: String, width: Int, height: Int) {
        self.png = png
        self.seed = seed
        self.infotext = infotext
        self.width = width
        self.height = height
    }
}

/// Progress after one denoising step of a job (across all of its images).
public struct EngineStep: Sendable {
    /// Steps done so far, 1-based, over every image of the job.
    public var step: Int
    /// Steps the whole job takes.
    public var stepCount: Int
    /// Renders a small preview of the current latents on demand (it costs a little, so only when asked).
    public var preview: (@Sendable () -> RGBImage?)?

    /// Creates a progress report.
    public init(step: Int, stepCount: Int, preview: (@Sendable () -> RGBImage?)? = nil) {
        self.step = step
        self.stepCount = stepCount
        self.preview = preview
    }
}

/// Counters the engine keeps for `/metrics`.
public struct EngineStatistics: Sendable, Equatable {
    /// Models currently resident.
    public var loadedModels: Int
    /// Model loads since start.
    public var modelLoads: Int
    /// Models dropped by the LRU count or memory cap since start.
    public var modelEvictions: Int
    /// Estimated fp32 weight bytes of the resident models.
    public var residentModelBytes: Int

    /// Creates statistics.
    public init(loadedModels: Int, modelLoads: Int, modelEvictions: Int = 0, residentModelBytes: Int = 0) {
        self.loadedModels = loadedModels
        self.modelLoads = modelLoads
        self.modelEvictions = modelEvictions
        self.residentModelBytes = residentModelBytes
    }
}

/// What the HTTP layer needs from an image engine: the real one (`PipelineGenerator`) or a fake in tests.
/// The queue calls `generate` from one worker at a time, off the cooperative thread pool.
public protocol ImageGenerating: Sendable {
    /// Every model a request may name.
    func availableModels() -> [ModelDescriptor]
    /// The model used when a request names none (A1111 `sd_model_checkpoint`).
    func currentModel() -> String
    /// Switches the default model.
    /// - Throws: `ServerError.notFound` for a name not in `availableModels()`.
    func selectModel(_ name: String) throws
    /// Checks a request before it is queued (names, ranges) without running the model, and fills in the
    /// chosen model name.
    /// - Throws: `ServerError.badRequest` / `.notFound` naming the problem.
    func prepare(_ parameters: GenerationParameters) throws -> GenerationParameters
    /// Runs one job to completion (blocking).
    /// - Parameters:
    ///   - parameters: A prepared request with a resolved seed.
    ///   - onStep: Called after every step; return `false` to stop (the call then throws).
    /// - Returns: One image per `imageCount`.
    func generate(_ parameters: GenerationParameters, onStep: @escaping @Sendable (EngineStep) -> Bool) throws
        -> [GeneratedImage]
    /// Counters for `/metrics`.
    func statistics() -> EngineStatistics
}
