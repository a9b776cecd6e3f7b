import LatentCore

/// Pseudo numerical methods for diffusion models: linear multistep (PLMS, A1111's "PLMS") with an optional
/// Runge–Kutta warm-up.
///
/// Matches: diffusers `PNDMScheduler` (scheduling_pndm.py, diffusers 0.42.1).
/// Paper: Liu, Ren, Lin & Zhao, "Pseudo Numerical Methods for Diffusion Models on Manifolds" (ICLR 2022),
/// arXiv:2202.09778.
///
/// With `skip_prk_steps` (Stable Diffusion 1.x configs) the first timestep's successor is visited twice: the
/// second call at it completes a second-order (Heun-like) step from the saved first sample. Without it, the first
/// three strides are 12 Runge–Kutta model calls and PLMS follows.
public struct PNDMScheduler: Scheduler {
    /// The training schedule.
    public let schedule: NoiseSchedule
    /// What the model predicts (`epsilon` or `v_prediction`).
    public let predictionType: PredictionType
    /// The requested number of inference steps (`num_inference_steps`).
    public let stepCount: Int
    /// Whether the Runge–Kutta warm-up is skipped.
    public let skipsRungeKutta: Bool
    /// The integer training timestep of each model call: the Runge–Kutta calls, then the PLMS calls.
    public let trainingTimesteps: [Int]
    /// How many leading entries of `trainingTimesteps` are Runge–Kutta calls.
    public let rungeKuttaCallCount: Int
    /// ᾱ used after the last step (`final_alpha_cumprod`).
    public let finalAlphaCumprod: Float

    /// Model calls made so far (diffusers' `counter`): the update depends on it, not on the index.
    private var counter = 0
    /// Past model outputs used by the multistep formula, oldest first (`ets`).
    private var history: [Tensor] = []
    /// The sample at the start of the current multi-call step (`cur_sample`).
    private var stepStartSample: Tensor?
    /// The weighted sum of Runge–Kutta model outputs so far (`cur_model_output`).
    private var rungeKuttaSum: Tensor?

    public var timesteps: [Float] { trainingTimesteps.map { Float($0) } }
    public var initNoiseSigma: Float { 1 }

