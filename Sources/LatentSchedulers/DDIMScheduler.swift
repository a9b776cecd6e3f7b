import LatentCore

/// Denoising Diffusion Implicit Models: the deterministic (η = 0) or partly stochastic non-Markovian sampler.
///
/// Matches: diffusers `DDIMScheduler` (scheduling_ddim.py, diffusers 0.42.1).
/// Paper: Song, Meng & Ermon, "Denoising Diffusion Implicit Models" (ICLR 2021), arXiv:2010.02502.
public struct DDIMScheduler: Scheduler {
    /// The training schedule.
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// The requested number of inference steps (`num_inference_steps`).
    public let stepCount: Int
    /// Noise weight: 0 is DDIM, 1 is DDPM-like ancestral sampling (`eta` of `step`).
    public let eta: Float
    /// The integer training timestep of each model call.
    public let trainingTimesteps: [Int]
    /// ᾱ used after the last step (`final_alpha_cumprod`).
    public let finalAlphaCumprod: Float
    /// Clamp bound for the predicted x₀, or `nil` when `clip_sample` is off.
    public let clipRange: Float?

    public var timesteps: [Float] { trainingTimesteps.map { Float($0) } }
    public var initNoiseSigma: Float { 1 }

    /// Builds the scheduler diffusers' `DDIMScheduler.from_config(configuration)` + `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take DDIM's defaults
    ///     (`clip_sample` true, `set_alpha_to_one` true, `leading` spacing).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    ///   - eta: Noise weight η ≥ 0 (pipelines default to 0).
    /// - Throws: `SchedulerError` for an unknown value, an unsupported option or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int, eta: Float = 0) throws {
        if configuration.thresholding ?? false { throw SchedulerError.unsupportedOption("thresholding (dynamic thresholding)") }
        schedule = try NoiseSchedule(configuration: configuration, allowsZeroSNRRescale: true)
        guard stepCount >= 1, stepCount <= schedule.trainTimesteps else {
            throw SchedulerError.invalidStepCount(stepCount, maximum: schedule.trainTimesteps)
        }
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        let spacing = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .leading)
        self.stepCount = stepCount
        self.eta = eta
        let raw = NoiseSchedule.spacedTimesteps(spacing, count: stepCount, trainTimesteps: schedule.trainTimesteps,
                                                stepsOffset: configuration.stepsOffset ?? 0)
        switch spacing {
        case .linspace: trainingTimesteps = raw.map { Int($0.rounded(.toNearestOrEven)) }
        case .leading: trainingTimesteps = raw.map { Int($0) }
        case .trailing: trainingTimesteps = raw.map { Int($0) - 1 }
        }
        finalAlphaCumprod = (configuration.setAlphaToOne ?? true) ? 1 : schedule.alphasCumprod[0]
        clipRange = (configuration.clipSample ?? true) ? Float(configuration.clipSampleRange ?? 1) : nil
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard trainingTimesteps.indices.contains(stepIndex) else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: trainingTimesteps.count)
        }
        let t = trainingTimesteps[stepIndex]
        // The previous timestep is one stride back from the current, whatever the spacing (as diffusers does).
        let previous = t - schedule.trainTimesteps / stepCount
        let alphaT = schedule.alphaCumprod(at: t)
        let alphaPrev = previous >= 0 ? schedule.alphaCumprod(at: previous) : finalAlphaCumprod
        let betaT = 1 - alphaT
        let (rootAlpha, rootBeta) = (alphaT.squareRoot(), betaT.squareRoot())

        var predictedOriginal: Tensor, predictedNoise: Tensor
        switch predictionType {
        case .epsilon:
            predictedOriginal = sample.zip(modelOutput) { (x, e) in (x - rootBeta * e) / rootAlpha }
            predictedNoise = modelOutput
        case .sample:
            predictedOriginal = modelOutput
            predictedNoise = sample.zip(modelOutput) { (x, x0) in (x - rootAlpha * x0) / rootBeta }
        case .vPrediction:
            predictedOriginal = sample.zip(modelOutput) { (x, v) in rootAlpha * x - rootBeta * v }
            predictedNoise = sample.zip(modelOutput) { (x, v) in rootAlpha * v + rootBeta * x }
        }
        if let bound = clipRange {
            predictedOriginal = predictedOriginal.map { min(max($0, -bound), bound) }
        }

        let variance = ((1 - alphaPrev) / betaT) * (1 - alphaT / alphaPrev)
        let sigma = eta * variance.squareRoot()
        let directionScale = (1 - alphaPrev - sigma * sigma).squareRoot()
        let rootAlphaPrev = alphaPrev.squareRoot()
        // x_{t−1} = √ᾱ_{t−1}·x̂₀ + √(1 − ᾱ_{t−1} − σ²)·ε̂ (+ σ·z)
        var previousSample = predictedOriginal.zip(predictedNoise) { (x0, e) in rootAlphaPrev * x0 + directionScale * e }
        if eta > 0 {
            let noise = random.normal(shape: modelOutput.shape)
            previousSample = previousSample.zip(noise) { (x, z) in x + sigma * z }
        }
        return previousSample
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let alpha = schedule.alphaCumprod(at: trainingTimesteps[stepIndex])
        let (a, b) = (alpha.squareRoot(), (1 - alpha).squareRoot())
        return original.zip(noise) { (x, z) in a * x + b * z }
    }
}
