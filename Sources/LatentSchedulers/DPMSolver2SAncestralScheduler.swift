import Foundation
import LatentCore

/// Ancestral DPM-Solver++(2S): per step, a two-stage second-order singlestep update down to σ_down, then fresh
/// noise of scale σ_up (A1111's "DPM++ 2S a").
///
/// Matches: k-diffusion `sample_dpmpp_2s_ancestral` (k_diffusion/sampling.py, k-diffusion 0.1.1, the function
/// A1111 runs for "DPM++ 2S a") with `eta` = 1 and `s_noise` = 1, in float32. diffusers 0.42.1 has no such class
/// (its `DPMSolverSinglestepScheduler` has no ancestral mode), so Latent runs the algorithm inside diffusers'
/// conventions, as `tools/reference/dump_pipeline_schedulers_b.py` does in Python:
/// - sigmas, step timesteps and `init_noise_sigma` are those of diffusers `EulerDiscreteScheduler.from_config`
///   (the same as `EulerAncestralDiscreteScheduler`'s for the standard schedule; `_karras` / `_exponential` take
///   Euler's `use_karras_sigmas` / `use_exponential_sigmas`), with the final σ 0;
/// - every model call is scaled by 1/√(σ² + 1) and x̂₀ is formed as diffusers' Euler forms it (k-diffusion's
///   `CompVisDenoiser` / `CompVisVDenoiser` give the same), the midpoint call at σ_s = e^(−s) getting the
///   fractional timestep of Euler's `_sigma_to_t` (log-σ interpolation; `0.25·log σ` for continuous-time
///   v-prediction models);
/// - `timesteps` lists every model call: two per step (step, then midpoint) except a step whose σ_down is 0
///   (the last one), which is a single Euler step, so n steps make 2n − 1 calls;
/// - noise comes from the generation's seeded stream (`random.normal`) after each step whose next σ is above 0,
///   where k-diffusion calls `torch.randn_like` on the global generator.
/// The latent after a step call is the midpoint sample x₂, as the model's next input.
/// Paper: Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
/// Probabilistic Models" (2022), arXiv:2211.01095, Algorithm 1 (DPM-Solver++(2S), r = ½), with the ancestral
/// split of Karras et al. (2022) / k-diffusion's `get_ancestral_step`.
public struct DPMSolver2SAncestralScheduler: Scheduler {
    /// The per-step constants of one ancestral DPM-Solver++(2S) step.
    struct Plan: Sendable {
        var sigma: Float
        var sigmaNext: Float
        var sigmaUp: Float
        var sigmaDown: Float
        /// e^(−s) / e^(−t) and expm1(−h/2): the move to the midpoint.
        var midpointRatio: Float = 0
        var midpointCoefficient: Float = 0
        /// e^(−t_next) / e^(−t) and expm1(−h): the move to σ_down.
        var finalRatio: Float = 0
        var finalCoefficient: Float = 0
        /// σ_s = e^(−s), the midpoint's noise level.
        var sigmaMidpoint: Float = 0
        var isEuler: Bool { sigmaDown == 0 }
    }

    /// The training schedule.
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// σ of each step, followed by 0 (Euler's schedule; one entry per step, not per call).
    public let stepSigmas: [Float]
    /// σ of each model call, in call order.
    public let callSigmas: [Float]
    public let timesteps: [Float]
    public let initNoiseSigma: Float

    private let plans: [Plan]
    /// For each model call: its step and whether it is the step's midpoint evaluation.
    private let calls: [(step: Int, isMidpoint: Bool)]
    /// The sample at the start of the step whose midpoint call comes next.
    private var stepStart: Tensor?

