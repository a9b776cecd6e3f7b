import Foundation
import LatentCore
import LatentSchedulers
import Testing

/// DPM++ 2M, DPM++ 2M SDE and DPM++ 2S a against tools/reference/dump_schedulers_b.py (diffusers 0.42.1 and a
/// float32 port of k-diffusion's `sample_dpmpp_2s_ancestral`).
@Suite struct SchedulersBTests {
    struct Case: Decodable {
        let configName: String
        let steps: Int
        let timesteps: [Float]
        let sigmas: [Float]
        let callSigmas: [Float]?
        let initNoiseSigma: Float?
        let addNoise: [SchedulerFixtures.AddNoise]?
        let scaleFactors: [Float]?
        let samples: [[Float]]?
        let noises: [[Float]]?
        enum CodingKeys: String, CodingKey {
            case steps, timesteps, sigmas, samples, noises
            case configName = "config_name", callSigmas = "call_sigmas", initNoiseSigma = "init_noise_sigma"
            case addNoise = "add_noise", scaleFactors = "scale_factors"
        }
    }

    struct File: Decodable {
        let configs: [String: SchedulerConfiguration]
        let cases: [Case]
    }

    static let directory = SchedulerFixtures.directory.deletingLastPathComponent().appendingPathComponent("schedulers-b")
    static let inputs = Result { try SchedulerFixtures.load(SchedulerFixtures.Inputs.self, "inputs.json") }

    static func load(_ name: String) throws -> File {
        try JSONDecoder().decode(File.self, from: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// The scheduler a case ran: through the registry, or directly when the case sets its own solver order.
    static func scheduler(_ kind: SchedulerKind, _ configuration: SchedulerConfiguration, steps: Int) throws -> any Scheduler {
        guard kind != .dpmpp2sAncestral, let order = configuration.solverOrder else {
            return try makeScheduler(kind, modelConfiguration: configuration, stepCount: steps)
        }
        var direct = configuration
        direct.solverOrder = order  // the case's own order, which the registry would replace by 2
        direct.algorithmType = kind == .dpmpp2m ? "dpmsolver++" : "sde-dpmsolver++"
        return try DPMSolverMultistepScheduler(configuration: direct, stepCount: steps)
    }

    @Test func dpmTimestepsAndSigmasMatchDiffusers() throws {
        let file = try Self.load("dpm_timesteps.json")
        #expect(file.cases.count >= 200)
        for reference in file.cases {
            let configuration = try #require(file.configs[reference.configName])
            let scheduler = try #require(try Self.scheduler(.dpmpp2m, configuration, steps: reference.steps) as? DPMSolverMultistepScheduler)
            let label = "\(reference.configName) n=\(reference.steps)"
            #expect(scheduler.timesteps == reference.timesteps, "\(label): timesteps \(scheduler.timesteps) vs \(reference.timesteps)")
            #expect(maxRelativeError(scheduler.sigmas, reference.sigmas) <= 1e-6, "\(label): sigmas \(scheduler.sigmas) vs \(reference.sigmas)")
        }
    }

    @Test(arguments: [SchedulerKind.dpmpp2m, .dpmpp2mSDE, .dpmpp2sAncestral])
    func trajectoriesMatchReference(kind: SchedulerKind) throws {
        let inputs = try Self.inputs.get()
        let file = try Self.load("\(kind.cliName).json")
        #expect(file.cases.count >= 30)
        for reference in file.cases {
            let configuration = try #require(file.configs[reference.configName])
            var scheduler = try Self.scheduler(kind, configuration, steps: reference.steps)
            try check(&scheduler, kind: kind, against: reference, inputs: inputs,
                      label: "\(kind) \(reference.configName) n=\(reference.steps)")
        }
    }

    private func check(_ scheduler: inout any Scheduler, kind: SchedulerKind, against reference: Case,
                       inputs: SchedulerFixtures.Inputs, label: String) throws {
        #expect(maxRelativeError(scheduler.timesteps, reference.timesteps) <= 1e-6,
                "\(label): timesteps \(scheduler.timesteps) vs \(reference.timesteps)")
        if let dpm = scheduler as? DPMSolverMultistepScheduler {
            #expect(maxRelativeError(dpm.sigmas, reference.sigmas) <= 1e-6, "\(label): sigmas")
        } else {
            let twoS = try #require(scheduler as? DPMSolver2SAncestralScheduler)
            #expect(maxRelativeError(twoS.stepSigmas, reference.sigmas) <= 1e-6, "\(label): step sigmas")
            #expect(maxRelativeError(twoS.callSigmas, try #require(reference.callSigmas)) <= 1e-6,
                    "\(label): call sigmas \(twoS.callSigmas) vs \(reference.callSigmas ?? [])")
        }
        let initNoiseSigma = try #require(reference.initNoiseSigma)
        #expect(maxRelativeError([scheduler.initNoiseSigma], [initNoiseSigma]) <= 1e-6, "\(label): init_noise_sigma")
        let samples = try #require(reference.samples), factors = try #require(reference.scaleFactors)
        try #require(scheduler.timesteps.count == samples.count, "\(label): call count \(scheduler.timesteps.count) vs \(samples.count)")

        for noised in reference.addNoise ?? [] {
            let result = scheduler.addNoise(original: inputs.tensor(inputs.original), noise: inputs.tensor(inputs.noise),
                                            stepIndex: noised.stepIndex)
            #expect(tensorRelativeError(result.scalars, noised.result) <= 1e-5, "\(label): add_noise at \(noised.stepIndex)")
        }

        let noises = reference.noises ?? []
        let random = ReplayRandomSource(noises.map { inputs.tensor($0) })
        var sample = inputs.tensor(inputs.initialSample) * scheduler.initNoiseSigma
        for (index, expected) in samples.enumerated() {
            let factor = scheduler.scaleModelInput(Tensor(repeating: 1, shape: inputs.shape), stepIndex: index).scalars[0]
            #expect(maxRelativeError([factor], [factors[index]]) <= 1e-6, "\(label): scale factor at \(index)")
            sample = try scheduler.step(modelOutput: inputs.tensor(inputs.modelOutputs[index]), stepIndex: index,
                                        sample: sample, random: random)
            let error = tensorRelativeError(sample.scalars, expected)
            #expect(error <= 1e-5, "\(label): sample after call \(index) off by \(error)")
        }
        #expect(random.remaining == 0 && random.draws == noises.count,
                "\(label): drew \(random.draws) noise tensors, reference drew \(noises.count)")
        if kind == .dpmpp2mSDE { #expect(noises.count == samples.count, "\(label): SDE draws once per step") }
    }

