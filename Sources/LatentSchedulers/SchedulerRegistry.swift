/// The schedulers Latent implements, by the name the command line uses.
///
/// Each kind knows its diffusers class, its AUTOMATIC1111 label and how to build itself from a model's
/// scheduler configuration. Adding a scheduler means a new case, its metadata below and a branch in
/// `makeScheduler`.
public enum SchedulerKind: String, CaseIterable, Sendable {
    /// `DDIMScheduler`.
    case ddim
    /// `PNDMScheduler` (PLMS).
    case pndm
    /// `EulerDiscreteScheduler`.
    case euler
    /// `EulerAncestralDiscreteScheduler`.
    case eulerAncestral = "euler_a"
    /// `UniPCMultistepScheduler`.
    case unipc
    /// `DEISMultistepScheduler`.
    case deis
    /// `LCMScheduler` (for LCM-distilled models).
    case lcm
    /// `TCDScheduler` (for TCD-distilled models).
    case tcd
    /// `LMSDiscreteScheduler`.
    case lms
    /// `HeunDiscreteScheduler`.
    case heun
    /// `KDPM2DiscreteScheduler`.
    case dpm2
    /// `KDPM2AncestralDiscreteScheduler`.
    case dpm2Ancestral = "dpm2_a"
    /// `DDPMScheduler`.
    case ddpm

    /// The command-line name (`--scheduler euler_a`).
    public var cliName: String { rawValue }

    /// The label AUTOMATIC1111's web UI shows.
    public var a1111Label: String {
        switch self {
        case .ddim: "DDIM"
        case .pndm: "PLMS"
        case .euler: "Euler"
        case .eulerAncestral: "Euler a"
        case .unipc: "UniPC"
        case .deis: "DEIS"
        case .lcm: "LCM"
        case .tcd: "TCD"
        case .lms: "LMS"
        case .heun: "Heun"
        case .dpm2: "DPM2"
        case .dpm2Ancestral: "DPM2 a"
        case .ddpm: "DDPM"
        }
    }

    /// The diffusers class this kind reproduces.
    public var diffusersClassName: String {
        switch self {
        case .ddim: "DDIMScheduler"
        case .pndm: "PNDMScheduler"
        case .euler: "EulerDiscreteScheduler"
        case .eulerAncestral: "EulerAncestralDiscreteScheduler"
        case .unipc: "UniPCMultistepScheduler"
        case .deis: "DEISMultistepScheduler"
        case .lcm: "LCMScheduler"
        case .tcd: "TCDScheduler"
        case .lms: "LMSDiscreteScheduler"
        case .heun: "HeunDiscreteScheduler"
        case .dpm2: "KDPM2DiscreteScheduler"
        case .dpm2Ancestral: "KDPM2AncestralDiscreteScheduler"
        case .ddpm: "DDPMScheduler"
        }
    }

    /// One line for `latent schedulers`.
    public var summary: String {
        switch self {
        case .ddim: "DDIM: deterministic implicit sampler; good at 20-50 steps"
        case .pndm: "PNDM/PLMS: 4th-order linear multistep; Stable Diffusion 1.x's default"
        case .euler: "Euler: first-order ODE solver in sigma space; fast and predictable"
        case .eulerAncestral: "Euler ancestral: Euler plus fresh noise each step; varied, does not converge"
        case .unipc: "UniPC: 2nd-order multistep predictor-corrector; strong at 5-20 steps"
        case .deis: "DEIS: 2nd-order exponential-integrator multistep; strong at 10-20 steps"
        case .lcm: "LCM: latent consistency sampling in 2-8 steps; needs an LCM-distilled model (low CFG)"
        case .tcd: "TCD: trajectory consistency sampling in 2-8 steps; needs a TCD-distilled model (low CFG)"
        case .lms: "LMS: 4th-order linear multistep in sigma; sharp at 20+ steps, can be unstable below 10"
        case .heun: "Heun: 2nd-order ODE solver, two model calls per step; accurate but twice as slow"
        case .dpm2: "DPM2: 2nd-order DPM-Solver (midpoint), two model calls per step"
        case .dpm2Ancestral: "DPM2 ancestral: DPM2 plus fresh noise each step; varied, does not converge"
        case .ddpm: "DDPM: the original ancestral sampler; needs many steps (100+)"
        }
    }

    /// The sigma schedules this algorithm can run on (`use_karras_sigmas` / `use_exponential_sigmas` in its
    /// diffusers class); `latent schedulers` lists one name per entry.
    public var supportedSigmaSchedules: [SigmaScheduleVariant] {
        switch self {
        case .ddim, .pndm, .eulerAncestral, .lcm, .tcd, .ddpm: [.standard]
        case .euler, .unipc, .deis, .lms, .heun, .dpm2, .dpm2Ancestral: [.standard, .karras, .exponential]
        }
    }

    /// Whether the sampler only gives good images on a model distilled for it (LCM / TCD); the CLI warns when
    /// such a sampler runs on a model without that distillation.
    public var needsDistilledModel: Bool {
        switch self {
        case .lcm, .tcd: true
        default: false
        }
    }

