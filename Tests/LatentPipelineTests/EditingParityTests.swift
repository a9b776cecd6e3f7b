import Foundation
import LatentCore
import LatentPipeline
import LatentTesting
import LatentWeights
import Testing

/// One img2img or inpainting case dumped by `tools/reference/dump_editing.py` from diffusers.
struct EditingCase: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let kind: String
    let model: String
    let prompt: String
    let negativePrompt: String?
    let steps: Int
    let guidanceScale: Float
    let scheduler: String?
    let seed: UInt64
    let strength: Float
    let image: String
    let mask: String?

    enum CodingKeys: String, CodingKey {
        case name, kind, model, prompt, steps, scheduler, seed, strength, image, mask
        case negativePrompt = "negative_prompt", guidanceScale = "guidance_scale"
    }

    var testDescription: String { name }

    static let all: [EditingCase] = {
        guard let data = try? Data(contentsOf: Fixtures.url("reference/editing/editing_cases.json")) else { return [] }
        return (try? JSONDecoder().decode([EditingCase].self, from: data)) ?? []
    }()

    static func fixture(_ file: String) -> URL { Fixtures.url("reference/editing/\(file)") }
}

@Suite("Image editing equals diffusers")
struct EditingParityTests {
    @Test func casesArePresent() {
        #expect(EditingCase.all.filter { $0.kind == "img2img" }.count >= 8)
        #expect(EditingCase.all.filter { $0.model.hasSuffix("inpaint-tiny") }.count >= 4)
        #expect(EditingCase.all.filter { $0.kind == "inpaint" && $0.model.hasSuffix("sd15-tiny") }.count >= 4)
    }

    /// Same seed, same inputs: every step's latents within 1e-4 and the image ≥ 40 dB PSNR of diffusers'
    /// (no overlay, blur 0, original content: diffusers' own pipeline).
    @Test(arguments: EditingCase.all)
    func matchesDiffusers(_ testCase: EditingCase) async throws {
        let pipeline = try await PipelineCache.shared.pipeline(testCase.model)
        let (image, _) = try readImage(at: EditingCase.fixture(testCase.image))
        var inpainting: InpaintingOptions?
        if let maskFile = testCase.mask {
            let (maskImage, _) = try readImage(at: EditingCase.fixture(maskFile))
            inpainting = InpaintingOptions(mask: MaskImage(luminanceOf: maskImage), overlaysOriginal: false)
        }
        let generation = GenerationRequest(
            prompt: testCase.prompt, negativePrompt: testCase.negativePrompt ?? "", stepCount: testCase.steps,
            guidanceScale: testCase.guidanceScale, seed: testCase.seed,
            scheduler: try testCase.scheduler.map { try SchedulerChoice(named: $0) })
        let request = ImageEditingRequest(generation: generation, image: image, strength: testCase.strength, inpainting: inpainting)
        var stepLatents: [Tensor] = []
        let result = try pipeline.edit(request) { progress in
            stepLatents.append(progress.latents)
            return true
        }

        let expectedImage = try expectMatchesReference(
            stepLatents: stepLatents, image: result.image,
            tensors: EditingCase.fixture("\(testCase.name).safetensors"), png: EditingCase.fixture("\(testCase.name).png"))
        #expect(result.image.width == expectedImage.width && result.image.height == expectedImage.height)
    }
}
