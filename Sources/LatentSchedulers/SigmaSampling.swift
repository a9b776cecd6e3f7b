import LatentCore

/// Helpers shared by the σ-parameterised (k-diffusion style) schedulers.
enum SigmaSampling {
    /// Scales the model input by `1 / √(σ² + 1)` so the UNet sees unit-variance input (diffusers'
    /// `scale_model_input` for every σ-space scheduler).
    static func scaledInput(_ sample: Tensor, sigma: Float) -> Tensor {
        let divisor = (sigma * sigma + 1).squareRoot()
        return sample.map { $0 / divisor }
    }

    /// Throws unless `stepIndex` addresses one of `count` model calls.
    static func checkStepIndex(_ stepIndex: Int, count: Int) throws {
        guard (0..<count).contains(stepIndex) else { throw SchedulerError.stepIndexOutOfRange(stepIndex, count: count) }
    }
}

extension NoiseSchedule {
    /// The training schedule of a σ-space scheduler that accepts `rescale_betas_zero_snr` (whose last ᾱ diffusers
    /// pins to 2⁻²⁴ so σ stays finite), after checking the step count against it.
    /// - Throws: `SchedulerError` for invalid configuration values or a step count outside 1 … `num_train_timesteps`.
    static func pinningZeroSNR(configuration: SchedulerConfiguration, stepCount: Int) throws -> NoiseSchedule {
        var schedule = try checked(configuration: configuration, stepCount: stepCount, allowsZeroSNRRescale: true)
        if configuration.rescaleBetasZeroSnr ?? false {
            schedule.setLastAlphaCumprod(Float(1.0 / 16_777_216.0))
        }
        return schedule
    }

    /// The training schedule, after checking the step count against its length.
    /// - Throws: `SchedulerError` for invalid configuration values or a step count outside 1 … `num_train_timesteps`.
    static func checked(
        configuration: SchedulerConfiguration, stepCount: Int, allowsZeroSNRRescale: Bool
    ) throws -> NoiseSchedule {
        let schedule = try NoiseSchedule(configuration: configuration, allowsZeroSNRRescale: allowsZeroSNRRescale)
        guard stepCount >= 1, stepCount <= schedule.trainTimesteps else {
            throw SchedulerError.invalidStepCount(stepCount, maximum: schedule.trainTimesteps)
        }
        return schedule
    }
}

extension PredictionType {
    /// The configured prediction type of a σ-space solver that cannot work from a predicted sample (x₀).
    /// - Throws: `SchedulerError.unsupportedPrediction` naming `scheduler` for `sample`, `.invalidValue` otherwise.
    static func parseNoise(_ value: String?, scheduler: String) throws -> PredictionType {
        let prediction = try parse(value, key: "prediction_type", default: .epsilon)
        guard prediction != .sample else { throw SchedulerError.unsupportedPrediction(scheduler: scheduler, prediction: "sample") }
        return prediction
    }
}
