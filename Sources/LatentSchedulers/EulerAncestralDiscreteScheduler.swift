import LatentCore

/// Ancestral Euler sampling: an Euler step down to σ_down, then fresh noise of scale σ_up (A1111's "Euler a").
///
/// Matches: diffusers `EulerAncestralDiscreteScheduler` (scheduling_euler_ancestral_discrete.py, diffusers 0.42.1).
/// Paper: Karras, Aittala, Aila & Laine, "Elucidating the Design Space of Diffusion-Based Generative Models"
/// (NeurIPS 2022), arXiv:2206.00364, with the ancestral step of Crowson's k-diffusion `sample_euler_ancestral`.
public struct EulerAncestralDiscreteScheduler: Scheduler {
    /// The training schedule (ᾱ of the last timestep pinned to 2⁻²⁴ after a zero-SNR rescale).
    public let schedule: NoiseSchedule
    /// What the model predicts (`epsilon` or `v_prediction`).
    public let predictionType: PredictionType
    /// σ of each model call, followed by 0.
    public let sigmas: [Float]
    public let timesteps: [Float]
    public let initNoiseSigma: Float

    /// Builds the scheduler diffusers' `EulerAncestralDiscreteScheduler.from_config(configuration)` +
    /// `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take the class defaults (`linspace`).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, `sample` prediction or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        schedule = try NoiseSchedule.pinningZeroSNR(configuration: configuration, stepCount: stepCount)
        let trainCount = schedule.trainTimesteps
        predictionType = try PredictionType.parseNoise(configuration.predictionType, scheduler: "EulerAncestralDiscreteScheduler")
        let spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .linspace)
        let raw = NoiseSchedule.spacedTimesteps(spacing, count: stepCount, trainTimesteps: trainCount,
                                                stepsOffset: configuration.stepsOffset ?? 0)
        timesteps = switch spacing {
        case .linspace, .leading: raw.map { Float($0) }
        case .trailing: raw.map { Float($0) - 1 }
        }
        let table = schedule.sigmas
        sigmas = timesteps.map { Float(NoiseSchedule.interpolate(Double($0), table: table)) } + [0]
        let maxSigma = sigmas.max() ?? 0
        initNoiseSigma = spacing == .leading ? (maxSigma * maxSigma + 1).squareRoot() : maxSigma
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return SigmaSampling.scaledInput(sample, sigma: sigma)
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        try SigmaSampling.checkStepIndex(stepIndex, count: timesteps.count)
        let sigma = sigmas[stepIndex], next = sigmas[stepIndex + 1]
        let predictedOriginal = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: sigma,
                                                      prediction: predictionType)
        // Split the move to σ_next into a deterministic part down to σ_down and fresh noise σ_up, with
        // σ_down² + σ_up² = σ_next².
        let sigmaUp = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot()
        let sigmaDown = (next * next - sigmaUp * sigmaUp).squareRoot()
        let dt = sigmaDown - sigma
        let deterministic = sample.zip(predictedOriginal) { (x, x0) in x + ((x - x0) / sigma) * dt }
        // diffusers draws noise on every step, the last (σ_up = 0) included, so the stream advances the same.
        let noise = random.normal(shape: modelOutput.shape)
        return deterministic.zip(noise) { (x, z) in x + z * sigmaUp }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return original.zip(noise) { (x, z) in x + z * sigma }
    }
}
