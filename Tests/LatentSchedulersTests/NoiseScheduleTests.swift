import LatentSchedulers
import Testing

/// Training schedules and inference timesteps/sigmas against diffusers.
@Suite struct NoiseScheduleTests {
    static let schedules = Result { try SchedulerFixtures.load(SchedulerFixtures.NoiseScheduleFile.self, "noise_schedules.json") }
    static let timesteps = Result { try SchedulerFixtures.load(SchedulerFixtures.TimestepFile.self, "timesteps.json") }

    @Test(arguments: ["linear", "scaled_linear", "squaredcos_cap_v2", "scaled_linear_zero_snr"])
    func betasAndAlphaProductsMatchDiffusers(name: String) throws {
        let reference = try #require(try Self.schedules.get().cases.first { $0.name == name })
        let schedule = try NoiseSchedule(configuration: reference.config, allowsZeroSNRRescale: true)
        #expect(schedule.betas.count == 1000)
        // β = 1 − α loses digits to cancellation where α ≈ 1 (the zero-SNR rescale divides ᾱ's), so compare α.
        #expect(maxRelativeError(schedule.betas.map { 1 - $0 }, reference.betas.map { 1 - $0 }) <= 1e-6)
        #expect(maxRelativeError(schedule.alphasCumprod, reference.alphasCumprod) <= 1e-6)
    }

    @Test func torchLinspaceIsBitExact() throws {
        // scaled_linear betas are the squares of a float32 torch.linspace; an ulp off anywhere shows here.
        let reference = try #require(try Self.schedules.get().cases.first { $0.name == "scaled_linear" })
        let schedule = try NoiseSchedule(configuration: reference.config, allowsZeroSNRRescale: false)
        #expect(schedule.betas == reference.betas)
    }

    /// The kinds whose fixtures live in Tests/Fixtures/schedulers (later kinds have their own suites and folders).
    @Test(arguments: [SchedulerKind.ddim, .pndm, .euler, .eulerAncestral])
    func timestepsAndSigmasMatchDiffusers(kind: SchedulerKind) throws {
        let file = try Self.timesteps.get()
        let cases = file.cases.filter { $0.kind == kind.cliName }
        #expect(cases.count >= 50)
        for reference in cases {
            let label = "\(kind) \(reference.configName) n=\(reference.steps)"
            let configuration = try #require(file.configs[reference.configName])
            let scheduler = try makeScheduler(kind, modelConfiguration: configuration, stepCount: reference.steps)
            #expect(scheduler.timesteps.count == reference.timesteps.count, "\(label): timestep count")
            // Continuous timesteps 0.25·log σ pass through zero: below magnitude 1 the error is taken as absolute.
            #expect(maxRelativeError(scheduler.timesteps, reference.timesteps, floor: 1) <= 1e-6, "\(label): timesteps")
            #expect(maxRelativeError([scheduler.initNoiseSigma], [reference.initNoiseSigma]) <= 1e-6, "\(label): init_noise_sigma")
            if let expected = reference.sigmas {
                let sigmas = (scheduler as? EulerDiscreteScheduler)?.sigmas ?? (scheduler as? EulerAncestralDiscreteScheduler)?.sigmas
                #expect(maxRelativeError(try #require(sigmas), expected) <= 1e-6, "\(label): sigmas")
            }
        }
    }

    @Test func trailingSpacingKeepsNumpysExtraTimestep() throws {
        // numpy.arange(1000, 0, -1000/61) has 62 values, so diffusers schedules 62 calls ending at timestep -1.
        let configuration = SchedulerConfiguration(className: "DDIMScheduler", timestepSpacing: "trailing")
        let scheduler = try DDIMScheduler(configuration: configuration, stepCount: 61)
        #expect(scheduler.trainingTimesteps.count == 62)
        #expect(scheduler.trainingTimesteps.last == -1)
    }
}
