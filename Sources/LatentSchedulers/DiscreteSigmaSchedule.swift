import Foundation

/// The per-step σ schedule of the k-diffusion style discrete schedulers (LMS, Heun, KDPM2, KDPM2 ancestral):
/// spaced training timesteps, their σ by linear interpolation of the training table, optionally replaced by
/// Karras or exponential spacing (timesteps then placed back on the table by log-σ interpolation).
///
/// Matches: the `set_timesteps` prologue shared by diffusers' `LMSDiscreteScheduler`, `HeunDiscreteScheduler`,
/// `KDPM2DiscreteScheduler` and `KDPM2AncestralDiscreteScheduler` (diffusers 0.42.1), before each class expands
/// it for its own step structure.
struct DiscreteSigmaSchedule {
    /// The model timestep of each inference step (float32, as diffusers casts them).
    let timesteps: [Float]
    /// σ of each inference step followed by 0 (float32).
    let sigmas: [Float]
    /// log σₜ of the training table, float32 and ascending in t (for placing further sigmas on it).
    let logSigmas: [Float]
    /// The timestep spacing the schedule was built with.
    let spacing: TimestepSpacing

    /// Which configured σ bounds the Karras / exponential conversions honour: the classes differ
    /// (LMS's Karras conversion ignores `sigma_min`/`sigma_max`, its exponential one reads them).
    struct Bounds {
        var karras: Bool
        var exponential: Bool
    }

    /// Builds the schedule a diffusers class's `set_timesteps(stepCount)` starts from.
    /// - Parameters:
    ///   - configuration: The scheduler configuration (only the keys these classes accept are read).
    ///   - schedule: The training noise schedule.
    ///   - stepCount: Inference steps n ≥ 1.
    ///   - honoursBounds: Whether `sigma_min`/`sigma_max` from the configuration bound the converted sigmas.
    ///   - roundsKarrasTimesteps: KDPM2 rounds the timesteps of Karras sigmas to integers.
    /// - Throws: `SchedulerError` for an unknown spacing, conflicting sigma options or beta sigmas.
    init(configuration: SchedulerConfiguration, schedule: NoiseSchedule, stepCount: Int, honoursBounds: Bounds,
         roundsKarrasTimesteps: Bool = false) throws {
        spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .linspace)
        let karras = configuration.useKarrasSigmas ?? false
        let exponential = configuration.useExponentialSigmas ?? false
        if configuration.useBetaSigmas ?? false { throw SchedulerError.unsupportedOption("use_beta_sigmas") }
        if karras && exponential {
            throw SchedulerError.invalidConfiguration("only one of use_karras_sigmas and use_exponential_sigmas can be set")
        }
        let trainCount = schedule.trainTimesteps
        let raw = NoiseSchedule.spacedTimesteps(spacing, count: stepCount, trainTimesteps: trainCount,
                                                stepsOffset: configuration.stepsOffset ?? 0)
        var callTimesteps: [Float] = switch spacing {
        case .linspace, .leading: raw.map { Float($0) }
        case .trailing: raw.map { Float($0) - 1 }
        }
        let table = schedule.sigmas  // float32, ascending in t
        logSigmas = table.map { logf($0) }
        var callSigmas = callTimesteps.map { NoiseSchedule.interpolate(Double($0), table: table) }
        if karras || exponential {
            let useBounds = karras ? honoursBounds.karras : honoursBounds.exponential
            let sigmaMin = (useBounds ? configuration.sigmaMin : nil) ?? callSigmas[callSigmas.count - 1]
            let sigmaMax = (useBounds ? configuration.sigmaMax : nil) ?? callSigmas[0]
            callSigmas = karras
                ? NoiseSchedule.karrasSigmas(sigmaMin: sigmaMin, sigmaMax: sigmaMax, count: stepCount)
                : NoiseSchedule.exponentialSigmas(sigmaMin: sigmaMin, sigmaMax: sigmaMax, count: stepCount)
            let logSigmas = logSigmas
            callTimesteps = callSigmas.map { sigma in
                let t = NoiseSchedule.timestep(forSigma: sigma, logSigmas: logSigmas)
                return Float(karras && roundsKarrasTimesteps ? t.rounded(.toNearestOrEven) : t)
            }
        }
        timesteps = callTimesteps
        sigmas = callSigmas.map { Float($0) } + [0]
    }

    /// The initial noise scale for a (possibly expanded) σ list: the largest σ, or √(σ²+1) for `leading` spacing.
    func initNoiseSigma(for sigmas: [Float]) -> Float {
        let maxSigma = sigmas.max() ?? 0
        return spacing == .leading ? (maxSigma * maxSigma + 1).squareRoot() : maxSigma
    }

    /// The fractional training timestep of a float32 σ, computed entirely in float32 as diffusers does when it
    /// hands `_sigma_to_t` torch tensors (KDPM2's interpolated sigmas).
    func float32Timestep(forSigma sigma: Float) -> Float {
        let logSigma = logf(max(sigma, 1e-10))
        // The last training index whose log σ does not exceed this one (0 when none), kept below the end.
        var low = 0
        for (i, value) in logSigmas.enumerated() where logSigma - value >= 0 { low = i }
        low = min(low, logSigmas.count - 2)
        let lowValue = logSigmas[low], highValue = logSigmas[low + 1]
        let w = min(max((lowValue - logSigma) / (lowValue - highValue), 0), 1)
        return (1 - w) * Float(low) + w * Float(low + 1)
    }
}

extension SchedulerConfiguration {
    /// This configuration with absent beta bounds set to the given class defaults (Heun and KDPM2 default to
    /// Stable Diffusion's 0.00085 … 0.012 where the other classes use 0.0001 … 0.02).
    func fillingBetaRange(start: Double, end: Double) -> SchedulerConfiguration {
        var copy = self
        copy.betaStart = copy.betaStart ?? start
        copy.betaEnd = copy.betaEnd ?? end
        return copy
    }
}
