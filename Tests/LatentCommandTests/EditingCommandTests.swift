import Foundation
import LatentImageIO
import LatentTesting
import Testing

@Suite("latent generate --init-image / outpaint")
struct EditingCommandTests {
    static let model = "Tests/Fixtures/models/sd15-tiny"
    static func fixture(_ name: String) -> String { Fixtures.url("reference/editing/\(name)").path }

    /// img2img from the CLI writes diffusers' image, with the editing parameters in the PNG.
    @Test func imageToImageMatchesDiffusers() throws {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.png")
        let result = try LatentBinary.run([
            "generate", "--model", Self.model, "--prompt", "a red cube on a table",
            "--negative-prompt", "blurry, low quality, watermark, text", "--steps", "6", "--scheduler", "ddim", "--seed", "23",
            "--init-image", Self.fixture("init-64x64.png"), "--strength", "0.5", "--output", output.path,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let (image, text) = try readImage(at: output)
        let (expected, _) = try readImage(at: Fixtures.url("reference/editing/i2i-ddim-s0.5.png"))
        #expect(psnr(image.pixels, expected.droppingAlpha().pixels) >= 40)
        let parameters = try #require(text["parameters"])
        #expect(parameters.contains("Size: 64x64"))
        #expect(parameters.contains("Denoising strength: 0.5"))
    }

    /// Inpainting from the CLI: unmasked pixels are the input's, the parameters name the mask options.
    @Test func inpaintingKeepsUnmaskedPixels() throws {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.png")
        let result = try LatentBinary.run([
            "generate", "--model", "Tests/Fixtures/models/sd15-inpaint-tiny", "--prompt", "a cat", "--steps", "3", "--seed", "4",
            "--init-image", Self.fixture("init-96x64.png"), "--mask", Self.fixture("mask-96x64.png"), "--mask-blur", "0",
            "--masked-content", "latent-noise", "--strength", "0.9", "--output", output.path,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let (image, text) = try readImage(at: output)
        let (original, _) = try readImage(at: URL(fileURLWithPath: Self.fixture("init-96x64.png")))
        let (maskImage, _) = try readImage(at: URL(fileURLWithPath: Self.fixture("mask-96x64.png")))
        #expect(image.width == 96 && image.height == 64)
        let rgbMask = maskImage.channels
        for i in 0..<(96 * 64) where maskImage.pixels[i * rgbMask] == 0 {
            #expect(image.pixels[(i * 3)..<(i * 3 + 3)] == original.droppingAlpha().pixels[(i * 3)..<(i * 3 + 3)])
        }
        let parameters = try #require(text["parameters"])
        #expect(parameters.contains("Denoising strength: 0.9, Mask blur: 0, Masked content: latent noise"))
    }

    /// Outpainting: the extended size, and the original's pixels outside the seam within ±1.
    @Test func outpaintExtendsCanvas() throws {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.png")
        let result = try LatentBinary.run([
            "outpaint", "--model", "Tests/Fixtures/models/sd15-inpaint-tiny", "--image", Self.fixture("init-64x64.png"),
            "--prompt", "a wide landscape", "--right", "32", "--bottom", "12", "--steps", "3", "--seed", "9",
            "--mask-blur", "2", "--output", output.path,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("bottom 16"))
        let (image, text) = try readImage(at: output)
        #expect(image.width == 96 && image.height == 80)
        let (original, _) = try readImage(at: URL(fileURLWithPath: Self.fixture("init-64x64.png")))
        let seam = 6  // ⌊2.5 · 2 + 0.5⌋ + 1
        for y in 0..<(64 - seam) {
            for x in 0..<(64 - seam) {
                for c in 0..<3 {
                    #expect(abs(Int(image.pixels[(y * 96 + x) * 3 + c]) - Int(original.pixels[(y * 64 + x) * original.channels + c])) <= 1)
                }
            }
        }
        #expect(text["parameters"]?.contains("Outpaint: left 0 right 32 top 0 bottom 16") == true)
    }

    /// A mask with nothing to repaint returns the input, and says so.
    @Test func blackMaskReturnsInput() throws {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let black = directory.appendingPathComponent("black.png")
        try writeImage(RGBImage(width: 64, height: 64, hasAlpha: false, pixels: [UInt8](repeating: 0, count: 64 * 64 * 3)), to: black)
        let output = directory.appendingPathComponent("out.png")
        let result = try LatentBinary.run([
            "generate", "--model", Self.model, "--prompt", "x", "--steps", "2", "--seed", "1",
            "--init-image", Self.fixture("init-64x64.png"), "--mask", black.path, "--output", output.path,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("nothing to repaint"))
        let (image, _) = try readImage(at: output)
        let (original, _) = try readImage(at: URL(fileURLWithPath: Self.fixture("init-64x64.png")))
        #expect(image.pixels == original.droppingAlpha().pixels)
    }

    struct BadInput: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: [String]
        var message: String
        var testDescription: String { name }
    }

    static let badInputs: [BadInput] = [
        BadInput(name: "missing init image", arguments: ["--init-image", "/nonexistent/in.png"], message: "/nonexistent/in.png"),
        BadInput(name: "init image not an image", arguments: ["--init-image", "@garbage"], message: "garbage.png"),
        BadInput(name: "strength zero", arguments: ["--init-image", "@init", "--strength", "0"], message: "invalid denoising strength 0"),
        BadInput(name: "strength above one", arguments: ["--init-image", "@init", "--strength", "1.5"], message: "invalid denoising strength 1.5"),
        BadInput(name: "strength leaves no step", arguments: ["--init-image", "@init", "--strength", "0.2"], message: "leaves no step"),
        BadInput(name: "mask of another shape", arguments: ["--init-image", "@init", "--mask", "@mask96"], message: "mask is 96×64 but the image is 64×64"),
        BadInput(name: "mask without init image", arguments: ["--mask", "@mask96"], message: "--mask needs --init-image"),
        BadInput(name: "unknown resize mode", arguments: ["--init-image", "@init", "--resize-mode", "squash"], message: "squash"),
        BadInput(name: "unknown masked content", arguments: ["--init-image", "@init", "--masked-content", "x"], message: "masked-content"),
        BadInput(name: "mask for text-to-image model file", arguments: ["--init-image", "@init", "--model", "Tests/Fixtures/models/sd15-inpaint-tiny"],
                 message: "9-channel inpainting model"),
    ]

    /// Every bad input: one `error:` line naming the problem, a non-zero exit, no output file.
    @Test(arguments: badInputs)
    func badInputFailsCleanly(_ input: BadInput) throws {
        let directory = try LatentBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let garbage = directory.appendingPathComponent("garbage.png")
        try Data((0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: garbage)
        let substitutes = ["@garbage": garbage.path, "@init": Self.fixture("init-64x64.png"), "@mask96": Self.fixture("mask-96x64.png")]
        let arguments = ["generate", "--model", Self.model, "--prompt", "x", "--steps", "3", "--seed", "1",
                         "--output", directory.appendingPathComponent("out.png").path]
            + input.arguments.map { substitutes[$0] ?? $0 }
        let result = try LatentBinary.run(arguments)
        #expect(result.status != 0)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.standardError)")
        #expect(lines.first?.hasPrefix("error: ") == true)
        #expect(result.standardError.contains(input.message), "stderr: \(result.standardError)")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("out") || $0.hasPrefix(".") }
        #expect(left.isEmpty, "left behind: \(left)")
    }
}
