import Foundation

/// One image job as the server stores and runs it: the union of what the three API dialects can ask for,
/// already mapped to Latent's names. Persisted as JSON in the job store, so fields only ever get added.
public struct GenerationParameters: Codable, Sendable, Equatable {
    /// The text to depict.
    public var prompt: String
    /// What to steer away from.
    public var negativePrompt: String
    /// Denoising steps.
    public var steps: Int
    /// Classifier-free guidance scale.
    public var cfgScale: Float
    /// The seed; `nil` or negative picks a random one when the job is accepted (A1111's `-1`).
    public var seed: Int64?
    /// `nil` uses the model's default size.
    public var width: Int?
    /// `nil` uses the model's default size.
    public var height: Int?
    /// A sampler name in any spelling `SchedulerChoice(named:)` accepts; `nil` uses the model's own.
    public var sampler: String?
    /// A1111 ≥ 1.6's separate schedule type ("Karras", "Automatic").
    public var scheduleType: String?
    /// A model name from `GET /sdapi/v1/sd-models`; `nil` uses the server's current model.
    public var model: String?
    /// How many images (A1111 `batch_size × n_iter`, OpenAI `n`); image `i` uses seed `seed + i`.
    public var imageCount: Int
    /// Image-to-image or inpainting input and settings; `nil` for text-to-image.
    public var editing: EditingParameters?

    enum CodingKeys: String, CodingKey {
        case prompt, steps, seed, width, height, sampler, model
        case negativePrompt = "negative_prompt"
        case cfgScale = "cfg_scale"
        case scheduleType = "schedule_type"
        case imageCount = "image_count"
        case editing
    }

    /// Creates parameters with diffusers' defaults.
    public init(
        prompt: String, negativePrompt: String = "", steps: Int = 20, cfgScale: Float = 7.5, seed: Int64? = nil,
        width: Int? = nil, height: Int? = nil, sampler: String? = nil, scheduleType: String? = nil,
        model: String? = nil, imageCount: Int = 1, editing: EditingParameters? = nil
    ) {
        self.editing = editing
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.cfgScale = cfgScale
        self.seed = seed
        self.width = width
        self.height = height
        self.sampler = sampler
        self.scheduleType = scheduleType
        self.model = model
        self.imageCount = imageCount
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt) ?? ""
        negativePrompt = try c.decodeIfPresent(String.self, forKey: .negativePrompt) ?? ""
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? 20
        cfgScale = try c.decodeIfPresent(Float.self, forKey: .cfgScale) ?? 7.5
        seed = try c.decodeIfPresent(Int64.self, forKey: .seed)
        width = try c.decodeIfPresent(Int.self, forKey: .width)
        height = try c.decodeIfPresent(Int.self, forKey: .height)
        sampler = try c.decodeIfPresent(String.self, forKey: .sampler)
        scheduleType = try c.decodeIfPresent(String.self, forKey: .scheduleType)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        imageCount = try c.decodeIfPresent(Int.self, forKey: .imageCount) ?? 1
        editing = try c.decodeIfPresent(EditingParameters.self, forKey: .editing)
    }

    /// The seed as the engine takes it (callers resolve random seeds first).
    var resolvedSeed: UInt64 { UInt64(max(seed ?? 0, 0)) }
}
