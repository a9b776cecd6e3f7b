import LatentSchedulers

/// What one text-to-image generation asks for. Per-request options only: architecture comes from the model's
/// configs and load options from `PipelineConfiguration`.
public struct GenerationRequest: Sendable, Equatable {
    /// The text to depict.
    public var prompt: String
    /// What to steer away from (classifier-free guidance's unconditional text); empty means "".
    public var negativePrompt: String
    /// Denoising steps (1–1000).
    public var stepCount: Int
    /// Classifier-free guidance scale; ≤ 1 runs the conditional pass only, as diffusers does.
    public var guidanceScale: Float
    /// Seed of the torch-compatible random stream.
    public var seed: UInt64
    /// Image width in pixels (a multiple of 8); `nil` uses the model's default size.
    public var width: Int?
    /// Image height in pixels (a multiple of 8); `nil` uses the model's default size.
    public var height: Int?
    /// The sampler; `nil` uses the model's own scheduler.
    public var scheduler: SchedulerChoice?
    /// Overrides the model's prediction type (`epsilon` / `v_prediction`) for checkpoints that misreport it.
    public var predictionType: String?

    /// Creates a request with diffusers' defaults (20 steps, CFG 7.5).
    public init(
        prompt: String, negativePrompt: String = "", stepCount: Int = 20, guidanceScale: Float = 7.5, seed: UInt64 = 0,
        width: Int? = nil, height: Int? = nil, scheduler: SchedulerChoice? = nil, predictionType: String? = nil
    ) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.stepCount = stepCount
        self.guidanceScale = guidanceScale
        self.seed = seed
        self.width = width
        self.height = height
        self.scheduler = scheduler
        self.predictionType = predictionType
    }

    /// Whether the unconditional pass runs (diffusers: `guidance_scale > 1`).
    public var usesClassifierFreeGuidance: Bool { guidanceScale > 1 }
}
