import Foundation
import LatentCore

/// UniPC: a multistep predictor (UniP) refined by a corrector (UniC) that reuses the next model call, on the
/// exponential-integrator form of the diffusion ODE (A1111's "UniPC").
///
/// Matches: diffusers `UniPCMultistepScheduler` (scheduling_unipc_multistep.py, diffusers 0.42.1) with its
/// defaults: B(h) = eᵇ − 1 (`bh2`), `solver_order` 2, updates on x̂₀ (`predict_x0`), corrector on every step after
/// the first, lower orders on the final steps. Any `solver_order`, `bh1`, noise-space updates and
/// `disable_corrector` are supported; `solver_p`, thresholding and flow-matching options are not.
/// Paper: Zhao, Bai, Rao, Zhou & Lu, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
/// Diffusion Models" (NeurIPS 2023), arXiv:2302.04867.
public struct UniPCMultistepScheduler: Scheduler {
    /// The training schedule (ᾱ of the last timestep pinned to 2⁻²⁴ after a zero-SNR rescale).
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// The multistep order p (the corrector makes the method order p + 1).
    public let solverOrder: Int
    /// `bh1` (B(h) = h) instead of the default `bh2` (B(h) = eʰ − 1).
    public let usesBH1: Bool
    /// Whether the solver works on x̂₀ (`predict_x0`, the default) rather than on ε̂.
    public let predictsOriginal: Bool
    /// Whether the order drops on the last steps (`lower_order_final`).
    public let lowerOrderFinal: Bool
    /// Step indices after which the corrector is skipped (`disable_corrector`).
    public let disabledCorrectorSteps: Set<Int>
    /// The integer training timestep of each model call.
    public let trainingTimesteps: [Int]
    /// σ of each model call followed by the final σ (k-diffusion σ; α = 1/√(σ²+1)).
    public let sigmas: [Float]

    public var timesteps: [Float] { trainingTimesteps.map { Float($0) } }
    public var initNoiseSigma: Float { 1 }

    /// Converted outputs (x̂₀ or ε̂) of the latest calls, oldest first, at most `solverOrder`.
    private var history: [Tensor] = []
    /// Calls made so far, capped at `solverOrder` (`lower_order_nums`, the warm-up counter).
    private var warmedUp = 0
    /// The predictor's input of the previous call, which the corrector refines.
    private var lastSample: Tensor?
    /// The order the previous predictor used; the corrector repeats it.
    private var lastOrder = 1

