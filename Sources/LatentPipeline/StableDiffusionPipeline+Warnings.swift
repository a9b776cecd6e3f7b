import LatentSchedulers

extension StableDiffusionPipeline {
    /// Settings that run but contradict the model, worth telling the user before compute starts (issue: a
    /// wrong prediction type or a consistency sampler on an ordinary model gives broken images, silently).
    /// - Parameter request: A validated request.
    /// - Returns: One sentence per problem; empty when the settings agree with the model.
    public func configurationWarnings(for request: GenerationRequest) -> [String] {
        var warnings: [String] = []
        let modelPrediction = schedulerConfiguration.predictionType ?? "epsilon"
        if let prediction = request.predictionType, prediction != modelPrediction {
            warnings.append(
                "--prediction \(prediction) contradicts the model's scheduler config (\(modelPrediction)); "
                    + "use it only for a checkpoint known to misreport its prediction type")
        }
        if let choice = request.scheduler, choice.kind.needsDistilledModel, !isConsistencyDistilled {
            warnings.append(
                "\(choice.cliName) is meant for \(choice.kind == .lcm ? "LCM" : "TCD")-distilled models; this model's "
                    + "scheduler is \(schedulerConfiguration.className ?? "unknown"), so expect poor images")
        }
        return warnings
    }

    /// Whether the model was distilled for few-step consistency sampling: its own scheduler is LCM/TCD, or its
    /// UNet takes the guidance embedding LCM distillation adds (`time_cond_proj_dim`).
    var isConsistencyDistilled: Bool {
        ["LCMScheduler", "TCDScheduler"].contains(schedulerConfiguration.className ?? "")
            || unet.configuration.timeConditionProjectionDimension != nil
    }
}
