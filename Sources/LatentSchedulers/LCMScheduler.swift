import Foundation
import LatentCore

/// Latent Consistency Model sampling: each call maps the sample straight to a clean estimate through the
/// consistency boundary condition, then re-noises it to the next timestep with fresh noise (A1111's "LCM").
///
/// Matches: diffusers `LCMScheduler` (scheduling_lcm.py, diffusers 0.42.1): timesteps picked from the
/// `original_inference_steps` (default 50) distillation schedule, `timestep_scaling` 10, σ_data 0.5, one noise draw
/// per step except the last. Meant for LCM-distilled models; on other models it runs but gives poor images.
/// Paper: Luo, Tan, Huang, Li & Zhao, "Latent Consistency Models: Synthesizing High-Resolution Images with
/// Few-Step Inference" (2023), arXiv:2310.04378.
public struct LCMScheduler: Scheduler {
    /// The training schedule (LCM's defaults: scaled-linear 0.00085 … 0.012).
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// The integer training timestep of each model call.
    public let trainingTimesteps: [Int]
    /// Scale of the timestep in the boundary-condition weights c_skip, c_out.
    public let timestepScaling: Float
    /// Clamp bound for the predicted x₀, or `nil` when `clip_sample` is off (LCM's default).
    public let clipRange: Float?

    public var timesteps: [Float] { trainingTimesteps.map { Float($0) } }
    public var initNoiseSigma: Float { 1 }

    /// Builds the scheduler diffusers' `LCMScheduler.from_config(configuration)` + `set_timesteps(stepCount)` gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take LCM's defaults.
    ///   - stepCount: Inference steps, 1 … `original_inference_steps`.
    /// - Throws: `SchedulerError` for an unknown value, thresholding, or more steps than the distillation schedule has.
    public init(configuration: SchedulerConfiguration, stepCount: Int) throws {
        if configuration.thresholding ?? false { throw SchedulerError.unsupportedOption("thresholding (dynamic thresholding)") }
        schedule = try NoiseSchedule(configuration: consistencyDefaults(configuration), allowsZeroSNRRescale: true)
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        // LCM ignores timestep_spacing, but a misspelt value is still a configuration error worth reporting.
        _ = try TimestepSpacing.parse(configuration.timestepSpacing, key: "timestep_spacing", default: .leading)
        trainingTimesteps = try consistencyTimesteps(
            configuration: configuration, trainCount: schedule.trainTimesteps, stepCount: stepCount)
        timestepScaling = Float(configuration.timestepScaling ?? 10)
        clipRange = (configuration.clipSample ?? false) ? Float(configuration.clipSampleRange ?? 1) : nil
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        guard trainingTimesteps.indices.contains(stepIndex) else {
            throw SchedulerError.stepIndexOutOfRange(stepIndex, count: trainingTimesteps.count)
        }
        let t = trainingTimesteps[stepIndex]
        let isLast = stepIndex == trainingTimesteps.count - 1
        let previous = isLast ? t : trainingTimesteps[stepIndex + 1]
        let alphaT = schedule.alphaCumprod(at: t), alphaPrevious = schedule.alphaCumprod(at: previous)
        let (rootAlpha, rootBeta) = (alphaT.squareRoot(), (1 - alphaT).squareRoot())

        // Boundary condition of the consistency function with σ_data = 0.5, in float32 as the 0-d tensors give it.
        let scaled = Float(t) * timestepScaling
        let cSkip = 0.25 / (scaled * scaled + 0.25)
        let cOut = scaled / (scaled * scaled + 0.25).squareRoot()

        var predictedOriginal: Tensor = switch predictionType {
        case .epsilon: sample.zip(modelOutput) { (x, e) in (x - rootBeta * e) / rootAlpha }
        case .sample: modelOutput
        case .vPrediction: sample.zip(modelOutput) { (x, v) in rootAlpha * x - rootBeta * v }
        }
        if let bound = clipRange {
            predictedOriginal = predictedOriginal.map { min(max($0, -bound), bound) }
        }
        let denoised = predictedOriginal.zip(sample) { (x0, x) in cOut * x0 + cSkip * x }
        guard !isLast else { return denoised }
        let noise = random.normal(shape: modelOutput.shape)
        let (a, b) = (alphaPrevious.squareRoot(), (1 - alphaPrevious).squareRoot())
        return denoised.zip(noise) { (d, z) in a * d + b * z }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let alpha = schedule.alphaCumprod(at: trainingTimesteps[stepIndex])
        let (a, b) = (alpha.squareRoot(), (1 - alpha).squareRoot())
        return original.zip(noise) { (x, z) in a * x + b * z }
    }
}

/// The configuration with the consistency schedulers' own defaults (LCM, TCD) for absent beta keys.
func consistencyDefaults(_ configuration: SchedulerConfiguration) -> SchedulerConfiguration {
    var filled = configuration
    filled.betaStart = configuration.betaStart ?? 0.00085
    filled.betaEnd = configuration.betaEnd ?? 0.012
    filled.betaSchedule = configuration.betaSchedule ?? "scaled_linear"
    return filled
}

/// Timesteps of LCM / TCD: `stepCount` evenly chosen (by index, floored) from the distillation schedule
/// `k·i − 1`, i = 1 … `original_inference_steps`, k = T / `original_inference_steps`, in descending order.
/// - Throws: `SchedulerError.invalidConfiguration` when the distillation schedule is longer than training or has
///   fewer steps than requested.
func consistencyTimesteps(configuration: SchedulerConfiguration, trainCount: Int, stepCount: Int) throws -> [Int] {
    let original = configuration.originalInferenceSteps ?? 50
    guard original >= 1, original <= trainCount else {
        throw SchedulerError.invalidConfiguration(
            "original_inference_steps \(original) must be between 1 and num_train_timesteps \(trainCount)")
    }
    guard stepCount >= 1, stepCount <= original else {
        throw SchedulerError.invalidConfiguration(
            "\(stepCount) steps exceed original_inference_steps \(original): the timesteps are a subset of the distillation schedule")
    }
    let k = trainCount / original
    let descending = (1...original).reversed().map { $0 * k - 1 }
    let spacing = Double(original) / Double(stepCount)
    return (0..<stepCount).map { descending[Int((Double($0) * spacing).rounded(.down))] }
}
