import Foundation
import LatentCore

/// DPM-Solver++ multistep sampling, deterministic or stochastic (A1111's "DPM++ 2M" and "DPM++ 2M SDE").
///
/// Matches: diffusers `DPMSolverMultistepScheduler` (scheduling_dpmsolver_multistep.py, diffusers 0.42.1) for
/// `algorithm_type` `dpmsolver++` and `sde-dpmsolver++`, solver orders 1–3, `midpoint` and `heun` solver types.
/// The class's defaults apply to keys the model's configuration lacks (`from_config`): `linspace` spacing,
/// `lower_order_final` true, `euler_at_final` false, `final_sigmas_type` `zero` (so the last step is always first
/// order and lands on the predicted x₀), no Karras/exponential/Lu sigmas, `lambda_min_clipped` −∞. A Stable
/// Diffusion `scheduler_config.json` contributes only its betas, `prediction_type`, `steps_offset` (used by
/// `leading` spacing) and `timestep_spacing` if present. Unlike the Euler family, timesteps are integers (Karras
/// and Lu timesteps rounded, exponential ones truncated, as diffusers casts them), and the model input is not
/// scaled (`init_noise_sigma` = 1; the update works on the variance-preserving sample).
/// Paper: Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
/// Probabilistic Models" (2022), arXiv:2211.01095 (multistep data-prediction solver, §4; the SDE variant is the
/// paper's Appendix SDE-DPM-Solver++, as diffusers implements it).
public struct DPMSolverMultistepScheduler: Scheduler {
    /// The solver family (`algorithm_type`).
    public enum Algorithm: String, SchedulerConfigurationValue {
        /// DPM-Solver++: the deterministic ODE solver on the data prediction.
        case dpmSolverPlusPlus = "dpmsolver++"
        /// SDE-DPM-Solver++: the stochastic variant, fresh noise every step.
        case sdeDPMSolverPlusPlus = "sde-dpmsolver++"
    }

    /// The second-order update rule (`solver_type`).
    public enum SolverType: String, SchedulerConfigurationValue {
        /// The midpoint rule (diffusers' default, recommended).
        case midpoint
        /// Heun's rule.
        case heun
    }

    /// The training schedule (ᾱ of the last timestep pinned to 2⁻²⁴ after a zero-SNR rescale).
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// The solver family.
    public let algorithm: Algorithm
    /// The highest order used (1, 2 or 3).
    public let solverOrder: Int
    /// The second-order update rule.
    public let solverType: SolverType
    /// σ of each model call, followed by the final σ (0 or the smallest training σ).
    public let sigmas: [Float]
    public let timesteps: [Float]
    public let initNoiseSigma: Float = 1

    private let lowerOrderFinal: Bool
    private let eulerAtFinal: Bool
    private let finalSigmaIsZero: Bool
    /// The data predictions x̂₀ of the last `solverOrder` calls, oldest first.
    private var history: [Tensor] = []
    /// How many calls have fed the history, capped at `solverOrder` (diffusers' `lower_order_nums`).
    private var lowerOrderCount = 0

