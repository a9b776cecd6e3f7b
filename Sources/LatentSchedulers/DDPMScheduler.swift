import Foundation
import LatentCore

/// The ancestral sampler of denoising diffusion probabilistic models: the posterior mean q(x_{t−1} | x_t, x̂₀)
/// plus fresh Gaussian noise at every step with t > 0 (A1111's "DDPM").
///
/// Matches: diffusers `DDPMScheduler` (scheduling_ddpm.py, diffusers 0.42.1) for the fixed variance types
/// (`fixed_small`, `fixed_small_log`, `fixed_large`); noise is drawn with the model output's shape on every step
/// whose timestep is above 0, as diffusers draws it.
/// Paper: Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models" (NeurIPS 2020), arXiv:2006.11239.
public struct DDPMScheduler: Scheduler {
    /// The per-step noise variance (`variance_type`).
    public enum VarianceType: String, SchedulerConfigurationValue {
        /// The posterior variance β̃ₜ = (1 − ᾱₜ₋₁)/(1 − ᾱₜ)·βₜ (clamped at 1e-20).
        case fixedSmall = "fixed_small"
        /// β̃ₜ through exp(½ log β̃ₜ), used directly as the noise scale (as diffusers does).
        case fixedSmallLog = "fixed_small_log"
        /// βₜ.
        case fixedLarge = "fixed_large"
        /// log βₜ (diffusers then takes its square root, which is NaN; rejected).
        case fixedLargeLog = "fixed_large_log"
        /// Predicted by the model in extra output channels (not supported).
        case learned
        /// Interpolated by the model between the two fixed ones (not supported).
        case learnedRange = "learned_range"
    }

    /// The training schedule.
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// How the step noise is scaled.
    public let varianceType: VarianceType
    /// The integer training timestep of each model call.
    public let trainingTimesteps: [Int]
    /// Clamp bound for the predicted x₀, or `nil` when `clip_sample` is off (DDPM's default is on).
    public let clipRange: Float?

    public var timesteps: [Float] { trainingTimesteps.map { Float($0) } }
    public var initNoiseSigma: Float { 1 }

    /// Builds the scheduler diffusers' `DDPMScheduler.from_config(configuration)` + `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take DDPM's defaults (linear betas
    ///     0.0001 … 0.02, `fixed_small`, `clip_sample` true, `leading` spacing).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, an unsupported variance type or thresholding, or a bad
    ///   step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        if configuration.thresholding ?? false { throw SchedulerError.unsupportedOption("thresholding (dynamic thresholding)") }
        schedule = try NoiseSchedule(configuration: configuration, allowsZeroSNRRescale: true)
        let trainCount = schedule.trainTimesteps
        guard stepCount >= 1, stepCount <= trainCount else { throw SchedulerError.invalidStepCount(stepCount, maximum: trainCount) }
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        varianceType = try VarianceType.parse(configuration.varianceType, key: "variance_type", default: .fixedSmall)
        guard [.fixedSmall, .fixedSmallLog, .fixedLarge].contains(varianceType) else {
            throw SchedulerError.unsupportedOption("variance_type \(varianceType.rawValue)")
        }
        let spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .leading)
        let raw = NoiseSchedule.spacedTimesteps(spacing, count: stepCount, trainTimesteps: trainCount,
                                                stepsOffset: configuration.stepsOffset ?? 0)
        trainingTimesteps = switch spacing {
        case .linspace: raw.map { Int($0.rounded(.toNearestOrEven)) }
        case .leading: raw.map { Int($0) }
        case .trailing: raw.map { Int($0) - 1 }
        }
        if let bad = trainingTimesteps.first(where: { $0 < 0 || $0 >= trainCount }) {
            throw SchedulerError.invalidConfiguration("timestep \(bad) is outside the \(trainCount) training timesteps (steps_offset too large)")
        }
        clipRange = (configuration.clipSample ?? true) ? Float(configuration.clipSampleRange ?? 1) : nil
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard trainingTimesteps.indices.contains(stepIndex) else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: trainingTimesteps.count)
        }
        let t = trainingTimesteps[stepIndex]
        // The previous timestep is the next one scheduled, or "before the start" (ᾱ = 1) after the last.
        let alphaT = schedule.alphasCumprod[t]
        let alphaPrev = stepIndex + 1 < trainingTimesteps.count ? schedule.alphasCumprod[trainingTimesteps[stepIndex + 1]] : 1
        let betaT = 1 - alphaT, betaPrev = 1 - alphaPrev
        let currentAlpha = alphaT / alphaPrev
        let currentBeta = 1 - currentAlpha

        var predictedOriginal: Tensor
        switch predictionType {
        case .epsilon:
            let (rootBeta, rootAlpha) = (betaT.squareRoot(), alphaT.squareRoot())
            predictedOriginal = sample.zip(modelOutput) { (x, e) in (x - rootBeta * e) / rootAlpha }
        case .sample:
            predictedOriginal = modelOutput
        case .vPrediction:
            let (rootAlpha, rootBeta) = (alphaT.squareRoot(), betaT.squareRoot())
            predictedOriginal = sample.zip(modelOutput) { (x, v) in rootAlpha * x - rootBeta * v }
        }
        if let bound = clipRange {
            predictedOriginal = predictedOriginal.map { min(max($0, -bound), bound) }
        }
        // Posterior mean: coefficients of x̂₀ and x_t (Ho et al. eq. 7).
        let originalCoefficient = (alphaPrev.squareRoot() * currentBeta) / betaT
        let sampleCoefficient = currentAlpha.squareRoot() * betaPrev / betaT
        let mean = predictedOriginal.zip(sample) { (x0, x) in originalCoefficient * x0 + sampleCoefficient * x }
        guard t > 0 else { return mean }

        let noise = random.normal(shape: modelOutput.shape)
        let posteriorVariance = max((1 - alphaPrev) / (1 - alphaT) * currentBeta, 1e-20)
        let scale: Float = switch varianceType {
        case .fixedSmallLog: expf(0.5 * logf(posteriorVariance))
        case .fixedLarge: currentBeta.squareRoot()
        default: posteriorVariance.squareRoot()
        }
        return mean.zip(noise) { (x, z) in x + scale * z }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let alpha = schedule.alphasCumprod[trainingTimesteps[stepIndex]]
        let (a, b) = (alpha.squareRoot(), (1 - alpha).squareRoot())
        return original.zip(noise) { (x, z) in a * x + b * z }
    }
}