    /// Builds the scheduler diffusers' `UniPCMultistepScheduler.from_config(configuration)` +
    /// `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take UniPC's defaults (`linspace`
    ///     spacing, order 2, `bh2`, `predict_x0`, final σ 0).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, an unsupported option or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        if configuration.thresholding ?? false { throw SchedulerError.unsupportedOption("thresholding (dynamic thresholding)") }
        if configuration.predictionType == "flow_prediction" {
            throw SchedulerError.unsupportedOption("prediction_type flow_prediction (flow matching)")
        }
        var schedule = try NoiseSchedule(configuration: configuration, allowsZeroSNRRescale: true)
        if configuration.rescaleBetasZeroSnr ?? false {
            schedule.setLastAlphaCumprod(Float(1.0 / 16_777_216.0))
        }
        self.schedule = schedule
        guard stepCount >= 1, stepCount <= schedule.trainTimesteps else {
            throw SchedulerError.invalidStepCount(stepCount, maximum: schedule.trainTimesteps)
        }
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        solverOrder = configuration.solverOrder ?? 2
        guard solverOrder >= 1 else { throw SchedulerError.invalidConfiguration("solver_order \(solverOrder) must be at least 1") }
        switch configuration.solverType ?? "bh2" {
        case "bh1": usesBH1 = true
        // diffusers maps the DPM-Solver / DEIS solver names onto bh2.
        case "bh2", "midpoint", "heun", "logrho": usesBH1 = false
        case let other:
            throw SchedulerError.invalidValue(key: "solver_type", value: other, validValues: ["bh1", "bh2"])
        }
        predictsOriginal = configuration.predictX0 ?? true
        lowerOrderFinal = configuration.lowerOrderFinal ?? true
        disabledCorrectorSteps = Set(configuration.disableCorrector ?? [])
        let spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .linspace)
        let finalType = try FinalSigmasType.parse(configuration.finalSigmasType, key: "final_sigmas_type", default: .zero)
        // The step to σ = 0 has an infinite log-SNR step h: B(h) = h (bh1) or e^h (noise-space updates) make
        // diffusers' last update ∞ · 0 = NaN, so those combinations need a non-zero final σ.
        if finalType == .zero && (usesBH1 || !predictsOriginal) {
            let option = usesBH1 ? "solver_type bh1" : "predict_x0 false"
            throw SchedulerError.invalidConfiguration(
                "\(option) needs final_sigmas_type sigma_min: with zero the last step is undefined (NaN in diffusers)")
        }
        let grid = MultistepSchedule(
            schedule: schedule, spacing: spacing, stepsOffset: configuration.stepsOffset ?? 0, stepCount: stepCount,
            variant: try MultistepSchedule.variant(of: configuration),
            sigmaBounds: (configuration.sigmaMin, configuration.sigmaMax), finalZero: finalType == .zero)
        trainingTimesteps = grid.trainingTimesteps
        sigmas = grid.sigmas
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard trainingTimesteps.indices.contains(stepIndex) else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: trainingTimesteps.count)
        }
        let converted = convert(modelOutput, sample: sample, sigma: sigmas[stepIndex])
        var sample = sample
        // UniC: now that the model has seen the predicted sample, redo the previous step with its output.
        if stepIndex > 0, !disabledCorrectorSteps.contains(stepIndex - 1), let lastSample {
            sample = update(order: lastOrder, from: stepIndex - 1, to: stepIndex, sample: lastSample, newOutput: converted)
        }
        history.append(converted)
        if history.count > solverOrder { history.removeFirst() }
        var order = lowerOrderFinal ? min(solverOrder, trainingTimesteps.count - stepIndex) : solverOrder
        order = min(order, warmedUp + 1)
        lastOrder = order
        lastSample = sample
        let next = update(order: order, from: stepIndex, to: stepIndex + 1, sample: sample, newOutput: nil)
        warmedUp = min(warmedUp + 1, solverOrder)
        return next
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let (alpha, sigma) = vpAlphaSigma(sigmas[stepIndex])
        return original.zip(noise) { (x, z) in alpha * x + sigma * z }
    }

    /// The solver's working quantity: x̂₀ (`predict_x0`) or ε̂.
    private func convert(_ modelOutput: Tensor, sample: Tensor, sigma: Float) -> Tensor {
        let (alpha, vpSigma) = vpAlphaSigma(sigma)
        if predictsOriginal {
            return vpPredictedOriginal(modelOutput: modelOutput, sample: sample, alpha: alpha, sigma: vpSigma, prediction: predictionType)
        }
        switch predictionType {
        case .epsilon: return modelOutput
        case .sample: return sample.zip(modelOutput) { (x, x0) in (x - alpha * x0) / vpSigma }
        case .vPrediction: return modelOutput.zip(sample) { (v, x) in alpha * v + vpSigma * x }
        }
    }

    /// One B(h) update of order p from σ[`source`] to σ[`target`]: the predictor UniP when `newOutput` is nil,
    /// else the corrector UniC using the model's output at the target. `history.last` is the output at `source`,
    /// earlier entries give the divided differences.
    private func update(order p: Int, from source: Int, to target: Int, sample x: Tensor, newOutput: Tensor?) -> Tensor {
        let (alphaT, sigmaT) = vpAlphaSigma(sigmas[target])
        let (alphaS0, sigmaS0) = vpAlphaSigma(sigmas[source])
        let lambdaS0 = logf(alphaS0) - logf(sigmaS0)
        let h = (logf(alphaT) - logf(sigmaT)) - lambdaS0
        guard let m0 = history.last else { return x }

        // Divided differences against earlier outputs, each at its relative log-SNR distance r_k.
        var ratios: [Float] = [], differences: [Tensor] = []
        for k in 1..<max(p, 1) where history.count - 1 - k >= 0 {
            let rk = (vpLambda(sigmas[source - k]) - lambdaS0) / h
            ratios.append(rk)
            differences.append(history[history.count - 1 - k].zip(m0) { (mi, m) in (mi - m) / rk })
        }
        ratios.append(1)

        // φ-function coefficients b_i = h φ_{i}(hh) · i! / B(h) and the Vandermonde rows R_i = r^(i−1).
        let hh = predictsOriginal ? -h : h
        let hPhi1 = expm1f(hh)
        var hPhiK = hPhi1 / hh - 1
        var factorial: Float = 1
        let bH = usesBH1 ? hh : expm1f(hh)
        var rows: [[Float]] = [], rhs: [Float] = []
        for i in 1...p {
            rows.append(ratios.map { powf($0, Float(i - 1)) })
            rhs.append(hPhiK * factorial / bH)
            factorial *= Float(i + 1)
            hPhiK = hPhiK / hh - 1 / factorial
        }

        let base: Tensor = predictsOriginal
            ? x.zip(m0) { [ratio = sigmaT / sigmaS0, scale = alphaT * hPhi1] (xv, m) in ratio * xv - scale * m }
            : x.zip(m0) { [ratio = alphaT / alphaS0, scale = sigmaT * hPhi1] (xv, m) in ratio * xv - scale * m }
        let weight = (predictsOriginal ? alphaT : sigmaT) * bH

        if let newOutput {
            let rhos: [Float] = p == 1 ? [0.5] : solveLinearSystem(rows, rhs)
            var correction = newOutput.zip(m0) { [last = rhos[rhos.count - 1]] (mt, m) in last * (mt - m) }
            if !differences.isEmpty {
                let residual = weightedSum(rhos, differences)
                correction = residual + correction
            }
            return base.zip(correction) { (b, c) in b - weight * c }
        }
        guard !differences.isEmpty else { return base }
        let rhos: [Float] = p == 2 ? [0.5] : solveLinearSystem(rows.dropLast().map { Array($0.dropLast()) }, Array(rhs.dropLast()))
        let residual = weightedSum(rhos, differences)
        return base.zip(residual) { (b, r) in b - weight * r }
    }

    /// Σₖ ρₖ·Dₖ over the differences (the `einsum` in diffusers).
    private func weightedSum(_ rhos: [Float], _ differences: [Tensor]) -> Tensor {
        var sum = differences[0].map { rhos[0] * $0 }
        for k in 1..<differences.count {
            sum = sum.zip(differences[k]) { [rho = rhos[k]] (s, d) in s + rho * d }
        }
        return sum
    }
}
