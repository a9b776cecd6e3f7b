import LatentSchedulers
import Testing

@Suite("SchedulerChoice names")
struct SchedulerChoiceTests {
    @Test(arguments: [
        ("euler_karras", "euler_karras"), ("Euler Karras", "euler_karras"), ("euler_exponential", "euler_exponential"),
        ("Euler a", "euler_a"), ("euler", "euler"), ("EulerDiscreteScheduler", "euler"), ("PLMS", "pndm"),
    ])
    func parses(_ name: String, _ expected: String) throws {
        #expect(try SchedulerChoice(named: name).cliName == expected)
    }

    @Test func separateScheduleType() throws {
        #expect(try SchedulerChoice(named: "Euler", scheduleType: "Karras").cliName == "euler_karras")
        #expect(try SchedulerChoice(named: "Euler", scheduleType: "Automatic").cliName == "euler")
    }

    @Test func unsupportedVariantIsAnError() {
        #expect(throws: SchedulerError.self) { try SchedulerChoice(named: "ddim_karras") }
        #expect(throws: SchedulerError.self) { try SchedulerChoice(named: "warp_drive") }
    }

    @Test func everyListedNameParsesBack() throws {
        for choice in SchedulerChoice.allChoices {
            #expect(try SchedulerChoice(named: choice.cliName) == choice)
            #expect(try SchedulerChoice(named: choice.a1111Label) == choice)
        }
    }

    @Test func karrasSwitchesTheConfiguration() {
        let configuration = SchedulerChoice(.euler, sigmas: .karras).configuration(from: SchedulerConfiguration())
        #expect(configuration.useKarrasSigmas == true)
    }
}
