import Foundation
import LatentCore

/// DEIS: the diffusion exponential integrator sampler, a multistep method that integrates the noise prediction
/// exactly in ρ = σ/α with polynomial extrapolation in log ρ (A1111's "DEIS").
///
/// Matches: diffusers `DEISMultistepScheduler` (scheduling_deis_multistep.py, diffusers 0.42.1): `algorithm_type`
/// "deis", `solver_type` "logrho", orders 1 to 3 (default 2) with lower orders on the last steps of runs under 15
/// steps. Thresholding and flow-matching options are not supported.
/// Paper: Zhang & Chen, "Fast Sampling of Diffusion Models with Exponential Integrator" (ICLR 2023),
/// arXiv:2204.13902.
public struct DEISMultistepScheduler: Scheduler {
    /// The training schedule (DEIS has no zero-SNR rescale).
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// The multistep order, 1 … 3.
    public let solverOrder: Int
    /// Whether runs shorter than 15 steps drop the order on their last steps (`lower_order_final`).
    public let lowerOrderFinal: Bool
    /// The integer training timestep of each model call.
    public let trainingTimesteps: [Int]
    /// σ of each model call followed by the final σ (σ of training step 0, or the last Karras/exponential σ
    /// repeated).
    public let sigmas: [Float]

    public var timesteps: [Float] { trainingTimesteps.map { Float($0) } }
    public var initNoiseSigma: Float { 1 }

    /// Noise predictions ε̂ of the latest calls, oldest first, at most `solverOrder`.
    private var history: [Tensor] = []
    /// Calls made so far, capped at `solverOrder` (`lower_order_nums`).
    private var warmedUp = 0

