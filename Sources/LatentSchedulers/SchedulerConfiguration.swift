import Foundation

/// A mirror of diffusers' `scheduler_config.json`, keeping every absent key as `nil`.
///
/// Absent keys matter: diffusers builds a scheduler with `SchedulerClass.from_config(model_config)`, which keeps
/// the model's keys that the class accepts and fills the rest with *that class's* defaults (DDIM clips samples by
/// default, PNDM does not; Euler spaces timesteps `linspace` by default, DDIM `leading`). Each scheduler resolves
/// its own defaults from this struct. Keys listed in `_use_default_values` were defaults filled in by an older
/// save, so they are treated as absent, as diffusers does.
///
/// Values are kept as strings here so that an unknown value is reported by the scheduler, naming the key.
public struct SchedulerConfiguration: Codable, Sendable, Equatable {
    /// `_class_name`: the diffusers scheduler class the model ships with.
    public var className: String?
    /// `num_train_timesteps`: length of the training noise schedule.
    public var numTrainTimesteps: Int?
    /// `beta_start`: first beta of the linear / scaled-linear schedules.
    public var betaStart: Double?
    /// `beta_end`: last beta of the linear / scaled-linear schedules.
    public var betaEnd: Double?
    /// `beta_schedule`: `linear`, `scaled_linear` or `squaredcos_cap_v2`.
    public var betaSchedule: String?
    /// `trained_betas`: explicit betas that replace the schedule.
    public var trainedBetas: [Double]?
    /// `prediction_type`: `epsilon`, `v_prediction` or `sample`.
    public var predictionType: String?
    /// `timestep_spacing`: `leading`, `linspace` or `trailing`.
    public var timestepSpacing: String?
    /// `steps_offset`: added to `leading` timesteps.
    public var stepsOffset: Int?
    /// `set_alpha_to_one`: whether the step past the last uses ᾱ = 1 (else ᾱ₀).
    public var setAlphaToOne: Bool?
    /// `clip_sample`: clamp the predicted clean sample (DDIM).
    public var clipSample: Bool?
    /// `clip_sample_range`: bound for `clip_sample`.
    public var clipSampleRange: Double?
    /// `skip_prk_steps`: PNDM skips its Runge–Kutta warm-up (PLMS only).
    public var skipPrkSteps: Bool?
    /// `rescale_betas_zero_snr`: rescale betas to zero terminal SNR.
    public var rescaleBetasZeroSnr: Bool?
    /// `interpolation_type`: sigma interpolation, `linear` or `log_linear`.
    public var interpolationType: String?
    /// `use_karras_sigmas`: Karras et al. sigma spacing.
    public var useKarrasSigmas: Bool?
    /// `use_exponential_sigmas`: log-uniform sigma spacing.
    public var useExponentialSigmas: Bool?
    /// `use_beta_sigmas`: beta-distribution sigma spacing (not implemented).
    public var useBetaSigmas: Bool?
    /// `sigma_min`: lower bound for Karras / exponential sigmas.
    public var sigmaMin: Double?
    /// `sigma_max`: upper bound for Karras / exponential sigmas.
    public var sigmaMax: Double?
    /// `final_sigmas_type`: `zero` or `sigma_min`.
    public var finalSigmasType: String?
    /// `timestep_type`: `discrete` or `continuous`.
    public var timestepType: String?
    /// `variance_type`: DDPM's step noise variance (`fixed_small`, `fixed_small_log`, `fixed_large`, …).
    public var varianceType: String?
    /// `thresholding`: dynamic thresholding (not implemented).
    public var thresholding: Bool?
    /// `solver_order`: order of a multistep solver (DPM-Solver: 1, 2 or 3).
    public var solverOrder: Int?
    /// `algorithm_type`: DPM-Solver variant (`dpmsolver++`, `sde-dpmsolver++`, …).
    public var algorithmType: String?
    /// `solver_type`: second-order update rule (`midpoint` or `heun`).
    public var solverType: String?
    /// `lower_order_final`: drop to lower orders in the last steps of short runs.
    public var lowerOrderFinal: Bool?
    /// `euler_at_final`: first-order (Euler) last step.
    public var eulerAtFinal: Bool?
    /// `lambda_min_clipped`: log-SNR below which timesteps are not scheduled.
    public var lambdaMinClipped: Double?
    /// `use_lu_lambdas`: sigmas evenly spaced in log-SNR (Lu et al.).
    public var useLuLambdas: Bool?
    /// `use_flow_sigmas`: flow-matching sigmas (not implemented).
    public var useFlowSigmas: Bool?
    /// `_use_default_values`: keys an older save filled with defaults.
    public var useDefaultValues: [String]?