    /// Builds the scheduler diffusers' `PNDMScheduler.from_config(configuration)` + `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take PNDM's defaults
    ///     (`skip_prk_steps` false, `set_alpha_to_one` false, `leading` spacing).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps` (at least 4 with the Runge–Kutta warm-up).
    /// - Throws: `SchedulerError` for an unknown value, `sample` prediction or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        schedule = try NoiseSchedule(configuration: configuration, allowsZeroSNRRescale: false)
        let trainCount = schedule.trainTimesteps
        guard stepCount >= 1, stepCount <= trainCount else { throw SchedulerError.invalidStepCount(stepCount, maximum: trainCount) }
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        guard predictionType != .sample else {
            throw SchedulerError.unsupportedPrediction(scheduler: "PNDMScheduler", prediction: predictionType.rawValue)
        }
        let spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .leading)
        self.stepCount = stepCount
        skipsRungeKutta = configuration.skipPrkSteps ?? false
        finalAlphaCumprod = (configuration.setAlphaToOne ?? false) ? 1 : schedule.alphasCumprod[0]

        // Ascending base timesteps (`_timesteps`).
        let raw = NoiseSchedule.spacedTimesteps(spacing, count: stepCount, trainTimesteps: trainCount,
                                                stepsOffset: configuration.stepsOffset ?? 0)
        let base: [Int] = switch spacing {
        case .linspace: raw.reversed().map { Int($0.rounded(.toNearestOrEven)) }
        case .leading: raw.reversed().map { Int($0) }
        case .trailing: raw.reversed().map { Int($0) - 1 }
        }
        if skipsRungeKutta {
            // All but the last, the second-to-last again, then the last; visited from the top down.
            var plms = Array(base.dropLast())
            if base.count >= 2 { plms.append(base[base.count - 2]) }
            plms.append(base[base.count - 1])
            trainingTimesteps = plms.reversed()
            rungeKuttaCallCount = 0
        } else {
            guard base.count >= 4 else { throw SchedulerError.tooFewStepsForRungeKutta(base.count) }
            let half = trainCount / stepCount / 2
            // Each of the top four timesteps and its midpoint, each visited twice (first and last only once).
            let top = base.suffix(4)
            var points: [Int] = []
            for t in top { points += [t, t + half] }
            points.removeLast()
            let doubled = points.flatMap { [$0, $0] }
            let rungeKutta = Array(doubled.dropFirst().dropLast().reversed())
            trainingTimesteps = rungeKutta + base.dropLast(3).reversed()
            rungeKuttaCallCount = rungeKutta.count
        }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard trainingTimesteps.indices.contains(stepIndex) else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: trainingTimesteps.count)
        }
        let timestep = trainingTimesteps[stepIndex]
        defer { counter += 1 }
        if !skipsRungeKutta && counter < rungeKuttaCallCount {
            return rungeKuttaStep(modelOutput: modelOutput, timestep: timestep, sample: sample)
        }
        return linearMultistepStep(modelOutput: modelOutput, timestep: timestep, sample: sample)
    }

    /// One of the four calls of a classical Runge–Kutta stride (weights 1/6, 1/3, 1/3, 1/6).
    private mutating func rungeKuttaStep(modelOutput: Tensor, timestep: Int, sample: Tensor) -> Tensor {
        let halfStride = counter % 2 == 1 ? 0 : schedule.trainTimesteps / stepCount / 2
        let previous = timestep - halfStride
        let strideStart = trainingTimesteps[counter / 4 * 4]
        var output = modelOutput
        switch counter % 4 {
        case 0:
            rungeKuttaSum = accumulate(rungeKuttaSum, modelOutput, weight: Float(1.0 / 6.0))
            history.append(modelOutput)
            stepStartSample = sample
        case 1, 2:
            rungeKuttaSum = accumulate(rungeKuttaSum, modelOutput, weight: Float(1.0 / 3.0))
        default:
            let sixth = Float(1.0 / 6.0)
            output = rungeKuttaSum.map { sum in sum.zip(modelOutput) { $0 + sixth * $1 } } ?? modelOutput.map { sixth * $0 }
            rungeKuttaSum = nil
        }
        return previousSample(stepStartSample ?? sample, from: strideStart, to: previous, modelOutput: output)
    }

    /// `sum + weight · value`, starting from zero.
    private func accumulate(_ sum: Tensor?, _ value: Tensor, weight: Float) -> Tensor {
        guard let sum else { return value.map { weight * $0 } }
        return sum.zip(value) { $0 + weight * $1 }
    }

    /// An Adams–Bashforth step of order up to four over the stored model outputs.
    private mutating func linearMultistepStep(modelOutput: Tensor, timestep: Int, sample: Tensor) -> Tensor {
        let stride = schedule.trainTimesteps / stepCount
        var from = timestep, to = timestep - stride
        if counter != 1 {
            history = Array(history.suffix(3))
            history.append(modelOutput)
        } else {
            // The repeated call: redo the first stride from its saved start with the averaged slope.
            to = timestep
            from = timestep + stride
        }
        var start = sample
        let output: Tensor
        if history.count == 1 && counter == 0 {
            output = modelOutput
            stepStartSample = sample
        } else if history.count == 1 && counter == 1 {
            let first = history[history.count - 1]
            output = modelOutput.zip(first) { ($0 + $1) / 2 }
            if let saved = stepStartSample { start = saved }
            stepStartSample = nil
        } else if history.count == 2 {
            let (e1, e2) = (history[1], history[0])
            output = e1.zip(e2) { (3 * $0 - $1) / 2 }
        } else if history.count == 3 {
            let (e1, e2, e3) = (history[2], history[1], history[0])
            output = Tensor(uninitializedShape: e1.shape) { out in
                for i in 0..<out.count { out[i] = (23 * e1.scalars[i] - 16 * e2.scalars[i] + 5 * e3.scalars[i]) / 12 }
            }
        } else {
            let n = history.count
            let (e1, e2, e3, e4) = (history[n - 1], history[n - 2], history[n - 3], history[n - 4])
            let scale = Float(1.0 / 24.0)
            output = Tensor(uninitializedShape: e1.shape) { out in
                for i in 0..<out.count {
                    out[i] = scale * (55 * e1.scalars[i] - 59 * e2.scalars[i] + 37 * e3.scalars[i] - 9 * e4.scalars[i])
                }
            }
        }
        return previousSample(start, from: from, to: to, modelOutput: output)
    }

    /// The PNDM transfer from timestep `from` to `to` given a noise estimate (eq. 11 of the paper).
    private func previousSample(_ sample: Tensor, from t: Int, to previous: Int, modelOutput: Tensor) -> Tensor {
        let alphaT = schedule.alphaCumprod(at: t)
        let alphaPrev = previous >= 0 ? schedule.alphaCumprod(at: previous) : finalAlphaCumprod
        let betaT = 1 - alphaT, betaPrev = 1 - alphaPrev
        var epsilon = modelOutput
        if predictionType == .vPrediction {
            let (a, b) = (alphaT.squareRoot(), betaT.squareRoot())
            epsilon = modelOutput.zip(sample) { (v, x) in a * v + b * x }
        }
        let sampleScale = (alphaPrev / alphaT).squareRoot()
        let denominator = alphaT * betaPrev.squareRoot() + (alphaT * betaT * alphaPrev).squareRoot()
        let difference = alphaPrev - alphaT
        return sample.zip(epsilon) { (x, e) in sampleScale * x - difference * e / denominator }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let alpha = schedule.alphaCumprod(at: trainingTimesteps[stepIndex])
        let (a, b) = (alpha.squareRoot(), (1 - alpha).squareRoot())
        return original.zip(noise) { (x, z) in a * x + b * z }
    }
}
