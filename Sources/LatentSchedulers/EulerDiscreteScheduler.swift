import Foundation
import LatentCore

/// Euler's method on the probability-flow ODE in σ-parameterisation (A1111's "Euler").
///
/// Matches: diffusers `EulerDiscreteScheduler` (scheduling_euler_discrete.py, diffusers 0.42.1), without
/// stochastic churn (`s_churn` = 0, as pipelines call it).
/// Paper: Karras, Aittala, Aila & Laine, "Elucidating the Design Space of Diffusion-Based Generative Models"
/// (NeurIPS 2022), arXiv:2206.00364, Algorithm 2.
public struct EulerDiscreteScheduler: Scheduler {
    /// The training schedule (ᾱ of the last timestep pinned to 2⁻²⁴ after a zero-SNR rescale).
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// σ of each model call, followed by the final σ (one more entry than calls, as in diffusers; the
    /// `log_linear` interpolation yields one extra, also as in diffusers).
    public let sigmas: [Float]
    public let timesteps: [Float]
    public let initNoiseSigma: Float

    /// Builds the scheduler diffusers' `EulerDiscreteScheduler.from_config(configuration)` + `set_timesteps(stepCount)`
    /// gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take Euler's defaults (`linspace`
    ///     spacing, linear interpolation, final σ 0).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, conflicting sigma options, beta sigmas or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        schedule = try NoiseSchedule.pinningZeroSNR(configuration: configuration, stepCount: stepCount)
        let trainCount = schedule.trainTimesteps
        // diffusers accepts "original_sample" as a synonym here.
        let prediction = configuration.predictionType == "original_sample" ? "sample" : configuration.predictionType
        predictionType = try PredictionType.parse(prediction, key: "prediction_type", default: .epsilon)
        let spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .linspace)
        let interpolation = try InterpolationType.parse(configuration.interpolationType, key: "interpolation_type", default: .linear)
        let finalType = try FinalSigmasType.parse(configuration.finalSigmasType, key: "final_sigmas_type", default: .zero)
        let timestepType = try TimestepType.parse(configuration.timestepType, key: "timestep_type", default: .discrete)
        let karras = configuration.useKarrasSigmas ?? false
        let exponential = configuration.useExponentialSigmas ?? false
        if configuration.useBetaSigmas ?? false { throw SchedulerError.unsupportedOption("use_beta_sigmas") }
        if karras && exponential {
            throw SchedulerError.invalidConfiguration("only one of use_karras_sigmas and use_exponential_sigmas can be set")
        }

        // float32 timesteps, as numpy hands them to the interpolation.
        let raw = NoiseSchedule.spacedTimesteps(spacing, count: stepCount, trainTimesteps: trainCount,
                                                stepsOffset: configuration.stepsOffset ?? 0)
        var callTimesteps: [Float] = switch spacing {
        case .linspace, .leading: raw.map { Float($0) }
        case .trailing: raw.map { Float($0) - 1 }
        }
        let table = schedule.sigmas  // float32, ascending in t
        var callSigmas: [Double]
        switch interpolation {
        case .linear:
            callSigmas = callTimesteps.map { NoiseSchedule.interpolate(Double($0), table: table) }
        case .logLinear:
            callSigmas = NoiseSchedule.torchLinspace(Double(logf(table[trainCount - 1])), Double(logf(table[0])),
                                                     count: stepCount + 1).map { Double(expf($0)) }
        }
        if karras || exponential {
            let sigmaMin = configuration.sigmaMin ?? callSigmas[callSigmas.count - 1]
            let sigmaMax = configuration.sigmaMax ?? callSigmas[0]
            callSigmas = karras
                ? NoiseSchedule.karrasSigmas(sigmaMin: sigmaMin, sigmaMax: sigmaMax, count: stepCount)
                : NoiseSchedule.exponentialSigmas(sigmaMin: sigmaMin, sigmaMax: sigmaMax, count: stepCount)
            let logSigmas = table.map { logf($0) }
            callTimesteps = callSigmas.map { Float(NoiseSchedule.timestep(forSigma: $0, logSigmas: logSigmas)) }
        }
        let last: Float = finalType == .zero ? 0 : ((1 - schedule.alphasCumprod[0]) / schedule.alphasCumprod[0]).squareRoot()
        sigmas = callSigmas.map { Float($0) } + [last]
        if timestepType == .continuous && predictionType == .vPrediction {
            timesteps = sigmas.dropLast().map { 0.25 * logf($0) }
        } else {
            timesteps = callTimesteps
        }
        let maxSigma = sigmas.max() ?? 0
        initNoiseSigma = spacing == .leading ? (maxSigma * maxSigma + 1).squareRoot() : maxSigma
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return SigmaSampling.scaledInput(sample, sigma: sigma)
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard timesteps.indices.contains(stepIndex), stepIndex + 1 < sigmas.count else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: timesteps.count)
        }
        let sigma = sigmas[stepIndex]
        let predictedOriginal = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: sigma,
                                                      prediction: predictionType)
        let dt = sigmas[stepIndex + 1] - sigma
        // dx/dσ = (x − x̂₀) / σ, one Euler step to the next σ.
        return sample.zip(predictedOriginal) { (x, x0) in x + ((x - x0) / sigma) * dt }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return original.zip(noise) { (x, z) in x + z * sigma }
    }
}

/// x̂₀ from the model output at noise level σ, for σ-parameterised (k-diffusion style) schedulers.
func eulerPredictedOriginal(modelOutput: Tensor, sample: Tensor, sigma: Float, prediction: PredictionType) -> Tensor {
    switch prediction {
    case .epsilon:
        return sample.zip(modelOutput) { (x, e) in x - sigma * e }
    case .vPrediction:
        let outputScale = -sigma / (sigma * sigma + 1).squareRoot()
        let sampleDivisor = sigma * sigma + 1
        return modelOutput.zip(sample) { (v, x) in v * outputScale + x / sampleDivisor }
    case .sample:
        return modelOutput
    }
}