    /// Other spellings accepted by `init(named:)` (k-diffusion and web-UI names).
    var aliases: [String] {
        switch self {
        case .ddim: []
        case .pndm: ["plms"]
        case .euler: ["k_euler"]
        case .eulerAncestral: ["k_euler_a", "k_euler_ancestral", "euler_ancestral"]
        case .unipc: ["uni_pc"]
        case .deis: []
        case .lcm: ["latent_consistency"]
        case .tcd: []
        case .lms: ["k_lms"]
        case .heun: ["k_heun"]
        case .dpm2: ["k_dpm_2", "kdpm2"]
        case .dpm2Ancestral: ["k_dpm_2_a", "k_dpm_2_ancestral", "kdpm2_a", "dpm2_ancestral"]
        case .ddpm: []
        }
    }

    /// Every accepted name, listed in error messages: the CLI name with its A1111 label.
    public static var validNames: [String] {
        allCases.map { "\($0.cliName) (\($0.a1111Label))" }
    }

    /// Looks a scheduler up by CLI name, A1111 label, diffusers class name or alias, ignoring case, spaces and
    /// punctuation (`"Euler a"`, `"euler_a"`, `"EulerAncestralDiscreteScheduler"` are the same).
    /// - Throws: `SchedulerError.unknownScheduler` listing every valid name.
    public init(named name: String) throws {
        let key = Self.normalized(name)
        for kind in Self.allCases {
            let names = [kind.cliName, kind.a1111Label, kind.diffusersClassName] + kind.aliases
            if names.contains(where: { Self.normalized($0) == key }) {
                self = kind
                return
            }
        }
        throw SchedulerError.unknownScheduler(name: name, validNames: Self.validNames)
    }

    /// The kind whose diffusers class is exactly `className`, if implemented.
    public init?(diffusersClassName className: String) {
        guard let kind = Self.allCases.first(where: { $0.diffusersClassName == className }) else { return nil }
        self = kind
    }

    /// Lower-cases, spells `+` as `p` (so "DPM++ 2M" meets "dpmpp_2m"), drops everything but letters and digits
    /// and a trailing "scheduler".
    static func normalized(_ name: String) -> String {
        var key = String(name.lowercased().replacingOccurrences(of: "+", with: "p").filter { $0.isLetter || $0.isNumber })
        if key.hasSuffix("scheduler") && key != "scheduler" { key.removeLast("scheduler".count) }
        return key
    }
}

/// The largest step count accepted, diffusers' usual training length.
public let maximumStepCount = 1000

/// Builds a scheduler for one generation, as a diffusers pipeline does after
/// `pipe.scheduler = Class.from_config(pipe.scheduler.config)` and `set_timesteps(stepCount)`.
/// - Parameters:
///   - kind: The scheduler to use; `nil` uses the model's own (`_class_name`).
///   - modelConfiguration: The model's `scheduler_config.json`. Its keys are kept; the chosen class's defaults fill
///     the rest.
///   - stepCount: Inference steps, 1 … 1000 (and at most `num_train_timesteps`).
///   - predictionOverride: Replaces the configuration's `prediction_type` (e.g. a v-prediction checkpoint shipped
///     with an epsilon config).
/// - Returns: A scheduler ready for `stepIndex` 0.
/// - Throws: `SchedulerError` for a bad step count, an unsupported model scheduler or invalid configuration values.
public func makeScheduler(
    _ kind: SchedulerKind?, modelConfiguration: SchedulerConfiguration, stepCount: Int,
    predictionOverride: PredictionType? = nil
) throws -> any Scheduler {
    guard stepCount >= 1, stepCount <= maximumStepCount else {
        throw SchedulerError.invalidStepCount(stepCount, maximum: maximumStepCount)
    }
    let resolvedKind: SchedulerKind
    if let kind {
        resolvedKind = kind
    } else if let className = modelConfiguration.className, let modelKind = SchedulerKind(diffusersClassName: className) {
        resolvedKind = modelKind
    } else {
        throw SchedulerError.unsupportedModelScheduler(className: modelConfiguration.className,
                                                       supported: SchedulerKind.validNames)
    }
    var configuration = modelConfiguration
    if let predictionOverride { configuration.predictionType = predictionOverride.rawValue }
    switch resolvedKind {
    case .ddim: return try DDIMScheduler(configuration: configuration, stepCount: stepCount)
    case .pndm: return try PNDMScheduler(configuration: configuration, stepCount: stepCount)
    case .euler: return try EulerDiscreteScheduler(configuration: configuration, stepCount: stepCount)
    case .eulerAncestral: return try EulerAncestralDiscreteScheduler(configuration: configuration, stepCount: stepCount)
    case .unipc: return try UniPCMultistepScheduler(configuration: configuration, stepCount: stepCount)
    case .deis: return try DEISMultistepScheduler(configuration: configuration, stepCount: stepCount)
    case .lcm: return try LCMScheduler(configuration: configuration, stepCount: stepCount)
    // StableDiffusionPipeline passes its eta (0.0 by default) to TCD's step as gamma.
    case .tcd: return try TCDScheduler(configuration: configuration, stepCount: stepCount, gamma: 0)
    case .lms: return try LMSDiscreteScheduler(configuration: configuration, stepCount: stepCount)
    case .heun: return try HeunDiscreteScheduler(configuration: configuration, stepCount: stepCount)
    case .dpm2: return try KDPM2DiscreteScheduler(configuration: configuration, stepCount: stepCount)
    case .dpm2Ancestral: return try KDPM2AncestralDiscreteScheduler(configuration: configuration, stepCount: stepCount)
    case .ddpm: return try DDPMScheduler(configuration: configuration, stepCount: stepCount)
    }
}
