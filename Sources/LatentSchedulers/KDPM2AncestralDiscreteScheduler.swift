import LatentCore

/// Ancestral DPM-Solver-2: the DPM2 midpoint step aimed at σ_down, then fresh noise of scale σ_up, with
/// σ_down² + σ_up² = σ_next² (A1111's "DPM2 a"). Two model calls per step except the last, an Euler step to 0.
///
/// Matches: diffusers `KDPM2AncestralDiscreteScheduler` (scheduling_k_dpm_2_ancestral_discrete.py,
/// diffusers 0.42.1). Noise is drawn once per completed two-call step (at its second call), with the model
/// output's shape, exactly when diffusers draws it; the final Euler step draws none.
/// Paper: Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling
/// in Around 10 Steps" (NeurIPS 2022), arXiv:2206.00927, with the ancestral split of Crowson's k-diffusion
/// `sample_dpm_2_ancestral` (Karras et al., arXiv:2206.00364).
public struct KDPM2AncestralDiscreteScheduler: Scheduler {
    /// The training schedule.
    public let schedule: NoiseSchedule
    /// What the model predicts (`epsilon` or `v_prediction`).
    public let predictionType: PredictionType
    /// σ₀, each of σ₁ … σₙ twice, then σₙ = 0 again (2n + 2 entries, diffusers' `sigmas`).
    public let sigmas: [Float]
    /// The log-midpoints √(σₖ·σ_down,ₖ), the last two zero, expanded like `sigmas` (diffusers' `sigmas_interpol`).
    public let interpolatedSigmas: [Float]
    /// The noise scale σ_up of each step, expanded like `sigmas` (the last entries NaN, as in diffusers, unused).
    public let sigmasUp: [Float]
    /// The deterministic target σ_down of each step, expanded like `sigmas`.
    public let sigmasDown: [Float]
    /// The model timestep of each of the 2n − 1 calls: t₀, then each step's midpoint timestep before tₖ.
    public let timesteps: [Float]
    public let initNoiseSigma: Float
    /// The sample at the start of the current step while its midpoint call is pending.
    private var pendingSample: Tensor?

    /// Builds the scheduler diffusers' `KDPM2AncestralDiscreteScheduler.from_config(configuration)` +
    /// `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take the class defaults (linear betas
    ///     0.00085 … 0.012, `linspace` spacing).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, `sample` prediction, conflicting sigma options, beta sigmas
    ///   or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        let configuration = configuration.fillingBetaRange(start: 0.00085, end: 0.012)
        schedule = try NoiseSchedule.checked(configuration: configuration, stepCount: stepCount, allowsZeroSNRRescale: false)
        predictionType = try PredictionType.parseNoise(configuration.predictionType, scheduler: "KDPM2AncestralDiscreteScheduler")
        let base = try DiscreteSigmaSchedule(configuration: configuration, schedule: schedule, stepCount: stepCount,
                                             honoursBounds: .init(karras: true, exponential: true),
                                             roundsKarrasTimesteps: true)
        let steps = base.sigmas  // σ₀ … σₙ₋₁, 0
        var up: [Float] = [], down: [Float] = [], midpoints: [Float] = []
        for k in steps.indices {
            let sigma = steps[k], next = k + 1 < steps.count ? steps[k + 1] : 0
            let sigmaUp = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot()
            let sigmaDown = k + 1 < steps.count ? (next * next - sigmaUp * sigmaUp).squareRoot() : 0
            up.append(sigmaUp)
            down.append(sigmaDown)
            // The last two steps go straight to 0: no midpoint.
            midpoints.append(k >= steps.count - 2 ? 0 : logMidpoint(sigma, sigmaDown))
        }
        sigmas = expandedForSecondOrder(steps)
        interpolatedSigmas = expandedForSecondOrder(midpoints)
        sigmasUp = expandedForSecondOrder(up)
        sigmasDown = expandedForSecondOrder(down)
        let midpointTimesteps = midpoints.map { base.float32Timestep(forSigma: $0) }
        timesteps = [base.timesteps[0]] + (1..<stepCount).flatMap { [midpointTimesteps[$0 - 1], base.timesteps[$0]] }
        initNoiseSigma = base.initNoiseSigma(for: sigmas)
    }

    /// Whether the next call is the first half of a step (at σₖ rather than at the midpoint).
    public var isFirstOrder: Bool { pendingSample == nil }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = isFirstOrder ? sigmas[stepIndex] : interpolatedSigmas[stepIndex - 1]
        return SigmaSampling.scaledInput(sample, sigma: sigma)
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        try SigmaSampling.checkStepIndex(stepIndex, count: timesteps.count)
        if let start = pendingSample {
            // Midpoint slope from the step's start down to σ_down, then noise up to σ_next.
            let sigma = sigmas[stepIndex - 1], midpoint = interpolatedSigmas[stepIndex - 1]
            let sigmaUp = sigmasUp[stepIndex - 1], sigmaDown = sigmasDown[stepIndex - 1]
            let predictedOriginal = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: midpoint,
                                                          prediction: predictionType)
            let derivative = sample.zip(predictedOriginal) { (x, x0) in (x - x0) / midpoint }
            let dt = sigmaDown - sigma
            pendingSample = nil
            let deterministic = start.zip(derivative) { (x, d) in x + d * dt }
            let noise = random.normal(shape: modelOutput.shape)
            return deterministic.zip(noise) { (x, z) in x + z * sigmaUp }
        }
        let sigma = sigmas[stepIndex], midpoint = interpolatedSigmas[stepIndex]
        let predictedOriginal = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: sigma,
                                                      prediction: predictionType)
        let derivative = sample.zip(predictedOriginal) { (x, x0) in (x - x0) / sigma }
        let dt = midpoint - sigma
        pendingSample = sample
        return sample.zip(derivative) { (x, d) in x + d * dt }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return original.zip(noise) { (x, z) in x + z * sigma }
    }
}
