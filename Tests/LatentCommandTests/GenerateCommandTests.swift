import Foundation
import LatentImageIO
import LatentTesting
import Testing

@Suite("latent generate")
struct GenerateCommandTests {
    static let model = "Tests/Fixtures/models/sd15-tiny"

    /// The CLI writes diffusers' image for the same seed, with A1111 parameters in the PNG.
    @Test func writesDiffusersImageWithParameters() throws {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.png")
        let result = try LatentBinary.run([
            "generate", "--model", Self.model, "--prompt", "a red cube on a table",
            "--negative-prompt", "blurry, low quality, watermark, text", "--steps", "4", "--cfg-scale", "7.5",
            "--scheduler", "ddim", "--seed", "3", "--width", "64", "--height", "96", "--output", output.path,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let (image, text) = try readImage(at: output)
        let (expected, _) = try readImage(at: Fixtures.url("reference/pipeline/sd15-ddim-negative-96x64.png"))
        #expect(psnr(image.pixels, expected.droppingAlpha().pixels) >= 40)
        let parameters = try #require(text["parameters"])
        #expect(parameters.hasPrefix("a red cube on a table\nNegative prompt: blurry, low quality, watermark, text\n"))
        #expect(parameters.contains("Steps: 4, Sampler: DDIM, CFG scale: 7.5, Seed: 3, Size: 64x96, Model hash: "))
        #expect(parameters.contains("Model: sd15-tiny"))
    }

    /// Omitting the seed picks one, prints it and uses the model's default size and scheduler.
    @Test func randomSeedIsPrinted() throws {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try LatentBinary.run(
            ["generate", "--model", Fixtures.url("models/sd2v-tiny-fp16.safetensors").path, "--prompt", "x", "--steps", "2",
             "--width", "64", "--height", "64"],
            in: directory)
        #expect(result.status == 0, "\(result.standardError)")
        let seedLine = try #require(result.standardError.split(separator: "\n").first { $0.hasPrefix("seed: ") })
        let seed = try #require(UInt64(seedLine.dropFirst(6)))
        let written = directory.appendingPathComponent("latent-\(seed).png")
        #expect(FileManager.default.fileExists(atPath: written.path))
        let (_, text) = try readImage(at: written)
        #expect(text["parameters"]?.contains("Sampler: DDIM") == true)
    }

    struct BadInput: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: [String]
        var message: String
        var testDescription: String { name }
    }

    static let badInputs: [BadInput] = [
        BadInput(name: "unknown scheduler", arguments: ["--scheduler", "warp_drive"], message: "warp_drive"),
        BadInput(name: "width not a multiple of 8", arguments: ["--width", "100"], message: "multiples of 8"),
        BadInput(name: "steps zero", arguments: ["--steps", "0"], message: "step count 0"),
        BadInput(name: "missing model", arguments: ["--model", "/nonexistent/model"], message: "model not found"),
        BadInput(name: "truncated safetensors", arguments: ["--model", "@truncated"], message: "invalid safetensors file"),
        BadInput(name: "corrupt safetensors", arguments: ["--model", "@garbage"], message: "invalid safetensors file"),
        BadInput(name: "unknown architecture", arguments: ["--model", "@unknown-architecture"], message: "unknown checkpoint architecture"),
        BadInput(name: "missing tokenizer files", arguments: ["--model", "@no-tokenizer"], message: "vocab.json"),
        BadInput(name: "unwritable output", arguments: ["--output", "/nonexistent-dir/out.png"], message: "does not exist"),
        BadInput(name: "unknown output format", arguments: ["--output", "@dir/out.bmp"], message: "unknown image extension"),
    ]

    /// Every bad input: one `error:` line naming the problem, a non-zero exit, no output file.
    @Test(arguments: badInputs)
    func badInputFailsCleanly(_ input: BadInput) throws {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let modelPath = try prepareModel(input.arguments, in: directory)
        var arguments = ["generate", "--model", modelPath, "--prompt", "x", "--steps", "2", "--seed", "1",
                         "--width", "64", "--height", "64", "--output", directory.appendingPathComponent("out.png").path]
        // Later flags override earlier ones in argument-parser, so the case's flags win.
        for (i, argument) in input.arguments.enumerated() {
            if argument.hasPrefix("@") {
                arguments.append(argument == "@dir/out.bmp" ? directory.appendingPathComponent("out.bmp").path : modelPath)
            } else if !(i > 0 && input.arguments[i - 1] == "--model") || !argument.hasPrefix("@") {
                arguments.append(argument)
            }
        }
        let result = try LatentBinary.run(arguments)
        #expect(result.status != 0)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.standardError)")
        #expect(lines.first?.hasPrefix("error: ") == true)
        #expect(result.standardError.contains(input.message), "stderr: \(result.standardError)")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("out") || $0.hasPrefix(".") }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// Builds the broken model a case names (`@truncated`, …) inside `directory`.
    private func prepareModel(_ arguments: [String], in directory: URL) throws -> String {
        guard let index = arguments.firstIndex(of: "--model"), arguments[index + 1].hasPrefix("@") else {
            return Fixtures.url("models/sd15-tiny").path
        }
        let source = Fixtures.url("models/sd15-tiny-bf16.safetensors")
        let target = directory.appendingPathComponent("broken.safetensors")
        switch arguments[index + 1] {
        case "@truncated":
            let data = try Data(contentsOf: source)
            try data.prefix(data.count / 2).write(to: target)
        case "@garbage":
            try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }).write(to: target)
        case "@unknown-architecture":
            // A valid safetensors file whose tensors belong to no Stable Diffusion layout.
            let header = #"{"foo.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
            var data = Data()
            var length = UInt64(header.utf8.count).littleEndian
            withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
            data.append(contentsOf: Array(header.utf8))
            data.append(contentsOf: [UInt8](repeating: 0, count: 8))
            try data.write(to: target)
        case "@no-tokenizer":
            let folder = directory.appendingPathComponent("model")
            try FileManager.default.copyItem(at: Fixtures.url("models/sd15-tiny"), to: folder)
            try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenizer/vocab.json"))
            return folder.path
        default:
            break
        }
        return target.path
    }
}

@Suite("latent schedulers")
struct SchedulersCommandTests {
    @Test func listsEveryScheduler() throws {
        let result = try LatentBinary.run(["schedulers"])
        #expect(result.status == 0)
        for name in ["ddim", "pndm", "euler", "euler_a"] {
            #expect(result.standardOutput.split(separator: "\n").contains { $0.hasPrefix(name + " ") })
        }
    }
}
