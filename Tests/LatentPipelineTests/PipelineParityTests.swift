import Foundation
import LatentCore
import LatentPipeline
import LatentTesting
import LatentWeights
import Testing

/// One end-to-end case dumped by `tools/reference/dump_pipeline.py` from diffusers' `StableDiffusionPipeline`.
struct PipelineCase: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let model: String
    let prompt: String
    let negativePrompt: String?
    let steps: Int
    let guidanceScale: Float
    let scheduler: String?
    let seed: UInt64
    let width: Int
    let height: Int
    /// The fixture folder under `Tests/Fixtures/reference/` holding this case's files.
    var suite = ""

    enum CodingKeys: String, CodingKey {
        case name, model, prompt, steps, scheduler, seed, width, height
        case negativePrompt = "negative_prompt", guidanceScale = "guidance_scale"
    }

    var testDescription: String { "\(suite)/\(name)" }

    /// Every case of every `Tests/Fixtures/reference/*/cases.json` (one folder per dump script).
    static let all: [PipelineCase] = {
        let root = Fixtures.url("reference")
        let suites = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return suites.sorted().flatMap { suite -> [PipelineCase] in
            let url = root.appendingPathComponent(suite).appendingPathComponent("cases.json")
            guard let data = try? Data(contentsOf: url),
                  let cases = try? JSONDecoder().decode([PipelineCase].self, from: data) else { return [] }
            return cases.map { var c = $0; c.suite = suite; return c }
        }
    }()

    func fixture(_ extension: String) -> URL {
        Fixtures.url("reference/\(suite)/\(name).\(`extension`)")
    }
}

/// Loaded pipelines shared across cases (loading is cheap, but the suite runs cases in parallel).
actor PipelineCache {
    static let shared = PipelineCache()
    private var pipelines: [String: StableDiffusionPipeline] = [:]

    func pipeline(_ relativePath: String) throws -> StableDiffusionPipeline {
        if let pipeline = pipelines[relativePath] { return pipeline }
        let pipeline = try StableDiffusionPipeline.load(from: Fixtures.packageRoot().appendingPathComponent(relativePath))
        pipelines[relativePath] = pipeline
        return pipeline
    }
}

@Suite("StableDiffusionPipeline equals diffusers")
struct PipelineParityTests {
    @Test func casesArePresent() {
        #expect(PipelineCase.all.count >= 20)
    }

    /// A suite whose cases.json stopped decoding would otherwise silently drop out of the parity run.
    @Test func everyCasesFileDecodes() throws {
        let root = Fixtures.url("reference")
        let suites = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        var decoded = 0
        for suite in suites {
            let url = root.appendingPathComponent(suite).appendingPathComponent("cases.json")
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let cases = try JSONDecoder().decode([PipelineCase].self, from: Data(contentsOf: url))
            #expect(!cases.isEmpty, "\(suite)/cases.json has no cases")
            decoded += cases.count
        }
        #expect(decoded == PipelineCase.all.count)
    }

    /// Same seed, same request: every step's latents within 1e-4 and the image ≥ 40 dB PSNR of diffusers'.
    @Test(arguments: PipelineCase.all)
    func matchesDiffusers(_ testCase: PipelineCase) async throws {
        let pipeline = try await PipelineCache.shared.pipeline(testCase.model)
        let request = GenerationRequest(
            prompt: testCase.prompt, negativePrompt: testCase.negativePrompt ?? "", stepCount: testCase.steps,
            guidanceScale: testCase.guidanceScale, seed: testCase.seed, width: testCase.width, height: testCase.height,
            scheduler: try testCase.scheduler.map { try SchedulerChoice(named: $0) })
        var stepLatents: [Tensor] = []
        let result = try pipeline.generate(request) { progress in
            stepLatents.append(progress.latents)
            return true
        }

        try expectMatchesReference(
            stepLatents: stepLatents, image: result.image, tensors: testCase.fixture("safetensors"),
            png: testCase.fixture("png"))
        #expect(result.image.width == testCase.width && result.image.height == testCase.height)
    }
}

/// `--low-memory` (weights streamed from the mapped files, tiled decode) against the same diffusers
/// references, on the first case of every model.
@Suite("Low-memory pipeline equals diffusers")
struct LowMemoryParityTests {
    static let cases: [PipelineCase] = {
        var seen = Set<String>()
        return PipelineCase.all.filter { seen.insert($0.model).inserted }
    }()

    @Test(arguments: LowMemoryParityTests.cases)
    func matchesDiffusers(_ testCase: PipelineCase) throws {
        let pipeline = try StableDiffusionPipeline.load(
            from: Fixtures.packageRoot().appendingPathComponent(testCase.model), lowMemory: true)
        #expect(pipeline.lowMemory)
        let request = GenerationRequest(
            prompt: testCase.prompt, negativePrompt: testCase.negativePrompt ?? "", stepCount: testCase.steps,
            guidanceScale: testCase.guidanceScale, seed: testCase.seed, width: testCase.width, height: testCase.height,
            scheduler: try testCase.scheduler.map { try SchedulerChoice(named: $0) })
        var stepLatents: [Tensor] = []
        let result = try pipeline.generate(request) { progress in
            stepLatents.append(progress.latents)
            return true
        }
        try expectMatchesReference(
            stepLatents: stepLatents, image: result.image, tensors: testCase.fixture("safetensors"),
            png: testCase.fixture("png"))
    }
}