    /// Builds the scheduler diffusers' `DPMSolverMultistepScheduler.from_config(configuration)` +
    /// `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take the class defaults (see above).
    ///     `SchedulerKind.dpmpp2m` / `.dpmpp2mSDE` set `algorithm_type` and `solver_order` before calling this.
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    /// - Throws: `SchedulerError` for an unknown value, an option Latent does not implement (deprecated
    ///   `dpmsolver`/`sde-dpmsolver`, thresholding, learned variance, beta/flow sigmas), conflicting sigma options
    ///   or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        schedule = try NoiseSchedule.pinningZeroSNR(configuration: configuration, stepCount: stepCount)
        let trainCount = schedule.trainTimesteps

        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        // diffusers silently maps DEIS's algorithm and UniPC/DEIS solver types onto its own.
        let algorithmName = configuration.algorithmType == "deis" ? "dpmsolver++" : configuration.algorithmType
        if let name = algorithmName, ["dpmsolver", "sde-dpmsolver"].contains(name) {
            throw SchedulerError.unsupportedOption("algorithm_type \(name) (deprecated in diffusers; use dpmsolver++ or sde-dpmsolver++)")
        }
        algorithm = try Algorithm.parse(algorithmName, key: "algorithm_type", default: .dpmSolverPlusPlus)
        let solverName = ["logrho", "bh1", "bh2"].contains(configuration.solverType ?? "") ? "midpoint" : configuration.solverType
        solverType = try SolverType.parse(solverName, key: "solver_type", default: .midpoint)
        solverOrder = configuration.solverOrder ?? 2
        guard (1...3).contains(solverOrder) else {
            throw SchedulerError.invalidValue(key: "solver_order", value: String(solverOrder), validValues: ["1", "2", "3"])
        }
        lowerOrderFinal = configuration.lowerOrderFinal ?? true
        eulerAtFinal = configuration.eulerAtFinal ?? false
        let finalType = try FinalSigmasType.parse(configuration.finalSigmasType, key: "final_sigmas_type", default: .zero)
        finalSigmaIsZero = finalType == .zero
        let spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .linspace)
        if configuration.thresholding ?? false { throw SchedulerError.unsupportedOption("thresholding") }
        if configuration.useBetaSigmas ?? false { throw SchedulerError.unsupportedOption("use_beta_sigmas") }
        if configuration.useFlowSigmas ?? false { throw SchedulerError.unsupportedOption("use_flow_sigmas") }
        if let variance = configuration.varianceType, ["learned", "learned_range"].contains(variance) {
            throw SchedulerError.unsupportedOption("variance_type \(variance)")
        }
        let karras = configuration.useKarrasSigmas ?? false
        let exponential = configuration.useExponentialSigmas ?? false
        if karras && exponential {
            throw SchedulerError.invalidConfiguration("only one of use_karras_sigmas and use_exponential_sigmas can be set")
        }

        // Timesteps whose log-SNR λ = log α − log σ falls below the clip are never scheduled.
        let lambdas = schedule.alphasCumprod.map { logf($0.squareRoot()) - logf((1 - $0).squareRoot()) }
        let clip = configuration.lambdaMinClipped ?? -.infinity
        let clippedCount = lambdas.reversed().prefix { Double($0) < clip }.count
        let lastTimestep = trainCount - clippedCount

        var integerTimesteps: [Int]
        switch spacing {
        case .linspace:
            // n + 1 points from 0 to the last timestep, the 0 dropped.
            let points = NoiseSchedule.numpyLinspace(0, Double(lastTimestep - 1), count: stepCount + 1)
            integerTimesteps = Array(points.map { Int($0.rounded(.toNearestOrEven)) }.reversed().dropLast())
        case .leading:
            let ratio = lastTimestep / (stepCount + 1)
            integerTimesteps = (1...stepCount).reversed().map { $0 * ratio + (configuration.stepsOffset ?? 0) }
        case .trailing:
            let ratio = Double(trainCount) / Double(stepCount)
            integerTimesteps = NoiseSchedule.numpyArange(Double(lastTimestep), 0, step: -ratio)
                .map { Int($0.rounded(.toNearestOrEven)) - 1 }
        }

        let table = schedule.sigmas  // float32, ascending in t
        let logSigmas = table.map { logf($0) }
        var callSigmas: [Double]
        // Rounding applies to Karras and Lu timesteps except on the cosine schedule; the int64 cast truncates.
        let roundsTimesteps = configuration.betaSchedule != BetaSchedule.squaredcosCapV2.rawValue
        func placed(_ sigmas: [Double], rounding: Bool) -> [Int] {
            sigmas.map {
                let t = NoiseSchedule.timestep(forSigma: $0, logSigmas: logSigmas)
                return Int(rounding ? t.rounded(.toNearestOrEven) : t)
            }
        }
        if karras {
            callSigmas = NoiseSchedule.karrasSigmas(sigmaMin: Double(table[0]), sigmaMax: Double(table[trainCount - 1]), count: stepCount)
            integerTimesteps = placed(callSigmas, rounding: roundsTimesteps)
        } else if configuration.useLuLambdas ?? false {
            // diffusers spaces log σ (its "lambdas") evenly between the training extremes.
            let high = Double(logSigmas[trainCount - 1]), low = Double(logSigmas[0])
            callSigmas = NoiseSchedule.numpyLinspace(0, 1, count: stepCount).map { exp(high + $0 * (low - high)) }
            integerTimesteps = placed(callSigmas, rounding: roundsTimesteps)
        } else if exponential {
            callSigmas = NoiseSchedule.exponentialSigmas(sigmaMin: Double(table[0]), sigmaMax: Double(table[trainCount - 1]), count: stepCount)
            integerTimesteps = placed(callSigmas, rounding: false)
        } else {
            callSigmas = integerTimesteps.map { NoiseSchedule.interpolate(Double($0), table: table) }
        }
        let last: Float = finalSigmaIsZero ? 0 : ((1 - schedule.alphasCumprod[0]) / schedule.alphasCumprod[0]).squareRoot()
        sigmas = callSigmas.map { Float($0) } + [last]
        timesteps = integerTimesteps.map { Float($0) }
    }

    /// DPM-Solver works on the unscaled variance-preserving sample: the model input is the sample itself.
    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard timesteps.indices.contains(stepIndex), stepIndex + 1 < sigmas.count else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: timesteps.count)
        }
        let count = timesteps.count
        let shortRun = lowerOrderFinal && count < 15
        let finalFirstOrder = stepIndex == count - 1 && (eulerAtFinal || shortRun || finalSigmaIsZero)
        let secondToLastLowered = stepIndex == count - 2 && shortRun

        history.append(dataPrediction(modelOutput, sample: sample, sigma: sigmas[stepIndex]))
        if history.count > solverOrder { history.removeFirst() }
        // diffusers draws the SDE noise on every step, before choosing the order.
        let noise: Tensor? = algorithm == .sdeDPMSolverPlusPlus ? random.normal(shape: modelOutput.shape) : nil

        let next: Tensor
        if solverOrder == 1 || lowerOrderCount < 1 || finalFirstOrder {
            next = firstOrderUpdate(sample: sample, stepIndex: stepIndex, noise: noise)
        } else if solverOrder == 2 || lowerOrderCount < 2 || secondToLastLowered {
            next = secondOrderUpdate(sample: sample, stepIndex: stepIndex, noise: noise)
        } else {
            next = thirdOrderUpdate(sample: sample, stepIndex: stepIndex, noise: noise)
        }
        if lowerOrderCount < solverOrder { lowerOrderCount += 1 }
        return next
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let (alpha, sigma) = Self.alphaSigma(sigmas[stepIndex])
        return original.zip(noise) { (x, z) in alpha * x + sigma * z }
    }

    // MARK: - Solver arithmetic (float32 scalars, in diffusers' order of operations)

    /// (αₜ, σₜ) of the variance-preserving process at the σ of the Euler parameterisation.
    private static func alphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    /// λ = log α − log σ; +∞ at σ = 0, which makes the final zero-σ step return x̂₀ exactly.
    private static func lambda(_ alphaSigma: (alpha: Float, sigma: Float)) -> Float {
        logf(alphaSigma.alpha) - logf(alphaSigma.sigma)
    }

    /// x̂₀ from the model output (diffusers' `convert_model_output` for the ++ algorithms).
    private func dataPrediction(_ output: Tensor, sample: Tensor, sigma: Float) -> Tensor {
        let (alpha, sigmaT) = Self.alphaSigma(sigma)
        switch predictionType {
        case .epsilon: return sample.zip(output) { (x, e) in (x - sigmaT * e) / alpha }
        case .vPrediction: return sample.zip(output) { (x, v) in alpha * x - sigmaT * v }
        case .sample: return output
        }
    }

    /// One DPM-Solver++(1) step (DDIM in data-prediction form).
    private func firstOrderUpdate(sample: Tensor, stepIndex: Int, noise: Tensor?) -> Tensor {
        let t = Self.alphaSigma(sigmas[stepIndex + 1]), s = Self.alphaSigma(sigmas[stepIndex])
        let h = Self.lambda(t) - Self.lambda(s)
        let m0 = history[history.count - 1]
        if let noise {
            let a = t.sigma / s.sigma * expf(-h), b = t.alpha * (1 - expf(-2 * h)), c = t.sigma * (1 - expf(-2 * h)).squareRoot()
            return Self.combine(sample, a, [(m0, b)], noise: noise, c)
        }
        let a = t.sigma / s.sigma, b = t.alpha * (expf(-h) - 1)
        return Self.combine(sample, a, [(m0, -b)])
    }

    /// One multistep DPM-Solver++(2M) step from the last two data predictions.
    private func secondOrderUpdate(sample: Tensor, stepIndex: Int, noise: Tensor?) -> Tensor {
        let t = Self.alphaSigma(sigmas[stepIndex + 1])
        let s0 = Self.alphaSigma(sigmas[stepIndex]), s1 = Self.alphaSigma(sigmas[stepIndex - 1])
        let lambdaT = Self.lambda(t), lambda0 = Self.lambda(s0), lambda1 = Self.lambda(s1)
        let h = lambdaT - lambda0, h0 = lambda0 - lambda1
        let r0 = h0 / h
        let m0 = history[history.count - 1], m1 = history[history.count - 2]
        let d1Scale = 1 / r0
        let d1 = m0.zip(m1) { (a, b) in d1Scale * (a - b) }
        if let noise {
            let a = t.sigma / s0.sigma * expf(-h), b = t.alpha * (1 - expf(-2 * h))
            let c = solverType == .midpoint ? 0.5 * b : t.alpha * ((1 - expf(-2 * h)) / (-2 * h) + 1)
            let z = t.sigma * (1 - expf(-2 * h)).squareRoot()
            return Self.combine(sample, a, [(m0, b), (d1, c)], noise: noise, z)
        }
        let a = t.sigma / s0.sigma, b = t.alpha * (expf(-h) - 1)
        let c = solverType == .midpoint ? -(0.5 * b) : t.alpha * ((expf(-h) - 1) / h + 1)
        return Self.combine(sample, a, [(m0, -b), (d1, c)])
    }

    /// One multistep DPM-Solver++(3M) step from the last three data predictions.
    private func thirdOrderUpdate(sample: Tensor, stepIndex: Int, noise: Tensor?) -> Tensor {
        let t = Self.alphaSigma(sigmas[stepIndex + 1])
        let s0 = Self.alphaSigma(sigmas[stepIndex]), s1 = Self.alphaSigma(sigmas[stepIndex - 1])
        let s2 = Self.alphaSigma(sigmas[stepIndex - 2])
        let lambdaT = Self.lambda(t), lambda0 = Self.lambda(s0), lambda1 = Self.lambda(s1), lambda2 = Self.lambda(s2)
        let h = lambdaT - lambda0, h0 = lambda0 - lambda1, h1 = lambda1 - lambda2
        let r0 = h0 / h, r1 = h1 / h
        let m0 = history[history.count - 1], m1 = history[history.count - 2], m2 = history[history.count - 3]
        let scale0 = 1 / r0, scale1 = 1 / r1
        let d10 = m0.zip(m1) { (a, b) in scale0 * (a - b) }
        let d11 = m1.zip(m2) { (a, b) in scale1 * (a - b) }
        let mix = r0 / (r0 + r1), d2Scale = 1 / (r0 + r1)
        let d1 = d10.zip(d11) { (a, b) in a + mix * (a - b) }
        let d2 = d10.zip(d11) { (a, b) in d2Scale * (a - b) }
        if let noise {
            let e2 = expf(-2 * h)
            let a = t.sigma / s0.sigma * expf(-h), b = t.alpha * (1 - e2)
            let c = t.alpha * ((1 - e2) / (-2 * h) + 1)
            let twoH = 2 * h
            let d = t.alpha * ((1 - e2 - 2 * h) / (twoH * twoH) - 0.5)
            let z = t.sigma * (1 - e2).squareRoot()
            return Self.combine(sample, a, [(m0, b), (d1, c), (d2, d)], noise: noise, z)
        }
        let e = expf(-h)
        let a = t.sigma / s0.sigma, b = t.alpha * (e - 1)
        let c = t.alpha * ((e - 1) / h + 1)
        let d = t.alpha * ((e - 1 + h) / (h * h) - 0.5)
        return Self.combine(sample, a, [(m0, -b), (d1, c), (d2, -d)])
    }

    /// a·x + Σ cᵢ·tᵢ (+ z·noise), summed left to right as diffusers' expression is evaluated (subtracting c·t
    /// equals adding (−c)·t exactly, so diffusers' minus signs live in the coefficients).
    private static func combine(_ sample: Tensor, _ a: Float, _ terms: [(Tensor, Float)], noise: Tensor? = nil,
                                _ noiseScale: Float = 0) -> Tensor {
        var result = sample.map { a * $0 }
        for (tensor, scale) in terms {
            result = result.zip(tensor) { (r, v) in r + scale * v }
        }
        if let noise { result = result.zip(noise) { (r, z) in r + noiseScale * z } }
        return result
    }
}
