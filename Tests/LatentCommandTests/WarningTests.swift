import Foundation
import LatentTesting
import Testing

/// Settings that contradict the model run, but say so first.
@Suite("latent generate warnings")
struct WarningTests {
    private func run(_ extra: [String]) throws -> LatentBinary.Output {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        return try LatentBinary.run(
            ["generate", "--model", "Tests/Fixtures/models/sd15-tiny", "--prompt", "x", "--steps", "2", "--seed", "1",
             "--width", "64", "--height", "64", "--output", directory.appendingPathComponent("o.png").path] + extra)
    }

    @Test func consistencySamplerOnAnOrdinaryModelWarns() throws {
        let result = try run(["--scheduler", "lcm", "--cfg-scale", "1"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("warning: lcm is meant for LCM-distilled models"))
    }

    @Test func contradictingPredictionWarns() throws {
        let result = try run(["--prediction", "v_prediction"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("warning: --prediction v_prediction contradicts"))
    }

    @Test func agreeingSettingsAreQuiet() throws {
        let result = try run(["--scheduler", "euler_a", "--prediction", "epsilon"])
        #expect(result.status == 0)
        #expect(!result.standardError.contains("warning:"))
    }
}
