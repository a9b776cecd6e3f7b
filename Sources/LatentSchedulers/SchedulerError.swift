/// Errors raised while configuring or running a scheduler.
public enum SchedulerError: Error, CustomStringConvertible, Equatable {
    /// A scheduler name matched no known scheduler.
    case unknownScheduler(name: String, validNames: [String])
    /// The model's `_class_name` is not a scheduler this library implements (or is missing).
    case unsupportedModelScheduler(className: String?, supported: [String])
    /// The step count is outside `1 ... maximum`.
    case invalidStepCount(Int, maximum: Int)
    /// A configuration key holds a value the scheduler does not know.
    case invalidValue(key: String, value: String, validValues: [String])
    /// A configuration option diffusers has but this library does not implement.
    case unsupportedOption(String)
    /// The configuration is self-contradictory or malformed.
    case invalidConfiguration(String)
    /// The scheduler cannot interpret this kind of model prediction.
    case unsupportedPrediction(scheduler: String, prediction: String)
    /// PNDM's Runge–Kutta warm-up needs at least four timesteps.
    case tooFewStepsForRungeKutta(Int)
    /// `step` was called with an index outside `timesteps`.
    case stepIndexOutOfRange(Int, count: Int)

    /// A message naming the problem and, where there is a choice, the valid values.
    public var description: String {
        switch self {
        case let .unknownScheduler(name, valid):
            return "unknown scheduler '\(name)'; valid names: \(valid.joined(separator: ", "))"
        case let .unsupportedModelScheduler(className?, supported):
            return "the model's scheduler '\(className)' is not supported; choose one of \(supported.joined(separator: ", "))"
        case let .unsupportedModelScheduler(nil, supported):
            return "the model's scheduler configuration has no _class_name; choose one of \(supported.joined(separator: ", "))"
        case let .invalidStepCount(count, maximum):
            return "step count \(count) is out of range: it must be between 1 and \(maximum)"
        case let .invalidValue(key, value, valid):
            return "scheduler configuration '\(key)' has unknown value '\(value)'; expected one of \(valid.joined(separator: ", "))"
        case let .unsupportedOption(option):
            return "scheduler option \(option) is not supported"
        case let .invalidConfiguration(message):
            return "invalid scheduler configuration: \(message)"
        case let .unsupportedPrediction(scheduler, prediction):
            return "\(scheduler) does not support prediction type '\(prediction)'"
        case let .tooFewStepsForRungeKutta(count):
            return "PNDM with Runge-Kutta warm-up (skip_prk_steps false) needs at least 4 timesteps, got \(count)"
        case let .stepIndexOutOfRange(index, count):
            return "step index \(index) is outside the \(count) scheduled timesteps"
        }
    }
}
