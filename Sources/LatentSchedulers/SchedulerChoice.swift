/// The sigma schedule a sampler runs on, where its diffusers class offers a choice.
public enum SigmaScheduleVariant: String, CaseIterable, Sendable {
    /// The class's own schedule from the training betas.
    case standard
    /// Karras et al. (2022) ρ = 7 spacing (`use_karras_sigmas=True`), A1111's "… Karras".
    case karras
    /// Log-linear spacing (`use_exponential_sigmas=True`), A1111's "… Exponential".
    case exponential

    /// Suffix of the command-line name (`dpmpp_2m_karras`).
    var cliSuffix: String { self == .standard ? "" : "_" + rawValue }
    /// Suffix of the A1111 label (`DPM++ 2M Karras`).
    var labelSuffix: String { self == .standard ? "" : " " + rawValue.prefix(1).uppercased() + rawValue.dropFirst() }
}

/// A sampler as users name it: an algorithm plus, where supported, a sigma schedule (`euler_karras`,
/// "DPM++ 2M Karras").
public struct SchedulerChoice: Hashable, Sendable, CustomStringConvertible {
    public var kind: SchedulerKind
    public var sigmas: SigmaScheduleVariant

    /// - Precondition: `kind.supportedSigmaSchedules` contains `sigmas` (use `init(named:)` for user input).
    public init(_ kind: SchedulerKind, sigmas: SigmaScheduleVariant = .standard) {
        self.kind = kind
        self.sigmas = sigmas
    }

    /// Every name `--scheduler` accepts, in listing order.
    public static var allChoices: [SchedulerChoice] {
        SchedulerKind.allCases.flatMap { kind in kind.supportedSigmaSchedules.map { SchedulerChoice(kind, sigmas: $0) } }
    }

    /// The command-line name (`euler_a`, `dpmpp_2m_karras`).
    public var cliName: String { kind.cliName + sigmas.cliSuffix }
    /// AUTOMATIC1111's label (`Euler a`, `DPM++ 2M Karras`).
    public var a1111Label: String { kind.a1111Label + sigmas.labelSuffix }
    /// One line for `latent schedulers`.
    public var summary: String {
        switch sigmas {
        case .standard: kind.summary
        case .karras: kind.summary + " (Karras sigmas)"
        case .exponential: kind.summary + " (exponential sigmas)"
        }
    }
    public var description: String { cliName }

    /// Every accepted name for error messages: the CLI name with its A1111 label.
    public static var validNames: [String] { allChoices.map { "\($0.cliName) (\($0.a1111Label))" } }

    /// Looks a sampler up by CLI name, A1111 label (A1111 ≥ 1.6 splits the schedule type off: "DPM++ 2M" plus
    /// `scheduleType: "Karras"`), diffusers class name or alias, ignoring case, spaces and punctuation.
    /// - Parameters:
    ///   - name: What the user typed.
    ///   - scheduleType: A separate schedule type ("Karras", "Exponential", "Automatic"), if given.
    /// - Throws: `SchedulerError.unknownScheduler` listing every valid name, or `.unsupportedOption` when the
    ///   algorithm has no such sigma schedule.
    public init(named name: String, scheduleType: String? = nil) throws {
        let key = SchedulerKind.normalized(name)
        var variant = SigmaScheduleVariant.standard
        var base = key
        for candidate in [SigmaScheduleVariant.karras, .exponential] where key.hasSuffix(candidate.rawValue) {
            variant = candidate
            base = String(key.dropLast(candidate.rawValue.count))
        }
        if let scheduleType {
            let type = SchedulerKind.normalized(scheduleType)
            if let explicit = SigmaScheduleVariant.allCases.first(where: { $0.rawValue == type }) {
                variant = explicit
            } else if !["automatic", "default", "uniform", ""].contains(type) {
                throw SchedulerError.unknownScheduler(name: "\(name) (schedule type \(scheduleType))", validNames: Self.validNames)
            }
        }
        guard let kind = SchedulerKind.allCases.first(where: { $0.matches(normalized: base) })
            ?? (variant == .standard ? nil : SchedulerKind.allCases.first(where: { $0.matches(normalized: key) }))
        else {
            throw SchedulerError.unknownScheduler(name: name, validNames: Self.validNames)
        }
        if !kind.matches(normalized: base) { variant = .standard }
        guard kind.supportedSigmaSchedules.contains(variant) else {
            throw SchedulerError.unknownScheduler(
                name: "\(name) (\(kind.cliName) has no \(variant.rawValue) sigma schedule)", validNames: Self.validNames)
        }
        self.init(kind, sigmas: variant)
    }

    /// The model's configuration with this choice's sigma schedule switched on.
    public func configuration(from modelConfiguration: SchedulerConfiguration) -> SchedulerConfiguration {
        var configuration = modelConfiguration
        switch sigmas {
        case .standard: break
        case .karras:
            configuration.useKarrasSigmas = true
            configuration.useExponentialSigmas = false
        case .exponential:
            configuration.useExponentialSigmas = true
            configuration.useKarrasSigmas = false
        }
        return configuration
    }
}

extension SchedulerKind {
    /// Whether `normalized` is one of this kind's names.
    func matches(normalized key: String) -> Bool {
        ([cliName, a1111Label, diffusersClassName] + aliases).contains { Self.normalized($0) == key }
    }
}

/// Builds the scheduler for a user's choice (see `makeScheduler(_:modelConfiguration:stepCount:predictionOverride:)`).
public func makeScheduler(
    _ choice: SchedulerChoice, modelConfiguration: SchedulerConfiguration, stepCount: Int,
    predictionOverride: PredictionType? = nil
) throws -> any Scheduler {
    try makeScheduler(
        choice.kind, modelConfiguration: choice.configuration(from: modelConfiguration), stepCount: stepCount,
        predictionOverride: predictionOverride)
}
