import Foundation
import LatentPipeline
import LatentTesting
import Testing

@testable import LatentServer

/// Continuous step-level batching on the real tiny engine: jobs with different seeds, samplers and CFG scales
/// share UNet calls and still get their own images.
@Suite("Server step-level batching", .serialized)
struct StepBatchingTests {
    @Test("Batched jobs match StableDiffusionPipeline.generate for each job's own parameters")
    func batchedJobsMatchPipeline() async throws {
        let pipeline = try StableDiffusionPipeline.load(from: SharedEngine.modelURL)
        let cases: [(seed: Int, sampler: String, cfg: Float, steps: Int)] = [
            (11, "Euler a", 7, 3), (12, "DDIM", 4, 2), (13, "Euler", 1, 4), (14, "PLMS", 7.5, 3),
        ]
        let arguments = ServerArguments(model: SharedEngine.modelURL, maxBatch: 4)
        try await TestServer.with(arguments) { server in
            var ids: [String] = []
            for c in cases {
                let job = try await server.post("/v1/jobs", json: [
                    "prompt": "batch \(c.seed)", "seed": c.seed, "sampler": c.sampler, "cfg_scale": c.cfg, "steps": c.steps,
                ]).json()
                ids.append(try #require(job["id"] as? String))
            }
            for id in ids { _ = try await server.waitForJob(id) }
            // The jobs really shared UNet calls.
            let metrics = try await server.get("/metrics").text
            let largest = metrics.split(separator: "\n").first { $0.hasPrefix("latent_step_batch_jobs_max ") }
            #expect(largest.flatMap { Double($0.split(separator: " ")[1]) } ?? 0 > 1, "\(largest ?? "no batch metric")")
            for (c, id) in zip(cases, ids) {
                let job = try await server.waitForJob(id)
                #expect(job["status"] as? String == "succeeded", "\(job)")
                let png = try await server.get("/v1/jobs/\(id)/image.png").body
                let served = try decodeImage(png).image
                let expected = try pipeline.generate(GenerationRequest(
                    prompt: "batch \(c.seed)", stepCount: c.steps, guidanceScale: c.cfg, seed: UInt64(c.seed),
                    scheduler: try SchedulerChoice(named: c.sampler))).image
                #expect(served.width == expected.width && served.height == expected.height)
                // A batched GEMM sums in another order than batch 1-2: measured ≤ 1 level on a few pixels.
                let differences = zip(served.pixels, expected.pixels).map { abs(Int($0) - Int($1)) }
                #expect((differences.max() ?? 0) <= 1, "max pixel difference \(differences.max() ?? 0) for \(c.sampler)")
            }
        }
    }
}
