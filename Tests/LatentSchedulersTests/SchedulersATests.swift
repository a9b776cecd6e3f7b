import Foundation
import LatentCore
import LatentSchedulers
import Testing

/// LMS, Heun, DPM2, DPM2 ancestral and DDPM against diffusers 0.42.1 (fixtures from
/// tools/reference/dump_schedulers_a.py in Tests/Fixtures/schedulers-a, inputs shared with Tests/Fixtures/schedulers).
@Suite("Schedulers A equal diffusers")
struct SchedulersATests {
    static let kinds: [SchedulerKind] = [.lms, .heun, .dpm2, .dpm2Ancestral, .ddpm]
    static let inputs = Result { try SchedulerFixtures.load(SchedulerFixtures.Inputs.self, "inputs.json") }

    static func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let url = SchedulerFixtures.directory.deletingLastPathComponent()
            .appendingPathComponent("schedulers-a").appendingPathComponent(name)
        return try JSONDecoder().decode(type, from: Data(contentsOf: url))
    }

    /// diffusers' `scheduler.sigmas` as each type exposes it (nil for DDPM).
    static func sigmas(of scheduler: any Scheduler) -> [Float]? {
        switch scheduler {
        case let s as LMSDiscreteScheduler: s.sigmas
        case let s as HeunDiscreteScheduler: s.sigmas
        case let s as KDPM2DiscreteScheduler: s.sigmas
        case let s as KDPM2AncestralDiscreteScheduler: s.sigmas
        default: nil
        }
    }

    /// Timesteps are compared relative to max(|t|, 1): they live on the 0 … 999 scale, and fractional timesteps
    /// near 0 (DPM2's last midpoints) carry float32 rounding that is negligible there but large relative to t.
    static func timestepError(_ actual: [Float], _ expected: [Float]) -> Float {
        maxRelativeError(actual, expected, floor: 1)
    }

    @Test(arguments: kinds)
    func trajectoriesMatchDiffusers(kind: SchedulerKind) throws {
        let inputs = try Self.inputs.get()
        let file = try Self.load(SchedulerFixtures.TrajectoryFile.self, "\(kind.cliName).json")
        #expect(file.kind == kind.cliName)
        #expect(file.cases.count >= 29, "fixture for \(kind) has only \(file.cases.count) cases")
        var worst: Float = 0
        for reference in file.cases {
            let configuration = try #require(file.configs[reference.configName])
            var scheduler = try makeScheduler(kind, modelConfiguration: configuration, stepCount: reference.steps)
            let label = "\(kind) \(reference.configName) n=\(reference.steps)"
            worst = max(worst, try check(&scheduler, against: reference, inputs: inputs, label: label))
        }
        #expect(worst <= 1e-5)
    }

    /// Runs one trajectory and returns the worst per-step sample error.
    private func check(_ scheduler: inout any Scheduler, against reference: SchedulerFixtures.Trajectory,
                       inputs: SchedulerFixtures.Inputs, label: String) throws -> Float {
        #expect(Self.timestepError(scheduler.timesteps, reference.timesteps) <= 1e-6,
                "\(label): timesteps \(scheduler.timesteps) vs \(reference.timesteps)")
        if let expected = reference.sigmas {
            let sigmas = try #require(Self.sigmas(of: scheduler), "\(label): no sigmas")
            #expect(maxRelativeError(sigmas, expected) <= 1e-6, "\(label): sigmas \(sigmas) vs \(expected)")
        }
        #expect(maxRelativeError([scheduler.initNoiseSigma], [reference.initNoiseSigma]) <= 1e-6, "\(label): init_noise_sigma")
        try #require(scheduler.timesteps.count == reference.samples.count, "\(label): call count")

        for noised in reference.addNoise {
            let result = scheduler.addNoise(original: inputs.tensor(inputs.original), noise: inputs.tensor(inputs.noise),
                                            stepIndex: noised.stepIndex)
            #expect(tensorRelativeError(result.scalars, noised.result) <= 1e-5, "\(label): add_noise at \(noised.stepIndex)")
        }

        let random = ReplayRandomSource(reference.noises.map { inputs.tensor($0) })
        var sample = inputs.tensor(inputs.initialSample) * scheduler.initNoiseSigma
        var worst: Float = 0
        for (index, expected) in reference.samples.enumerated() {
            let ones = Tensor(repeating: 1, shape: inputs.shape)
            let factor = scheduler.scaleModelInput(ones, stepIndex: index).scalars[0]
            #expect(maxRelativeError([factor], [reference.scaleFactors[index]]) <= 1e-6, "\(label): scale factor at \(index)")
            sample = try scheduler.step(modelOutput: inputs.tensor(inputs.modelOutputs[index]), stepIndex: index,
                                        sample: sample, random: random)
            let error = tensorRelativeError(sample.scalars, expected)
            worst = max(worst, error)
            #expect(error <= 1e-5, "\(label): sample after step \(index) off by \(error)")
        }
        #expect(random.remaining == 0 && random.draws == reference.noises.count,
                "\(label): drew \(random.draws) noise tensors, reference drew \(reference.noises.count)")
        return worst
    }

    @Test(arguments: kinds)
    func timestepsAndSigmasMatchDiffusers(kind: SchedulerKind) throws {
        let file = try Self.load(SchedulerFixtures.TimestepFile.self, "timesteps.json")
        let cases = file.cases.filter { $0.kind == kind.cliName }
        #expect(cases.count >= 60)
        for reference in cases {
            let configuration = try #require(file.configs[reference.configName])
            let scheduler = try makeScheduler(kind, modelConfiguration: configuration, stepCount: reference.steps)
            let label = "\(kind) \(reference.configName) n=\(reference.steps)"
            #expect(Self.timestepError(scheduler.timesteps, reference.timesteps) <= 1e-6,
                    "\(label): timesteps \(scheduler.timesteps) vs \(reference.timesteps)")
            if let expected = reference.sigmas {
                let sigmas = try #require(Self.sigmas(of: scheduler))
                #expect(maxRelativeError(sigmas, expected) <= 1e-6, "\(label): sigmas \(sigmas) vs \(expected)")
            }
            #expect(maxRelativeError([scheduler.initNoiseSigma], [reference.initNoiseSigma]) <= 1e-6, "\(label): init_noise_sigma")
        }
    }

    /// `<name>_karras` / `<name>_exponential` on the model's own configuration build what diffusers builds with
    /// `from_config(config, use_karras_sigmas=True)`.
    @Test(arguments: kinds.filter { $0 != .ddpm })
    func sigmaVariantsByNameMatchDiffusers(kind: SchedulerKind) throws {
        let file = try Self.load(SchedulerFixtures.TimestepFile.self, "timesteps.json")
        for variant in [SigmaScheduleVariant.karras, .exponential] {
            let choice = try SchedulerChoice(named: "\(kind.cliName)_\(variant.rawValue)")
            #expect(choice == SchedulerChoice(kind, sigmas: variant))
            for model in ["sd15", "sd21"] {
                let base = try #require(file.configs[model])
                for reference in file.cases where reference.kind == kind.cliName && reference.configName == "\(model)_\(variant.rawValue)" {
                    let scheduler = try makeScheduler(choice, modelConfiguration: base, stepCount: reference.steps)
                    #expect(Self.timestepError(scheduler.timesteps, reference.timesteps) <= 1e-6, "\(choice) \(model) n=\(reference.steps)")
                    #expect(maxRelativeError(try #require(Self.sigmas(of: scheduler)), try #require(reference.sigmas)) <= 1e-6)
                }
            }
        }
    }

    /// The LMS coefficients integrate cubic Lagrange polynomials; Simpson's rule is exact for those, so it is an
    /// independent check to rounding.
    @Test func lmsCoefficientsAreExactIntegrals() throws {
        let sigmas: [Double] = [14.6146, 9.7, 6.1, 3.3, 1.7, 0.62, 0.029, 0]
        for index in 0..<(sigmas.count - 1) {
            for order in 1...min(index + 1, 4) {
                var total = 0.0
                for current in 0..<order {
                    let basis: (Double) -> Double = { tau in
                        var product = 1.0
                        for k in 0..<order where k != current {
                            product *= (tau - sigmas[index - k]) / (sigmas[index - current] - sigmas[index - k])
                        }
                        return product
                    }
                    let (a, b) = (sigmas[index], sigmas[index + 1])
                    let simpson = (b - a) / 6 * (basis(a) + 4 * basis((a + b) / 2) + basis(b))
                    let value = LMSDiscreteScheduler.coefficient(sigmas: sigmas, order: order, index: index, current: current)
                    #expect(abs(value - simpson) <= 1e-12 * max(1, abs(simpson)), "order \(order) index \(index) current \(current)")
                    total += value
                }
                // The Lagrange basis sums to 1, so the coefficients sum to the interval length.
                #expect(abs(total - (sigmas[index + 1] - sigmas[index])) <= 1e-12 * 15)
            }
        }
    }

    @Test func secondOrderSchedulersCallTheModelTwicePerStep() throws {
        let sd15 = try #require(try Self.load(SchedulerFixtures.TimestepFile.self, "timesteps.json").configs["sd15"])
        for kind in [SchedulerKind.heun, .dpm2, .dpm2Ancestral] {
            for steps in [1, 2, 9] {
                let scheduler = try makeScheduler(kind, modelConfiguration: sd15, stepCount: steps)
                #expect(scheduler.timesteps.count == 2 * steps - 1, "\(kind) n=\(steps)")
            }
        }
        let heun = try HeunDiscreteScheduler(configuration: sd15, stepCount: 3)
        #expect(heun.timesteps == [999, 499.5, 499.5, 0, 0])
    }

    @Test func unsupportedSettingsAreRejectedBeforeSampling() throws {
        let sd15 = try #require(try Self.load(SchedulerFixtures.TimestepFile.self, "timesteps.json").configs["sd15"])
        for kind in [SchedulerKind.dpm2, .dpm2Ancestral] {
            #expect(throws: SchedulerError.unsupportedPrediction(scheduler: kind.diffusersClassName, prediction: "sample")) {
                try makeScheduler(kind, modelConfiguration: sd15, stepCount: 5, predictionOverride: .sample)
            }
        }
        var learned = sd15
        learned.varianceType = "learned_range"
        #expect(throws: SchedulerError.unsupportedOption("variance_type learned_range")) {
            try makeScheduler(.ddpm, modelConfiguration: learned, stepCount: 5)
        }
        learned.varianceType = "wide"
        #expect(throws: SchedulerError.self) { try makeScheduler(.ddpm, modelConfiguration: learned, stepCount: 5) }
        var both = sd15
        both.useKarrasSigmas = true
        both.useExponentialSigmas = true
        for kind in [SchedulerKind.lms, .heun, .dpm2, .dpm2Ancestral] {
            #expect(throws: SchedulerError.self) { try makeScheduler(kind, modelConfiguration: both, stepCount: 5) }
        }
    }

    @Test(arguments: [("LMS", "lms"), ("LMS Karras", "lms_karras"), ("k_lms", "lms"), ("Heun", "heun"),
                      ("DPM2", "dpm2"), ("DPM2 Karras", "dpm2_karras"), ("DPM2 a", "dpm2_a"), ("DPM2 a Karras", "dpm2_a_karras"),
                      ("k_dpm_2_a", "dpm2_a"), ("KDPM2AncestralDiscreteScheduler", "dpm2_a"), ("KDPM2DiscreteScheduler", "dpm2"),
                      ("DDPM", "ddpm"), ("DDPMScheduler", "ddpm"), ("heun_exponential", "heun_exponential")])
    func namesResolve(name: String, expected: String) throws {
        #expect(try SchedulerChoice(named: name).cliName == expected)
    }
}
