import Foundation
import LatentCore

/// Trajectory Consistency Distillation sampling: a strategic stochastic step that denoises to an intermediate
/// timestep s = ⌊(1 − γ)·t_prev⌋ and re-noises from there to t_prev (A1111's "TCD").
///
/// Matches: diffusers `TCDScheduler` (scheduling_tcd.py, diffusers 0.42.1) as `StableDiffusionPipeline` drives it:
/// the pipeline hands its `eta` (default 0.0) to `step` as γ, so by default s = t_prev and no noise is drawn
/// (a deterministic DDIM-like step). γ > 0 draws one noise tensor per step except the last. Timesteps come from the
/// `original_inference_steps` (default 50) distillation schedule, as for LCM. Meant for TCD-distilled models.
/// Paper: Zheng, Zhang, Huang, Guo, Chen & Zhang, "Trajectory Consistency Distillation: Improved Latent
/// Consistency Distillation by Semi-Linear Consistency Function with Trajectory Mapping" (2024), arXiv:2402.19159.
public struct TCDScheduler: Scheduler {
    /// The training schedule (TCD's defaults: scaled-linear 0.00085 … 0.012).
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// The integer training timestep of each model call.
    public let trainingTimesteps: [Int]
    /// γ, the stochasticity (diffusers' `eta` argument of `step`): 0 is deterministic, 1 re-noises from x̂₀.
    public let gamma: Float

    public var timesteps: [Float] { trainingTimesteps.map { Float($0) } }
    public var initNoiseSigma: Float { 1 }

    /// Builds the scheduler diffusers' `TCDScheduler.from_config(configuration)` + `set_timesteps(stepCount)` gives,
    /// stepped with `eta = gamma`.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take TCD's defaults.
    ///   - stepCount: Inference steps, 1 … `original_inference_steps`.
    ///   - gamma: γ in 0 … 1; `StableDiffusionPipeline` passes its `eta`, 0 by default.
    /// - Throws: `SchedulerError` for an unknown value, thresholding, γ outside 0 … 1, or more steps than the
    ///   distillation schedule has.
    public init(configuration: SchedulerConfiguration, stepCount: Int, gamma: Float = 0) throws {
        if configuration.thresholding ?? false { throw SchedulerError.unsupportedOption("thresholding (dynamic thresholding)") }
        guard gamma >= 0, gamma <= 1 else { throw SchedulerError.invalidConfiguration("TCD gamma \(gamma) must be between 0 and 1") }
        schedule = try NoiseSchedule(configuration: consistencyDefaults(configuration), allowsZeroSNRRescale: true)
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        // TCD ignores timestep_spacing, but a misspelt value is still a configuration error worth reporting.
        _ = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .leading)
        trainingTimesteps = try consistencyTimesteps(
            configuration: configuration, trainCount: schedule.trainTimesteps, stepCount: stepCount)
        self.gamma = gamma
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard trainingTimesteps.indices.contains(stepIndex) else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: trainingTimesteps.count)
        }
        let t = trainingTimesteps[stepIndex]
        let isLast = stepIndex == trainingTimesteps.count - 1
        let previous = isLast ? 0 : trainingTimesteps[stepIndex + 1]
        // s = ⌊(1 − γ)·t_prev⌋, the product in float32 as the tensor arithmetic does it.
        let s = Int((Float(1 - Double(gamma)) * Float(previous)).rounded(.down))
        let alphaT = schedule.alphaCumprod(at: t), alphaPrevious = schedule.alphaCumprod(at: previous)
        let alphaS = schedule.alphaCumprod(at: s)
        let (rootAlphaT, rootBetaT) = (alphaT.squareRoot(), (1 - alphaT).squareRoot())
        let (rootAlphaS, rootBetaS) = (alphaS.squareRoot(), (1 - alphaS).squareRoot())

        let (predictedOriginal, predictedNoise): (Tensor, Tensor) = switch predictionType {
        case .epsilon:
            (sample.zip(modelOutput) { (x, e) in (x - rootBetaT * e) / rootAlphaT }, modelOutput)
        case .sample:
            (modelOutput, sample.zip(modelOutput) { (x, x0) in (x - rootAlphaT * x0) / rootBetaT })
        case .vPrediction:
            (sample.zip(modelOutput) { (x, v) in rootAlphaT * x - rootBetaT * v },
             modelOutput.zip(sample) { (v, x) in rootAlphaT * v + rootBetaT * x })
        }
        // x̂ at the intermediate timestep s.
        let noised = predictedOriginal.zip(predictedNoise) { (x0, e) in rootAlphaS * x0 + rootBetaS * e }
        guard gamma > 0, !isLast else { return noised }
        let noise = random.normal(shape: modelOutput.shape)
        let ratio = alphaPrevious / alphaS
        let (a, b) = (ratio.squareRoot(), (1 - ratio).squareRoot())
        return noised.zip(noise) { (x, z) in a * x + b * z }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let alpha = schedule.alphaCumprod(at: trainingTimesteps[stepIndex])
        let (a, b) = (alpha.squareRoot(), (1 - alpha).squareRoot())
        return original.zip(noise) { (x, z) in a * x + b * z }
    }
}
