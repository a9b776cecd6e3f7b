/// Errors a generation request or a model load can raise; each names the problem in one line.
public enum PipelineError: Error, CustomStringConvertible, Equatable {
    case invalidSize(width: Int, height: Int, reason: String)
    case invalidStepCount(Int)
    case invalidGuidanceScale(Float)
    case modelNotFound(path: String)
    case unsupportedModel(path: String, reason: String)
    case invalidPredictionType(String)
    case cancelled

    public var description: String {
        switch self {
        case let .invalidSize(width, height, reason): "invalid image size \(width)×\(height): \(reason)"
        case let .invalidStepCount(steps): "invalid step count \(steps): must be between 1 and 1000"
        case let .invalidGuidanceScale(scale): "invalid CFG scale \(scale): must be a finite number between 0 and 100"
        case let .modelNotFound(path): "model not found: \(path) (expected a diffusers folder or a .safetensors file)"
        case let .unsupportedModel(path, reason): "unsupported model \(path): \(reason)"
        case let .invalidPredictionType(value): "invalid prediction type '\(value)' (valid: epsilon, v_prediction)"
        case .cancelled: "generation cancelled"
        }
    }
}
