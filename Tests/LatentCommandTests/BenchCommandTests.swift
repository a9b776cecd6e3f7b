import Foundation
import LatentTesting
import Testing

@Suite("latent bench")
struct BenchCommandTests {
    /// `--json` prints one JSON object on one line with the keys scripts read, typed as documented.
    @Test func jsonLineHasTheDocumentedKeys() throws {
        let result = try LatentBinary.run([
            "bench", "--model", "Tests/Fixtures/models/sd15-tiny", "--width", "64", "--height", "64", "--steps", "2",
            "--scheduler", "euler", "--json",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        for key in ["text_encode_s", "unet_step_s", "vae_decode_s"] {
            let seconds = try #require(object[key] as? Double, "\(key) missing or not a number")
            #expect(seconds >= 0 && seconds.isFinite, "\(key) = \(seconds)")
        }
        let rss = try #require(object["peak_rss_bytes"] as? Int)
        #expect(rss > 1 << 20)
        #expect(object["steps"] as? Int == 2)
    }

    /// Without `--json` the same measurements come as a readable table.
    @Test func tableNamesEveryPhase() throws {
        let result = try LatentBinary.run([
            "bench", "--model", "Tests/Fixtures/models/sd15-tiny", "--width", "64", "--height", "64", "--steps", "1",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        for label in ["text encode", "UNet step", "VAE decode", "peak RSS"] {
            #expect(result.standardOutput.contains(label), "missing \(label)")
        }
    }

    /// `--threads` must be positive; one thread still runs the whole benchmark.
    @Test func threadCountIsValidatedAndApplied() throws {
        let refused = try LatentBinary.run(["bench", "--model", "Tests/Fixtures/models/sd15-tiny", "--threads", "0"])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("--threads must be at least 1"), "\(refused.standardError)")
        let single = try LatentBinary.run([
            "bench", "--model", "Tests/Fixtures/models/sd15-tiny", "--width", "64", "--height", "64", "--steps", "1",
            "--threads", "1", "--json",
        ])
        #expect(single.status == 0, "\(single.standardError)")
    }
}