    /// Builds the scheduler diffusers' `DEISMultistepScheduler.from_config(configuration)` +
    /// `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take DEIS's defaults (`linspace`
    ///     spacing, order 2, `logrho`).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, an unsupported option or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        if configuration.thresholding ?? false { throw SchedulerError.unsupportedOption("thresholding (dynamic thresholding)") }
        if configuration.predictionType == "flow_prediction" {
            throw SchedulerError.unsupportedOption("prediction_type flow_prediction (flow matching)")
        }
        schedule = try NoiseSchedule.checked(configuration: configuration, stepCount: stepCount, allowsZeroSNRRescale: false)
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        solverOrder = configuration.solverOrder ?? 2
        guard (1...3).contains(solverOrder) else {
            throw SchedulerError.unsupportedOption("solver_order \(solverOrder) (DEIS implements orders 1 to 3)")
        }
        // diffusers maps the other solvers' names onto DEIS's only algorithm and solver type.
        let algorithm = configuration.algorithmType ?? "deis"
        guard ["deis", "dpmsolver", "dpmsolver++"].contains(algorithm) else {
            throw SchedulerError.invalidValue(key: "algorithm_type", value: algorithm, validValues: ["deis"])
        }
        let solver = configuration.solverType ?? "logrho"
        guard ["logrho", "midpoint", "heun", "bh1", "bh2"].contains(solver) else {
            throw SchedulerError.invalidValue(key: "solver_type", value: solver, validValues: ["logrho"])
        }
        lowerOrderFinal = configuration.lowerOrderFinal ?? true
        let spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .linspace)
        // DEIS has no sigma_min / sigma_max keys: the ramps always span the training sigmas.
        let grid = MultistepSchedule(
            schedule: schedule, spacing: spacing, stepsOffset: configuration.stepsOffset ?? 0, stepCount: stepCount,
            variant: try MultistepSchedule.variant(of: configuration), sigmaBounds: (nil, nil), finalZero: false)
        trainingTimesteps = grid.trainingTimesteps
        sigmas = grid.sigmas
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard trainingTimesteps.indices.contains(stepIndex) else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: trainingTimesteps.count)
        }
        let count = trainingTimesteps.count
        let shortRun = lowerOrderFinal && count < 15
        let lastStep = shortRun && stepIndex == count - 1
        let secondToLast = shortRun && stepIndex == count - 2

        // ε̂ re-derived through x̂₀, as diffusers does (it rounds differently from the raw output).
        let (alpha, sigma) = vpAlphaSigma(sigmas[stepIndex])
        let original = vpPredictedOriginal(modelOutput: modelOutput, sample: sample, alpha: alpha, sigma: sigma,
                                           prediction: predictionType)
        history.append(sample.zip(original) { (x, x0) in (x - alpha * x0) / sigma })
        if history.count > solverOrder { history.removeFirst() }

        let next: Tensor
        if solverOrder == 1 || warmedUp < 1 || lastStep {
            next = firstOrder(stepIndex, sample: sample)
        } else if solverOrder == 2 || warmedUp < 2 || secondToLast {
            next = secondOrder(stepIndex, sample: sample)
        } else {
            next = thirdOrder(stepIndex, sample: sample)
        }
        warmedUp = min(warmedUp + 1, solverOrder)
        return next
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let (alpha, sigma) = vpAlphaSigma(sigmas[stepIndex])
        return original.zip(noise) { (x, z) in alpha * x + sigma * z }
    }

    /// DDIM-like exponential-integrator step: x_t = (α_t/α_s)·x − σ_t(eʰ − 1)·ε̂.
    private func firstOrder(_ index: Int, sample: Tensor) -> Tensor {
        let (alphaT, sigmaT) = vpAlphaSigma(sigmas[index + 1])
        let (alphaS, sigmaS) = vpAlphaSigma(sigmas[index])
        let h = (logf(alphaT) - logf(sigmaT)) - (logf(alphaS) - logf(sigmaS))
        let ratio = alphaT / alphaS, scale = sigmaT * (expf(h) - 1)
        return sample.zip(history[history.count - 1]) { (x, e) in ratio * x - scale * e }
    }

    /// ρ = σ_vp/α at σ[`index`].
    private func rho(_ index: Int) -> Float {
        let (alpha, sigma) = vpAlphaSigma(sigmas[index])
        return sigma / alpha
    }

    /// Two-step log-ρ Lagrange extrapolation of ε̂, integrated exactly in ρ.
    private func secondOrder(_ index: Int, sample: Tensor) -> Tensor {
        let (alphaT, _) = vpAlphaSigma(sigmas[index + 1])
        let (alphaS0, _) = vpAlphaSigma(sigmas[index])
        let (rhoT, rhoS0, rhoS1) = (rho(index + 1), rho(index), rho(index - 1))
        // ∫ of the Lagrange basis for node b (other node c) in ρ, up to the lower limit.
        func integral(_ t: Float, _ b: Float, _ c: Float) -> Float {
            t * (-logf(c) + logf(t) - 1) / (logf(b) - logf(c))
        }
        let coef1 = integral(rhoT, rhoS0, rhoS1) - integral(rhoS0, rhoS0, rhoS1)
        let coef2 = integral(rhoT, rhoS1, rhoS0) - integral(rhoS0, rhoS1, rhoS0)
        let m0 = history[history.count - 1], m1 = history[history.count - 2]
        var inner = sample.zip(m0) { (x, e) in x / alphaS0 + coef1 * e }
        inner = inner.zip(m1) { (v, e) in v + coef2 * e }
        return inner.map { alphaT * $0 }
    }

    /// Three-step log-ρ Lagrange extrapolation of ε̂, integrated exactly in ρ.
    private func thirdOrder(_ index: Int, sample: Tensor) -> Tensor {
        let (alphaT, _) = vpAlphaSigma(sigmas[index + 1])
        let (alphaS0, _) = vpAlphaSigma(sigmas[index])
        let (rhoT, rhoS0, rhoS1, rhoS2) = (rho(index + 1), rho(index), rho(index - 1), rho(index - 2))
        func integral(_ t: Float, _ b: Float, _ c: Float, _ d: Float) -> Float {
            let (lt, lc, ld) = (logf(t), logf(c), logf(d))
            let numerator = t * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2)
            return numerator / ((logf(b) - lc) * (logf(b) - ld))
        }
        let coef1 = integral(rhoT, rhoS0, rhoS1, rhoS2) - integral(rhoS0, rhoS0, rhoS1, rhoS2)
        let coef2 = integral(rhoT, rhoS1, rhoS2, rhoS0) - integral(rhoS0, rhoS1, rhoS2, rhoS0)
        let coef3 = integral(rhoT, rhoS2, rhoS0, rhoS1) - integral(rhoS0, rhoS2, rhoS0, rhoS1)
        let m0 = history[history.count - 1], m1 = history[history.count - 2], m2 = history[history.count - 3]
        var inner = sample.zip(m0) { (x, e) in x / alphaS0 + coef1 * e }
        inner = inner.zip(m1) { (v, e) in v + coef2 * e }
        inner = inner.zip(m2) { (v, e) in v + coef3 * e }
        return inner.map { alphaT * $0 }
    }
}