    // Keys of the multistep solvers and consistency-model schedulers (UniPC, DEIS, LCM, TCD).
    /// `predict_x0`: UniPC updates on the predicted clean sample (else on the noise).
    public var predictX0: Bool?
    /// `disable_corrector`: UniPC step indices whose corrector is skipped.
    public var disableCorrector: [Int]?
    /// `original_inference_steps`: the distillation schedule length of LCM / TCD.
    public var originalInferenceSteps: Int?
    /// `timestep_scaling`: LCM's boundary-condition timestep scale.
    public var timestepScaling: Double?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case className = "_class_name"
        case numTrainTimesteps = "num_train_timesteps"
        case betaStart = "beta_start"
        case betaEnd = "beta_end"
        case betaSchedule = "beta_schedule"
        case trainedBetas = "trained_betas"
        case predictionType = "prediction_type"
        case timestepSpacing = "timestep_spacing"
        case stepsOffset = "steps_offset"
        case setAlphaToOne = "set_alpha_to_one"
        case clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range"
        case skipPrkSteps = "skip_prk_steps"
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        case interpolationType = "interpolation_type"
        case useKarrasSigmas = "use_karras_sigmas"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case sigmaMin = "sigma_min"
        case sigmaMax = "sigma_max"
        case finalSigmasType = "final_sigmas_type"
        case timestepType = "timestep_type"
        case varianceType = "variance_type"
        case thresholding
        case solverOrder = "solver_order"
        case algorithmType = "algorithm_type"
        case solverType = "solver_type"
        case lowerOrderFinal = "lower_order_final"
        case eulerAtFinal = "euler_at_final"
        case lambdaMinClipped = "lambda_min_clipped"
        case useLuLambdas = "use_lu_lambdas"
        case useFlowSigmas = "use_flow_sigmas"
        case useDefaultValues = "_use_default_values"
        case predictX0 = "predict_x0"
        case disableCorrector = "disable_corrector"
        case originalInferenceSteps = "original_inference_steps"
        case timestepScaling = "timestep_scaling"
    }

    /// Creates a configuration; every key left `nil` takes the chosen scheduler class's default.
    public init(
        className: String? = nil, numTrainTimesteps: Int? = nil, betaStart: Double? = nil, betaEnd: Double? = nil,
        betaSchedule: String? = nil, trainedBetas: [Double]? = nil, predictionType: String? = nil,
        timestepSpacing: String? = nil, stepsOffset: Int? = nil, setAlphaToOne: Bool? = nil, clipSample: Bool? = nil,
        clipSampleRange: Double? = nil, skipPrkSteps: Bool? = nil, rescaleBetasZeroSnr: Bool? = nil,
        interpolationType: String? = nil, useKarrasSigmas: Bool? = nil, useExponentialSigmas: Bool? = nil,
        useBetaSigmas: Bool? = nil, sigmaMin: Double? = nil, sigmaMax: Double? = nil, finalSigmasType: String? = nil,
        timestepType: String? = nil, thresholding: Bool? = nil
    ) {
        self.className = className
        self.numTrainTimesteps = numTrainTimesteps
        self.betaStart = betaStart
        self.betaEnd = betaEnd
        self.betaSchedule = betaSchedule
        self.trainedBetas = trainedBetas
        self.predictionType = predictionType
        self.timestepSpacing = timestepSpacing
        self.stepsOffset = stepsOffset
        self.setAlphaToOne = setAlphaToOne
        self.clipSample = clipSample
        self.clipSampleRange = clipSampleRange
        self.skipPrkSteps = skipPrkSteps
        self.rescaleBetasZeroSnr = rescaleBetasZeroSnr
        self.interpolationType = interpolationType
        self.useKarrasSigmas = useKarrasSigmas
        self.useExponentialSigmas = useExponentialSigmas
        self.useBetaSigmas = useBetaSigmas
        self.sigmaMin = sigmaMin
        self.sigmaMax = sigmaMax
        self.finalSigmasType = finalSigmasType
        self.timestepType = timestepType
        self.thresholding = thresholding
    }

    /// Decodes a `scheduler_config.json` object; unknown keys are ignored, keys in `_use_default_values` read as absent.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaulted = Set(try c.decodeIfPresent([String].self, forKey: .useDefaultValues) ?? [])
        // A key named in `_use_default_values` reads as absent, so the new class's own default applies.
        func value<T: Decodable>(_ type: T.Type, _ key: CodingKeys) throws -> T? {
            defaulted.contains(key.rawValue) ? nil : try c.decodeIfPresent(type, forKey: key)
        }
        className = try c.decodeIfPresent(String.self, forKey: .className)
        numTrainTimesteps = try value(Int.self, .numTrainTimesteps)
        betaStart = try value(Double.self, .betaStart)
        betaEnd = try value(Double.self, .betaEnd)
        betaSchedule = try value(String.self, .betaSchedule)
        trainedBetas = try value([Double].self, .trainedBetas)
        predictionType = try value(String.self, .predictionType)
        timestepSpacing = try value(String.self, .timestepSpacing)
        stepsOffset = try value(Int.self, .stepsOffset)
        setAlphaToOne = try value(Bool.self, .setAlphaToOne)
        clipSample = try value(Bool.self, .clipSample)
        clipSampleRange = try value(Double.self, .clipSampleRange)
        skipPrkSteps = try value(Bool.self, .skipPrkSteps)
        rescaleBetasZeroSnr = try value(Bool.self, .rescaleBetasZeroSnr)
        interpolationType = try value(String.self, .interpolationType)
        useKarrasSigmas = try value(Bool.self, .useKarrasSigmas)
        useExponentialSigmas = try value(Bool.self, .useExponentialSigmas)
        useBetaSigmas = try value(Bool.self, .useBetaSigmas)
        sigmaMin = try value(Double.self, .sigmaMin)
        sigmaMax = try value(Double.self, .sigmaMax)
        finalSigmasType = try value(String.self, .finalSigmasType)
        timestepType = try value(String.self, .timestepType)
        varianceType = try value(String.self, .varianceType)
        thresholding = try value(Bool.self, .thresholding)
        solverOrder = try value(Int.self, .solverOrder)
        solverType = try value(String.self, .solverType)
        algorithmType = try value(String.self, .algorithmType)
        lowerOrderFinal = try value(Bool.self, .lowerOrderFinal)
        eulerAtFinal = try value(Bool.self, .eulerAtFinal)
        lambdaMinClipped = try value(Double.self, .lambdaMinClipped)
        useLuLambdas = try value(Bool.self, .useLuLambdas)
        predictX0 = try value(Bool.self, .predictX0)
        disableCorrector = try value([Int].self, .disableCorrector)
        useFlowSigmas = try value(Bool.self, .useFlowSigmas)
        originalInferenceSteps = try value(Int.self, .originalInferenceSteps)
        timestepScaling = try value(Double.self, .timestepScaling)
        useDefaultValues = nil
    }

    /// Reads a `scheduler_config.json` (JSON5 allowed: diffusers writes `-Infinity` for `lambda_min_clipped`).
    /// - Throws: A decoding error when the file is not a JSON object of the expected key types.
    public init(contentsOf url: URL) throws {
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true
        self = try decoder.decode(SchedulerConfiguration.self, from: Data(contentsOf: url))
    }
}

