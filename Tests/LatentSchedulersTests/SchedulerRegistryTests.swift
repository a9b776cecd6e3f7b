import Foundation
import LatentCore
import LatentSchedulers
import Testing

/// Name lookup, from_config semantics and error reporting.
@Suite struct SchedulerRegistryTests {
    /// Stable Diffusion 1.5's scheduler_config.json.
    static let sd15Json = """
    {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
     "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
     "steps_offset": 1, "trained_betas": null, "clip_sample": false}
    """

    static func configuration(_ json: String) throws -> SchedulerConfiguration {
        try JSONDecoder().decode(SchedulerConfiguration.self, from: Data(json.utf8))
    }

    @Test(arguments: [
        ("ddim", SchedulerKind.ddim), ("DDIM", .ddim), ("DDIMScheduler", .ddim),
        ("pndm", .pndm), ("PLMS", .pndm), ("PNDMScheduler", .pndm), ("pndm_scheduler", .pndm),
        ("euler", .euler), ("Euler", .euler), ("EulerDiscreteScheduler", .euler), ("k_euler", .euler),
        ("euler_a", .eulerAncestral), ("Euler a", .eulerAncestral), ("EULER-A", .eulerAncestral),
        ("  euler a ", .eulerAncestral), ("k_euler_a", .eulerAncestral), ("EulerAncestralDiscreteScheduler", .eulerAncestral),
        ("Euler Ancestral", .eulerAncestral),
    ])
    func namesResolve(name: String, kind: SchedulerKind) throws {
        #expect(try SchedulerKind(named: name) == kind)
    }

    @Test(arguments: SchedulerKind.allCases)
    func everyKindResolvesByEachOfItsNames(kind: SchedulerKind) throws {
        #expect(try SchedulerKind(named: kind.cliName) == kind)
        #expect(try SchedulerKind(named: kind.a1111Label) == kind)
        // dpmpp_2m and dpmpp_2m_sde share DPMSolverMultistepScheduler: the class name finds the first of them.
        #expect(try SchedulerKind(named: kind.diffusersClassName).diffusersClassName == kind.diffusersClassName)
        #expect(SchedulerKind(diffusersClassName: kind.diffusersClassName)?.diffusersClassName == kind.diffusersClassName)
        #expect(!kind.summary.isEmpty && !kind.summary.contains("\n"))
    }

