import Foundation
import LatentCore

/// DPM-Solver-2 as k-diffusion runs it: a half step to the geometric mean of the current and next σ, a model call
/// there, and the full step taken with that midpoint slope (A1111's "DPM2"). Two model calls per step except the
/// last, which is an Euler step to σ = 0.
///
/// Matches: diffusers `KDPM2DiscreteScheduler` (scheduling_k_dpm_2_discrete.py, diffusers 0.42.1): `timesteps`
/// interleave each interior step's timestep with its midpoint's, and `sigmas` / `interpolatedSigmas` are expanded
/// exactly as diffusers' `sigmas` / `sigmas_interpol`.
/// Paper: Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling
/// in Around 10 Steps" (NeurIPS 2022), arXiv:2206.00927, in the σ form of Karras et al. (arXiv:2206.00364) as
/// Crowson's k-diffusion `sample_dpm_2` implements it.
public struct KDPM2DiscreteScheduler: Scheduler {
    /// The training schedule.
    public let schedule: NoiseSchedule
    /// What the model predicts (`epsilon` or `v_prediction`).
    public let predictionType: PredictionType
    /// σ₀, each of σ₁ … σₙ twice, then σₙ = 0 again (2n + 2 entries, diffusers' `sigmas`).
    public let sigmas: [Float]
    /// The log-midpoints √(σₖ₋₁σₖ) expanded like `sigmas` (diffusers' `sigmas_interpol`; the first entry is NaN
    /// there and here, and never used).
    public let interpolatedSigmas: [Float]
    /// The model timestep of each of the 2n − 1 calls: t₀, then each midpoint's fractional timestep before tₖ.
    public let timesteps: [Float]
    public let initNoiseSigma: Float
    /// The sample at the start of the current step while its midpoint call is pending.
    private var pendingSample: Tensor?

    /// Builds the scheduler diffusers' `KDPM2DiscreteScheduler.from_config(configuration)` + `set_timesteps(stepCount)`
    /// gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take KDPM2's defaults (linear betas
    ///     0.00085 … 0.012, `linspace` spacing).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, `sample` prediction, conflicting sigma options, beta sigmas
    ///   or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        let configuration = configuration.fillingBetaRange(start: 0.00085, end: 0.012)
        schedule = try NoiseSchedule.checked(configuration: configuration, stepCount: stepCount, allowsZeroSNRRescale: false)
        predictionType = try PredictionType.parseNoise(configuration.predictionType, scheduler: "KDPM2DiscreteScheduler")
        let base = try DiscreteSigmaSchedule(configuration: configuration, schedule: schedule, stepCount: stepCount,
                                             honoursBounds: .init(karras: true, exponential: true),
                                             roundsKarrasTimesteps: true)
        let steps = base.sigmas  // σ₀ … σₙ₋₁, 0
        // Midpoint in log σ between each σₖ and its predecessor (σ₀'s predecessor wraps round to the final 0).
        let midpoints = steps.indices.map { k in
            logMidpoint(steps[k], steps[(k + steps.count - 1) % steps.count])
        }
        sigmas = expandedForSecondOrder(steps)
        interpolatedSigmas = expandedForSecondOrder(midpoints)
        let midpointTimesteps = midpoints.map { base.float32Timestep(forSigma: $0) }
        timesteps = [base.timesteps[0]] + (1..<stepCount).flatMap { [midpointTimesteps[$0], base.timesteps[$0]] }
        initNoiseSigma = base.initNoiseSigma(for: sigmas)
    }

    /// Whether the next call is the first half of a step (at σₖ rather than at the midpoint).
    public var isFirstOrder: Bool { pendingSample == nil }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = isFirstOrder ? sigmas[stepIndex] : interpolatedSigmas[stepIndex]
        return SigmaSampling.scaledInput(sample, sigma: sigma)
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        try SigmaSampling.checkStepIndex(stepIndex, count: timesteps.count)
        if let start = pendingSample {
            // The slope at the midpoint carries the step's starting sample all the way to σₖ₊₁.
            let sigma = sigmas[stepIndex - 1], midpoint = interpolatedSigmas[stepIndex], sigmaNext = sigmas[stepIndex]
            let predictedOriginal = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: midpoint,
                                                          prediction: predictionType)
            let dt = sigmaNext - sigma
            pendingSample = nil
            let derivative = sample.zip(predictedOriginal) { (x, x0) in (x - x0) / midpoint }
            return start.zip(derivative) { (x, d) in x + d * dt }
        }
        let sigma = sigmas[stepIndex], midpoint = interpolatedSigmas[stepIndex + 1]
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

/// exp of the midpoint of log a and log b in float32, as `a.log().lerp(b.log(), 0.5).exp()` computes it
/// (b − ½(b − a) in the log domain; NaN when b is 0 and a is not, 0 when a is 0).
func logMidpoint(_ a: Float, _ b: Float) -> Float {
    let logA = logf(a), logB = logf(b)
    return expf(logB - 0.5 * (logB - logA))
}

/// diffusers' layout for two calls per step: the first entry, each later entry twice, the last entry once more.
func expandedForSecondOrder(_ values: [Float]) -> [Float] {
    guard let first = values.first, let last = values.last else { return [] }
    return [first] + values.dropFirst().flatMap { [$0, $0] } + [last]
}
