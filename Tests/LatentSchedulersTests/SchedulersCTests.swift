import Foundation
import LatentCore
import LatentSchedulers
import Testing

/// UniPC, DEIS, LCM and TCD against diffusers (fixtures from tools/reference/dump_schedulers_c.py; random inputs
/// shared with dump_schedulers.py's `Tests/Fixtures/schedulers/inputs.json`).
@Suite struct SchedulersCTests {
    static let kinds: [SchedulerKind] = [.unipc, .deis, .lcm, .tcd]
    static let inputs = Result { try SchedulerFixtures.load(SchedulerFixtures.Inputs.self, "inputs.json") }
    static let timesteps = Result { try load(SchedulerFixtures.TimestepFile.self, "timesteps.json") }

    /// `Tests/Fixtures/schedulers-c`, next to the shared scheduler fixtures.
    static func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let url = SchedulerFixtures.directory.deletingLastPathComponent().appendingPathComponent("schedulers-c/\(name)")
        return try JSONDecoder().decode(type, from: Data(contentsOf: url))
    }

    /// The scheduler diffusers ran: TCD's `eta` is the gamma its step received.
    static func scheduler(_ kind: SchedulerKind, _ configuration: SchedulerConfiguration, steps: Int, gamma: Float?) throws -> any Scheduler {
        if kind == .tcd, let gamma {
            return try TCDScheduler(configuration: configuration, stepCount: steps, gamma: gamma)
        }
        return try makeScheduler(kind, modelConfiguration: configuration, stepCount: steps)
    }

    static func sigmas(of scheduler: any Scheduler) -> [Float]? {
        (scheduler as? UniPCMultistepScheduler)?.sigmas ?? (scheduler as? DEISMultistepScheduler)?.sigmas
    }

    @Test(arguments: kinds)
    func timestepsAndSigmasMatchDiffusers(kind: SchedulerKind) throws {
        let file = try Self.timesteps.get()
        let cases = file.cases.filter { $0.kind == kind.cliName }
        #expect(cases.count >= 40)
        for reference in cases {
            let label = "\(kind) \(reference.configName) n=\(reference.steps)"
            let configuration = try #require(file.configs[reference.configName])
            let scheduler = try makeScheduler(kind, modelConfiguration: configuration, stepCount: reference.steps)
            #expect(scheduler.timesteps == reference.timesteps, "\(label): timesteps \(scheduler.timesteps) vs \(reference.timesteps)")
            #expect(scheduler.initNoiseSigma == reference.initNoiseSigma, "\(label): init_noise_sigma")
            if let expected = reference.sigmas {
                #expect(maxRelativeError(try #require(Self.sigmas(of: scheduler)), expected) <= 1e-6, "\(label): sigmas")
            }
        }
    }

    @Test(arguments: kinds)
    func trajectoriesMatchDiffusers(kind: SchedulerKind) throws {
        let inputs = try Self.inputs.get()
        let file = try Self.load(SchedulerFixtures.TrajectoryFile.self, "\(kind.cliName).json")
        #expect(file.kind == kind.cliName)
        #expect(file.cases.count >= 20, "fixture for \(kind) has only \(file.cases.count) cases")
        for reference in file.cases {
            let configuration = try #require(file.configs[reference.configName])
            let label = "\(kind) \(reference.configName) n=\(reference.steps)\(reference.eta.map { " gamma=\($0)" } ?? "")"
            var scheduler = try Self.scheduler(kind, configuration, steps: reference.steps, gamma: reference.eta)
            #expect(scheduler.timesteps == reference.timesteps, "\(label): timesteps")
            if let expected = reference.sigmas {
                #expect(maxRelativeError(try #require(Self.sigmas(of: scheduler)), expected) <= 1e-6, "\(label): sigmas")
            }
            try #require(scheduler.timesteps.count == reference.samples.count, "\(label): call count")
            for noised in reference.addNoise {
                let result = scheduler.addNoise(original: inputs.tensor(inputs.original), noise: inputs.tensor(inputs.noise),
                                                stepIndex: noised.stepIndex)
                #expect(tensorRelativeError(result.scalars, noised.result) <= 1e-5, "\(label): add_noise at \(noised.stepIndex)")
            }
            let random = ReplayRandomSource(reference.noises.map { inputs.tensor($0) })
            var sample = inputs.tensor(inputs.initialSample) * scheduler.initNoiseSigma
            for (index, expected) in reference.samples.enumerated() {
                let factor = scheduler.scaleModelInput(Tensor(repeating: 1, shape: inputs.shape), stepIndex: index).scalars[0]
                #expect(factor == reference.scaleFactors[index], "\(label): scale factor at \(index)")
                sample = try scheduler.step(modelOutput: inputs.tensor(inputs.modelOutputs[index]), stepIndex: index,
                                            sample: sample, random: random)
                let error = tensorRelativeError(sample.scalars, expected)
                #expect(error <= 1e-5, "\(label): sample after step \(index) off by \(error)")
            }
            #expect(random.remaining == 0 && random.draws == reference.noises.count,
                    "\(label): drew \(random.draws) noise tensors, reference drew \(reference.noises.count)")
        }
    }

    @Test(arguments: [
        ("unipc", SchedulerChoice(.unipc)), ("UniPC", SchedulerChoice(.unipc)), ("UniPCMultistepScheduler", SchedulerChoice(.unipc)),
        ("uni_pc", SchedulerChoice(.unipc)), ("unipc_karras", SchedulerChoice(.unipc, sigmas: .karras)),
        ("UniPC Exponential", SchedulerChoice(.unipc, sigmas: .exponential)), ("DEIS", SchedulerChoice(.deis)),
        ("deis_karras", SchedulerChoice(.deis, sigmas: .karras)), ("DEISMultistepScheduler", SchedulerChoice(.deis)),
        ("LCM", SchedulerChoice(.lcm)), ("LCMScheduler", SchedulerChoice(.lcm)), ("tcd", SchedulerChoice(.tcd)),
        ("TCDScheduler", SchedulerChoice(.tcd)),
    ])
    func namesResolve(name: String, choice: SchedulerChoice) throws {
        #expect(try SchedulerChoice(named: name) == choice)
    }

    @Test func metadataDescribesTheNewKinds() throws {
        #expect(SchedulerKind.unipc.supportedSigmaSchedules == [.standard, .karras, .exponential])
        #expect(SchedulerKind.deis.supportedSigmaSchedules == [.standard, .karras, .exponential])
        #expect(SchedulerKind.lcm.supportedSigmaSchedules == [.standard] && SchedulerKind.tcd.supportedSigmaSchedules == [.standard])
        #expect(SchedulerKind.allCases.filter(\.needsDistilledModel) == [.lcm, .tcd])
        #expect(throws: SchedulerError.self) { try SchedulerChoice(named: "lcm_karras") }
        // A model shipping an LCM or UniPC scheduler config runs with it.
        #expect(SchedulerKind(diffusersClassName: "LCMScheduler") == .lcm)
        #expect(SchedulerKind(diffusersClassName: "UniPCMultistepScheduler") == .unipc)
    }

    @Test func unsupportedOptionsAreNamed() throws {
        let sd15 = SchedulerConfiguration(className: "PNDMScheduler", betaStart: 0.00085, betaEnd: 0.012,
                                          betaSchedule: "scaled_linear", stepsOffset: 1)
        func expectError(_ kind: SchedulerKind, _ edit: (inout SchedulerConfiguration) -> Void, mentioning word: String,
                         steps: Int = 10, sourceLocation: SourceLocation = #_sourceLocation) {
            var configuration = sd15
            edit(&configuration)
            do {
                _ = try makeScheduler(kind, modelConfiguration: configuration, stepCount: steps)
                Issue.record("\(kind) accepted a configuration with \(word)", sourceLocation: sourceLocation)
            } catch let error as SchedulerError {
                #expect(error.description.contains(word), "\(error)", sourceLocation: sourceLocation)
            } catch { Issue.record("unexpected \(error)", sourceLocation: sourceLocation) }
        }
        for kind in Self.kinds {
            expectError(kind, { $0.thresholding = true }, mentioning: "thresholding")
        }
        for kind in [SchedulerKind.unipc, .deis] {
            expectError(kind, { $0.useBetaSigmas = true }, mentioning: "use_beta_sigmas")
            expectError(kind, { $0.useFlowSigmas = true }, mentioning: "use_flow_sigmas")
            expectError(kind, { $0.predictionType = "flow_prediction" }, mentioning: "flow_prediction")
            expectError(kind, { $0.solverType = "rk4" }, mentioning: "solver_type")
            expectError(kind, { $0.useKarrasSigmas = true; $0.useExponentialSigmas = true }, mentioning: "use_karras_sigmas")
        }
        expectError(.deis, { $0.solverOrder = 4 }, mentioning: "solver_order 4")
        expectError(.deis, { $0.algorithmType = "sde-dpmsolver++" }, mentioning: "algorithm_type")
        expectError(.unipc, { $0.solverOrder = 0 }, mentioning: "solver_order")
        expectError(.unipc, { $0.solverType = "bh1" }, mentioning: "bh1")
        expectError(.unipc, { $0.predictX0 = false }, mentioning: "predict_x0")
        expectError(.lcm, { _ in }, mentioning: "original_inference_steps 50", steps: 51)
        expectError(.tcd, { $0.originalInferenceSteps = 8 }, mentioning: "original_inference_steps 8", steps: 9)
        expectError(.lcm, { $0.originalInferenceSteps = 2000 }, mentioning: "original_inference_steps 2000")
        #expect(throws: SchedulerError.self) { try TCDScheduler(configuration: sd15, stepCount: 4, gamma: 1.5) }
    }

    @Test func pipelineTCDIsDeterministicAndHigherOrdersWork() throws {
        // StableDiffusionPipeline passes eta = 0 as TCD's gamma: no noise is drawn.
        let sd15 = SchedulerConfiguration(className: "PNDMScheduler", betaStart: 0.00085, betaEnd: 0.012,
                                          betaSchedule: "scaled_linear", stepsOffset: 1)
        var tcd = try makeScheduler(.tcd, modelConfiguration: sd15, stepCount: 4)
        #expect((tcd as? TCDScheduler)?.gamma == 0)
        let random = ReplayRandomSource([])
        var sample = Tensor(shape: [1, 1, 1, 2], scalars: [0.3, -1.2])
        for index in tcd.timesteps.indices {
            sample = try tcd.step(modelOutput: Tensor(shape: [1, 1, 1, 2], scalars: [0.5, 0.1]), stepIndex: index,
                                  sample: sample, random: random)
        }
        #expect(random.draws == 0 && sample.scalars.allSatisfy(\.isFinite))
    }
}