/// A configuration value stored as a string in `scheduler_config.json`.
public protocol SchedulerConfigurationValue: RawRepresentable, CaseIterable, Sendable where RawValue == String {}

extension SchedulerConfigurationValue {
    /// Parses `value` (or returns `fallback` when absent).
    /// - Throws: `SchedulerError.invalidValue` naming `key` and the valid values.
    static func parse(_ value: String?, key: String, default fallback: Self) throws -> Self {
        guard let value else { return fallback }
        guard let parsed = Self(rawValue: value) else {
            throw SchedulerError.invalidValue(key: key, value: value, validValues: allCases.map(\.rawValue))
        }
        return parsed
    }
}

/// What the denoiser predicts (`prediction_type`).
public enum PredictionType: String, SchedulerConfigurationValue {
    /// The added noise ε.
    case epsilon
    /// The velocity v = √ᾱ·ε − √(1−ᾱ)·x₀ (Imagen Video / SD 2.x 768).
    case vPrediction = "v_prediction"
    /// The clean sample x₀.
    case sample
}

/// How inference timesteps are spread over the training schedule (`timestep_spacing`).
public enum TimestepSpacing: String, SchedulerConfigurationValue {
    /// `0, r, 2r, …` (+ `steps_offset`), r = T / n.
    case leading
    /// Evenly from 0 to T−1 inclusive.
    case linspace
    /// Down from T−1 in steps of T / n.
    case trailing
}

/// The training beta schedule (`beta_schedule`).
public enum BetaSchedule: String, SchedulerConfigurationValue {
    /// Betas evenly spaced from `beta_start` to `beta_end`.
    case linear
    /// Square roots evenly spaced, then squared (Stable Diffusion).
    case scaledLinear = "scaled_linear"
    /// Nichol & Dhariwal's cosine ᾱ schedule, betas capped at 0.999.
    case squaredcosCapV2 = "squaredcos_cap_v2"
}

/// How sigmas between training timesteps are interpolated (`interpolation_type`).
public enum InterpolationType: String, SchedulerConfigurationValue {
    /// Linear in sigma over timesteps.
    case linear
    /// Evenly in log sigma between the extremes.
    case logLinear = "log_linear"
}

/// The sigma after the last step (`final_sigmas_type`).
public enum FinalSigmasType: String, SchedulerConfigurationValue {
    /// Denoise fully.
    case zero
    /// Stop at the smallest training sigma.
    case sigmaMin = "sigma_min"
}

/// The timestep the model is given (`timestep_type`).
public enum TimestepType: String, SchedulerConfigurationValue {
    /// The training timestep.
    case discrete
    /// `0.25 · log σ` (continuous-time v-prediction models).
    case continuous
}