    @Test func twoSAncestralMakesTwoCallsPerStepButOneForTheLast() throws {
        let configuration = SchedulerConfiguration(betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "scaled_linear")
        for steps in [1, 2, 5, 8] {
            let scheduler = try makeScheduler(.dpmpp2sAncestral, modelConfiguration: configuration, stepCount: steps)
            #expect(scheduler.timesteps.count == 2 * steps - 1)
        }
    }

    @Test func outOfOrderMidpointCallIsAnError() throws {
        let configuration = SchedulerConfiguration(betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "scaled_linear")
        var scheduler = try makeScheduler(.dpmpp2sAncestral, modelConfiguration: configuration, stepCount: 4)
        let sample = Tensor(repeating: 0.5, shape: [1, 4, 2, 2])
        #expect(throws: SchedulerError.self) {
            _ = try scheduler.step(modelOutput: sample, stepIndex: 1, sample: sample, random: ReplayRandomSource([]))
        }
    }

    @Test(arguments: [
        ("DPM++ 2M", "dpmpp_2m"), ("DPM++ 2M Karras", "dpmpp_2m_karras"), ("dpmpp_2m_exponential", "dpmpp_2m_exponential"),
        ("DPM++ 2M SDE", "dpmpp_2m_sde"), ("DPM++ 2M SDE Karras", "dpmpp_2m_sde_karras"),
        ("DPM++ 2M SDE Exponential", "dpmpp_2m_sde_exponential"), ("DPM++ 2S a", "dpmpp_2s_a"),
        ("DPM++ 2S a Karras", "dpmpp_2s_a_karras"), ("k_dpmpp_2s_a", "dpmpp_2s_a"), ("k_dpmpp_2m", "dpmpp_2m"),
        ("DPMSolverMultistepScheduler", "dpmpp_2m"),
    ])
    func a1111LabelsResolve(label: String, cliName: String) throws {
        #expect(try SchedulerChoice(named: label).cliName == cliName)
    }

    @Test func modelConfigurationPicksTheSDEVariantByAlgorithmType() throws {
        var configuration = SchedulerConfiguration(className: "DPMSolverMultistepScheduler")
        #expect(SchedulerKind(modelConfiguration: configuration) == .dpmpp2m)
        configuration.algorithmType = "sde-dpmsolver++"
        #expect(SchedulerKind(modelConfiguration: configuration) == .dpmpp2mSDE)
    }

    @Test func diffusersSavedDPMConfigurationWithInfinityLoads() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dpm-\(UUID().uuidString).json")
        let json = #"{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++", "lambda_min_clipped": -Infinity, "solver_order": 2}"#
        try Data(json.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let configuration = try SchedulerConfiguration(contentsOf: url)
        #expect(configuration.lambdaMinClipped == -.infinity)
        #expect(SchedulerKind(modelConfiguration: configuration) == .dpmpp2mSDE)
    }

    @Test func unsupportedDPMOptionsAreErrors() {
        for configuration in [
            SchedulerConfiguration(thresholding: true),
            SchedulerConfiguration(useKarrasSigmas: true, useExponentialSigmas: true),
            { var c = SchedulerConfiguration(); c.algorithmType = "dpmsolver"; return c }(),
            { var c = SchedulerConfiguration(); c.solverOrder = 4; return c }(),
            { var c = SchedulerConfiguration(); c.solverType = "rk4"; return c }(),
        ] {
            #expect(throws: SchedulerError.self) { _ = try DPMSolverMultistepScheduler(configuration: configuration, stepCount: 10) }
        }
    }
}
