import LatentCore
import LatentSchedulers
import Testing

/// Whole denoising runs against diffusers: same timesteps, sigmas, scaling, noise draws and samples.
@Suite struct SchedulerTrajectoryTests {
    static let inputs = Result { try SchedulerFixtures.load(SchedulerFixtures.Inputs.self, "inputs.json") }

    /// The kinds whose fixtures live in Tests/Fixtures/schedulers (later kinds have their own suites and folders).
    @Test(arguments: [SchedulerKind.ddim, .pndm, .euler, .eulerAncestral])
    func trajectoriesMatchDiffusers(kind: SchedulerKind) throws {
        let inputs = try Self.inputs.get()
        let file = try SchedulerFixtures.load(SchedulerFixtures.TrajectoryFile.self, "\(kind.cliName).json")
        #expect(file.kind == kind.cliName)
        #expect(file.cases.count >= 13, "fixture for \(kind) has only \(file.cases.count) cases")
        for reference in file.cases {
            let configuration = try #require(file.configs[reference.configName])
            var scheduler: any Scheduler = if let eta = reference.eta {
                try DDIMScheduler(configuration: configuration, stepCount: reference.steps, eta: eta)
            } else {
                try makeScheduler(kind, modelConfiguration: configuration, stepCount: reference.steps)
            }
            try check(&scheduler, against: reference, inputs: inputs, label: "\(kind) \(reference.configName) n=\(reference.steps)\(reference.eta.map { " eta=\($0)" } ?? "")")
        }
    }

    private func check(_ scheduler: inout any Scheduler, against reference: SchedulerFixtures.Trajectory,
                       inputs: SchedulerFixtures.Inputs, label: String) throws {
        #expect(maxRelativeError(scheduler.timesteps, reference.timesteps) <= 1e-6, "\(label): timesteps \(scheduler.timesteps) vs \(reference.timesteps)")
        if let expected = reference.sigmas {
            let sigmas = (scheduler as? EulerDiscreteScheduler)?.sigmas ?? (scheduler as? EulerAncestralDiscreteScheduler)?.sigmas
            #expect(maxRelativeError(try #require(sigmas), expected) <= 1e-6, "\(label): sigmas")
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
        for (index, expected) in reference.samples.enumerated() {
            let ones = Tensor(repeating: 1, shape: inputs.shape)
            let factor = scheduler.scaleModelInput(ones, stepIndex: index).scalars[0]
            #expect(maxRelativeError([factor], [reference.scaleFactors[index]]) <= 1e-6, "\(label): scale factor at \(index)")
            sample = try scheduler.step(modelOutput: inputs.tensor(inputs.modelOutputs[index]), stepIndex: index,
                                        sample: sample, random: random)
            let error = tensorRelativeError(sample.scalars, expected)
            #expect(error <= 1e-5, "\(label): sample after step \(index) off by \(error)")
        }
        #expect(random.remaining == 0 && random.draws == reference.noises.count,
                "\(label): drew \(random.draws) noise tensors, reference drew \(reference.noises.count)")
    }
}
