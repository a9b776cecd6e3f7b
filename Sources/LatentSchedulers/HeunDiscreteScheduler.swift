import LatentCore

/// Heun's second-order method on the probability-flow ODE in σ: an Euler step to the next σ, a second model call
/// there, and the average of both slopes (A1111's "Heun"). Two model calls per step except the last, which is a
/// plain Euler step to σ = 0.
///
/// Matches: diffusers `HeunDiscreteScheduler` (scheduling_heun_discrete.py, diffusers 0.42.1): `timesteps` and
/// `sigmas` repeat interior entries exactly as diffusers' do.
/// Paper: Karras, Aittala, Aila & Laine, "Elucidating the Design Space of Diffusion-Based Generative Models"
/// (NeurIPS 2022), arXiv:2206.00364, Algorithm 1.
public struct HeunDiscreteScheduler: Scheduler {
    /// The training schedule.
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// σ per model call as diffusers stores it: σ₀, then each interior σ twice, then 0 (2n entries).
    public let sigmas: [Float]
    /// The model timestep of each of the 2n − 1 calls (interior timesteps repeated).
    public let timesteps: [Float]
    public let initNoiseSigma: Float
    /// Clamp bound for the predicted x₀, or `nil` when `clip_sample` is off (the default).
    public let clipRange: Float?
    /// The first-order half of the current step, kept until its correction call.
    private var pending: (sample: Tensor, derivative: Tensor, dt: Float)?

    /// Builds the scheduler diffusers' `HeunDiscreteScheduler.from_config(configuration)` + `set_timesteps(stepCount)`
    /// gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take Heun's defaults (linear betas
    ///     0.00085 … 0.012, `linspace` spacing, no clipping).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, conflicting sigma options, beta sigmas or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        let configuration = configuration.fillingBetaRange(start: 0.00085, end: 0.012)
        schedule = try NoiseSchedule.checked(configuration: configuration, stepCount: stepCount, allowsZeroSNRRescale: false)
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        let base = try DiscreteSigmaSchedule(configuration: configuration, schedule: schedule, stepCount: stepCount,
                                             honoursBounds: .init(karras: true, exponential: true))
        // σ₀, σ₁, σ₁, …, σₙ₋₁, σₙ₋₁, 0 and t₀, t₁, t₁, …, tₙ₋₁, tₙ₋₁.
        sigmas = [base.sigmas[0]] + base.sigmas.dropFirst().dropLast().flatMap { [$0, $0] } + [0]
        timesteps = [base.timesteps[0]] + base.timesteps.dropFirst().flatMap { [$0, $0] }
        initNoiseSigma = base.initNoiseSigma(for: sigmas)
        clipRange = (configuration.clipSample ?? false) ? Float(configuration.clipSampleRange ?? 1) : nil
    }

    /// Whether the next call is the first (Euler) half of a step.
    public var isFirstOrder: Bool { pending == nil }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return SigmaSampling.scaledInput(sample, sigma: sigma)
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        try SigmaSampling.checkStepIndex(stepIndex, count: timesteps.count)
        if let pending {
            // Correction: the slope at the Euler point, averaged with the first slope, applied from the start.
            let sigmaNext = sigmas[stepIndex]
            var predictedOriginal = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: sigmaNext,
                                                          prediction: predictionType)
            if let bound = clipRange { predictedOriginal = predictedOriginal.map { min(max($0, -bound), bound) } }
            let slope = sample.zip(predictedOriginal) { (x, x0) in (x - x0) / sigmaNext }
            let averaged = pending.derivative.zip(slope) { (d0, d1) in (d0 + d1) / 2 }
            self.pending = nil
            return pending.sample.zip(averaged) { (x, d) in x + d * pending.dt }
        }
        let sigma = sigmas[stepIndex], sigmaNext = sigmas[stepIndex + 1]
        var predictedOriginal = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: sigma,
                                                      prediction: predictionType)
        if let bound = clipRange { predictedOriginal = predictedOriginal.map { min(max($0, -bound), bound) } }
        let derivative = sample.zip(predictedOriginal) { (x, x0) in (x - x0) / sigma }
        let dt = sigmaNext - sigma
        pending = (sample, derivative, dt)
        return sample.zip(derivative) { (x, d) in x + d * dt }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return original.zip(noise) { (x, z) in x + z * sigma }
    }
}