    /// Builds the sampler on the sigmas diffusers' `EulerDiscreteScheduler.from_config(configuration)` +
    /// `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration (Euler's defaults fill absent keys).
    ///   - stepCount: Sampler steps (model calls: 2 per step but 1 for the last).
    /// - Throws: `SchedulerError` as `EulerDiscreteScheduler` does.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        let euler = try EulerDiscreteScheduler(configuration: configuration, stepCount: stepCount)
        schedule = euler.schedule
        predictionType = euler.predictionType
        stepSigmas = euler.sigmas
        initNoiseSigma = euler.initNoiseSigma
        let continuous = try TimestepType.parse(configuration.timestepType, key: "timestep_type", default: .discrete) == .continuous
            && predictionType == .vPrediction
        let logSigmas = schedule.sigmas.map { logf($0) }

        var plans: [Plan] = []
        var calls: [(step: Int, isMidpoint: Bool)] = []
        var callSigmas: [Float] = [], timesteps: [Float] = []
        for i in 0..<euler.timesteps.count {
            let sigma = stepSigmas[i], next = stepSigmas[i + 1]
            // get_ancestral_step with eta 1: σ_up = min(σ_next, √(σ_next²(σ² − σ_next²)/σ²)), σ_down² = σ_next² − σ_up².
            let up = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot()
            let sigmaUp = up < next ? up : next
            let sigmaDown = (next * next - sigmaUp * sigmaUp).squareRoot()
            var plan = Plan(sigma: sigma, sigmaNext: next, sigmaUp: sigmaUp, sigmaDown: sigmaDown)
            calls.append((i, false))
            callSigmas.append(sigma)
            timesteps.append(euler.timesteps[i])
            if !plan.isEuler {
                // Half a step in t = −log σ; k-diffusion recovers σ as e^(−t), not σ itself.
                let t = -logf(sigma), tNext = -logf(sigmaDown)
                let h = tNext - t
                let s = t + 0.5 * h
                let sigmaT = expf(-t)
                plan.sigmaMidpoint = expf(-s)
                plan.midpointRatio = plan.sigmaMidpoint / sigmaT
                plan.midpointCoefficient = expm1f(-h * 0.5)
                plan.finalRatio = expf(-tNext) / sigmaT
                plan.finalCoefficient = expm1f(-h)
                calls.append((i, true))
                callSigmas.append(plan.sigmaMidpoint)
                timesteps.append(continuous
                    ? 0.25 * logf(plan.sigmaMidpoint)
                    : Float(NoiseSchedule.timestep(forSigma: Double(plan.sigmaMidpoint), logSigmas: logSigmas)))
            }
            plans.append(plan)
        }
        self.plans = plans
        self.calls = calls
        self.callSigmas = callSigmas
        self.timesteps = timesteps
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = callSigmas[stepIndex]
        return SigmaSampling.scaledInput(sample, sigma: sigma)
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        try SigmaSampling.checkStepIndex(stepIndex, count: timesteps.count)
        let call = calls[stepIndex]
        let plan = plans[call.step]
        let denoised = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: callSigmas[stepIndex],
                                              prediction: predictionType)
        var next: Tensor
        if call.isMidpoint {
            // The midpoint call must follow its step call; anything else is an out-of-order index.
            guard let start = stepStart else { throw SchedulerError.stepIndexOutOfRange(stepIndex, count: timesteps.count) }
            stepStart = nil
            next = start.zip(denoised) { (x, d) in plan.finalRatio * x - plan.finalCoefficient * d }
        } else if plan.isEuler {
            let dt = plan.sigmaDown - plan.sigma
            next = sample.zip(denoised) { (x, d) in x + ((x - d) / plan.sigma) * dt }
        } else {
            stepStart = sample
            // x₂, the midpoint sample: the model's next input.
            return sample.zip(denoised) { (x, d) in plan.midpointRatio * x - plan.midpointCoefficient * d }
        }
        if plan.sigmaNext > 0 {
            let noise = random.normal(shape: modelOutput.shape)
            next = next.zip(noise) { (x, z) in x + z * plan.sigmaUp }
        }
        return next
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = callSigmas[stepIndex]
        return original.zip(noise) { (x, z) in x + z * sigma }
    }
}