    @Test(arguments: ["eulerx", "dpm++", "", "FlowMatchEulerDiscreteScheduler"])
    func unknownNamesListEveryValidName(name: String) {
        do {
            _ = try SchedulerKind(named: name)
            Issue.record("'\(name)' should not resolve")
        } catch let error as SchedulerError {
            guard case .unknownScheduler = error else { Issue.record("unexpected \(error)"); return }
            for kind in SchedulerKind.allCases {
                #expect(error.description.contains(kind.cliName) && error.description.contains(kind.a1111Label))
            }
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func nilKindUsesTheModelsOwnScheduler() throws {
        let scheduler = try makeScheduler(nil, modelConfiguration: Self.configuration(Self.sd15Json), stepCount: 20)
        let pndm = try #require(scheduler as? PNDMScheduler)
        #expect(pndm.skipsRungeKutta)
        #expect(pndm.timesteps.count == 21)
        #expect(pndm.timesteps.prefix(3) == [951, 901, 901])
    }

    @Test func chosenClassKeepsModelKeysAndFillsItsOwnDefaults() throws {
        let sd15 = try Self.configuration(Self.sd15Json)
        // DDIM keeps clip_sample false and set_alpha_to_one false from the model, spacing "leading" is its default.
        let ddim = try #require(try makeScheduler(.ddim, modelConfiguration: sd15, stepCount: 20) as? DDIMScheduler)
        #expect(ddim.clipRange == nil)
        #expect(ddim.finalAlphaCumprod == ddim.schedule.alphasCumprod[0])
        #expect(ddim.trainingTimesteps.first == 951)
        // Euler's own default spacing is linspace: 999 first, and σ_max as the initial scale.
        let euler = try #require(try makeScheduler(.euler, modelConfiguration: sd15, stepCount: 20) as? EulerDiscreteScheduler)
        #expect(euler.timesteps.first == 999)
        #expect(euler.initNoiseSigma == euler.sigmas[0])
        // A DDIM config without clip_sample gets DDIM's default (clip on), PNDM's default keeps the PRK warm-up.
        let bare = SchedulerConfiguration(className: "DDIMScheduler", betaSchedule: "linear")
        let clipped = try #require(try makeScheduler(nil, modelConfiguration: bare, stepCount: 10) as? DDIMScheduler)
        #expect(clipped.clipRange == 1 && clipped.finalAlphaCumprod == 1)
        let prk = try #require(try makeScheduler(.pndm, modelConfiguration: bare, stepCount: 10) as? PNDMScheduler)
        #expect(!prk.skipsRungeKutta && prk.rungeKuttaCallCount == 12 && prk.timesteps.count == 12 + 7)
    }

    @Test func keysRecordedAsDefaultsReadAsAbsent() throws {
        let json = """
        {"_class_name": "DDIMScheduler", "timestep_spacing": "leading", "clip_sample": true,
         "_use_default_values": ["timestep_spacing", "clip_sample"]}
        """
        let configuration = try Self.configuration(json)
        #expect(configuration.timestepSpacing == nil && configuration.clipSample == nil)
        let euler = try #require(try makeScheduler(.euler, modelConfiguration: configuration, stepCount: 4) as? EulerDiscreteScheduler)
        #expect(euler.timesteps == [999, 666, 333, 0])
    }

    @Test func configurationRoundTripsThroughJSON() throws {
        let configuration = try Self.configuration(Self.sd15Json)
        let encoded = try JSONEncoder().encode(configuration)
        #expect(try JSONDecoder().decode(SchedulerConfiguration.self, from: encoded) == configuration)
        #expect(configuration.betaStart == 0.00085 && configuration.skipPrkSteps == true && configuration.trainedBetas == nil)
    }

    @Test func predictionOverrideReplacesTheModelsType() throws {
        let sd15 = try Self.configuration(Self.sd15Json)
        let ddim = try #require(try makeScheduler(.ddim, modelConfiguration: sd15, stepCount: 5, predictionOverride: .vPrediction) as? DDIMScheduler)
        #expect(ddim.predictionType == .vPrediction)
    }

    @Test(arguments: [0, -3, 1001, 5000])
    func stepCountsOutOfRangeAreRejected(count: Int) throws {
        let sd15 = try Self.configuration(Self.sd15Json)
        for kind in SchedulerKind.allCases {
            #expect(throws: SchedulerError.invalidStepCount(count, maximum: 1000)) {
                try makeScheduler(kind, modelConfiguration: sd15, stepCount: count)
            }
        }
    }

    @Test func unsupportedModelSchedulersAreNamed() throws {
        var configuration = try Self.configuration(Self.sd15Json)
        configuration.className = "FlowMatchEulerDiscreteScheduler"
        #expect(throws: SchedulerError.unsupportedModelScheduler(className: "FlowMatchEulerDiscreteScheduler", supported: SchedulerKind.validNames)) {
            try makeScheduler(nil, modelConfiguration: configuration, stepCount: 20)
        }
        configuration.className = nil
        #expect(throws: SchedulerError.unsupportedModelScheduler(className: nil, supported: SchedulerKind.validNames)) {
            try makeScheduler(nil, modelConfiguration: configuration, stepCount: 20)
        }
        // An explicit kind needs no class name.
        #expect(try makeScheduler(.euler, modelConfiguration: configuration, stepCount: 20) is EulerDiscreteScheduler)
    }

    @Test(arguments: [
        ("beta_schedule", #"{"beta_schedule": "foo"}"#),
        ("prediction_type", #"{"prediction_type": "x0"}"#),
        ("timestep_spacing", #"{"timestep_spacing": "middle"}"#),
    ])
    func unknownValuesNameTheKey(key: String, json: String) throws {
        let configuration = try Self.configuration(json)
        for kind in SchedulerKind.allCases {
            do {
                _ = try makeScheduler(kind, modelConfiguration: configuration, stepCount: 10)
                Issue.record("\(kind) accepted \(json)")
            } catch let SchedulerError.invalidValue(badKey, value, valid) {
                #expect(badKey == key && !value.isEmpty && !valid.isEmpty)
            } catch { Issue.record("\(kind): unexpected \(error)") }
        }
    }

    @Test func unsupportedCombinationsAreReported() throws {
        let sd15 = try Self.configuration(Self.sd15Json)
        var prk = sd15
        prk.skipPrkSteps = false
        #expect(throws: SchedulerError.tooFewStepsForRungeKutta(3)) { try makeScheduler(.pndm, modelConfiguration: prk, stepCount: 3) }
        #expect(throws: SchedulerError.unsupportedPrediction(scheduler: "EulerAncestralDiscreteScheduler", prediction: "sample")) {
            try makeScheduler(.eulerAncestral, modelConfiguration: sd15, stepCount: 10, predictionOverride: .sample)
        }
        var thresholded = sd15
        thresholded.thresholding = true
        #expect(throws: SchedulerError.self) { try makeScheduler(.ddim, modelConfiguration: thresholded, stepCount: 10) }
        var betaSigmas = sd15
        betaSigmas.useBetaSigmas = true
        #expect(throws: SchedulerError.unsupportedOption("use_beta_sigmas")) { try makeScheduler(.euler, modelConfiguration: betaSigmas, stepCount: 10) }
    }

    @Test(arguments: SchedulerKind.allCases)
    func stepsPastTheScheduleThrow(kind: SchedulerKind) throws {
        var scheduler = try makeScheduler(kind, modelConfiguration: Self.configuration(Self.sd15Json), stepCount: 2)
        let latent = Tensor(shape: [1, 1, 1, 2], scalars: [0.3, -1.2])
        let random = ReplayRandomSource([])
        #expect(throws: SchedulerError.stepIndexOutOfRange(scheduler.timesteps.count, count: scheduler.timesteps.count)) {
            try scheduler.step(modelOutput: latent, stepIndex: scheduler.timesteps.count, sample: latent, random: random)
        }
    }

    @Test(arguments: [SchedulerKind.ddim, .pndm, .euler])
    func deterministicSchedulersDrawNoNoise(kind: SchedulerKind) throws {
        var scheduler = try makeScheduler(kind, modelConfiguration: Self.configuration(Self.sd15Json), stepCount: 3)
        let random = ReplayRandomSource([])
        var sample = Tensor(shape: [1, 1, 1, 2], scalars: [0.3, -1.2])
        for index in scheduler.timesteps.indices {
            sample = try scheduler.step(modelOutput: Tensor(shape: [1, 1, 1, 2], scalars: [0.5, 0.1]), stepIndex: index,
                                        sample: sample, random: random)
        }
        #expect(random.draws == 0)
        #expect(sample.scalars.allSatisfy { $0.isFinite })
    }
}
