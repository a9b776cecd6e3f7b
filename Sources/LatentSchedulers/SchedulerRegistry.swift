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
    /// `DPMSolverMultistepScheduler` with `algorithm_type="dpmsolver++"`, `solver_order=2`.
    case dpmpp2m = "dpmpp_2m"
    /// `DPMSolverMultistepScheduler` with `algorithm_type="sde-dpmsolver++"`, `solver_order=2`.
    case dpmpp2mSDE = "dpmpp_2m_sde"
    /// k-diffusion's `sample_dpmpp_2s_ancestral` on Euler's sigmas (no diffusers class).
    case dpmpp2sAncestral = "dpmpp_2s_a"

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
        case .dpmpp2m: "DPM++ 2M"
        case .dpmpp2mSDE: "DPM++ 2M SDE"
        case .dpmpp2sAncestral: "DPM++ 2S a"
        }
    }

    /// The diffusers class this kind reproduces. `dpmpp_2m` and `dpmpp_2m_sde` share one class (told apart by
    /// `algorithm_type`); `dpmpp_2s_a` has no diffusers class and names the k-diffusion function it reproduces
    /// on `EulerDiscreteScheduler`'s sigmas.
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
        case .dpmpp2m, .dpmpp2mSDE: "DPMSolverMultistepScheduler"
        case .dpmpp2sAncestral: "k-diffusion sample_dpmpp_2s_ancestral"
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
        case .dpmpp2m: "DPM++ 2M: second-order multistep DPM-Solver++; sharp results in 15-30 steps"
        case .dpmpp2mSDE: "DPM++ 2M SDE: stochastic DPM-Solver++ multistep; fresh noise each step, detailed"
        case .dpmpp2sAncestral: "DPM++ 2S a: second-order singlestep DPM-Solver++ plus ancestral noise; 2 model calls per step"
        }
    }

    /// The sigma schedules this algorithm can run on (`use_karras_sigmas` / `use_exponential_sigmas` in its
    /// diffusers class); `latent schedulers` lists one name per entry.
    public var supportedSigmaSchedules: [SigmaScheduleVariant] {
        switch self {
        case .ddim, .pndm, .eulerAncestral, .lcm, .tcd, .ddpm: [.standard]
        // DPMSolverMultistepScheduler and EulerDiscreteScheduler (whose sigmas 2S a runs on) offer both.
        case .euler, .unipc, .deis, .lms, .heun, .dpm2, .dpm2Ancestral, .dpmpp2m, .dpmpp2mSDE, .dpmpp2sAncestral:
            [.standard, .karras, .exponential]
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
        case .dpmpp2m: ["k_dpmpp_2m", "dpmsolver++", "dpm_solver_multistep"]
        case .dpmpp2mSDE: ["k_dpmpp_2m_sde", "sde-dpmsolver++"]
        case .dpmpp2sAncestral: ["k_dpmpp_2s_a", "k_dpmpp_2s_ancestral", "dpmpp_2s_ancestral", "sample_dpmpp_2s_ancestral"]
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

    /// The kind whose diffusers class is exactly `className`, if implemented (`dpmpp_2m` for
    /// `DPMSolverMultistepScheduler`; `init(modelConfiguration:)` also reads `algorithm_type`).
    public init?(diffusersClassName className: String) {
        guard let kind = Self.allCases.first(where: { $0.diffusersClassName == className }) else { return nil }
        self = kind
    }

    /// The kind a model's own scheduler configuration describes: its `_class_name`, and for
    /// `DPMSolverMultistepScheduler` its `algorithm_type` (`sde-dpmsolver++` → `dpmpp_2m_sde`).
    public init?(modelConfiguration configuration: SchedulerConfiguration) {
        guard let className = configuration.className, let kind = Self(diffusersClassName: className) else { return nil }
        self = kind == .dpmpp2m && configuration.algorithmType == "sde-dpmsolver++" ? .dpmpp2mSDE : kind
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
    } else if let modelKind = SchedulerKind(modelConfiguration: modelConfiguration) {
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
    case .dpmpp2m, .dpmpp2mSDE:
        // As `DPMSolverMultistepScheduler.from_config(config, algorithm_type=…, solver_order=2)`.
        configuration.algorithmType = resolvedKind == .dpmpp2m ? "dpmsolver++" : "sde-dpmsolver++"
        configuration.solverOrder = 2
        return try DPMSolverMultistepScheduler(configuration: configuration, stepCount: stepCount)
    case .dpmpp2sAncestral: return try DPMSolver2SAncestralScheduler(configuration: configuration, stepCount: stepCount)
    }
}
