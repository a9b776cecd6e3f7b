import Foundation
import LatentPipeline
import LatentTesting
import Testing

@testable import LatentServer

/// Every endpoint against the real engine on the tiny fixture model (64×64, 2 steps).
@Suite("Server routes, real engine", .serialized)
struct RealEngineRouteTests {
    @Test("A1111 txt2img: response shape, and the image equals StableDiffusionPipeline.generate's")
    func txt2imgMatchesPipeline() async throws {
        let pipeline = try StableDiffusionPipeline.load(from: SharedEngine.modelURL)
        let expected = try pipeline.generate(GenerationRequest(
            prompt: "a red cube", negativePrompt: "blurry", stepCount: 2, guidanceScale: 7, seed: 4242,
            scheduler: try SchedulerChoice(named: "Euler a")))
        try await TestServer.with { server in
            let response = try await server.post("/sdapi/v1/txt2img", json: [
                "prompt": "a red cube", "negative_prompt": "blurry", "steps": 2, "cfg_scale": 7, "seed": 4242,
                "sampler_name": "Euler a", "enable_hr": false, "unknown_field": 1,
            ])
            #expect(response.status == .ok, "\(response.text)")
            let json = try response.json()
            let images = try #require(json["images"] as? [String])
            #expect(images.count == 1)
            let png = try #require(Data(base64Encoded: images[0]))
            let decoded = try decodeImage(png)
            #expect(decoded.image == expected.image)
            #expect(decoded.text["parameters"]?.contains("Seed: 4242") == true)
            let parameters = try #require(json["parameters"] as? [String: Any])
            #expect(parameters["prompt"] as? String == "a red cube")
            let infoText = try #require(json["info"] as? String)
            let info = try #require(try JSONSerialization.jsonObject(with: Data(infoText.utf8)) as? [String: Any])
            #expect(info["seed"] as? Int == 4242)
            #expect(info["all_seeds"] as? [Int] == [4242])
            #expect(info["sampler_name"] as? String == "Euler a")
            #expect(info["width"] as? Int == 64)
            #expect((info["ignored_fields"] as? [String])?.contains("unknown_field") == true)
            #expect((info["ignored_fields"] as? [String])?.contains("enable_hr") == true)
        }
    }

    @Test("Jobs: 202 + id, events stream steps then done, status, PNG/JPEG/WebP downloads")
    func jobLifecycle() async throws {
        try await TestServer.with { server in
            let created = try await server.post("/v1/jobs", json: ["prompt": "a tree", "steps": 2, "seed": 7])
            #expect(created.status == .accepted, "\(created.text)")
            let id = try #require(try created.json()["id"] as? String)
            #expect(created.headers[.location] == "/v1/jobs/\(id)")
            let events = try await server.get("/v1/jobs/\(id)/events")
            #expect(events.headers[.contentType] == "text/event-stream")
            #expect(events.text.contains("event: done"), "\(events.text)")
            let job = try await server.waitForJob(id)
            #expect(job["status"] as? String == "succeeded")
            #expect(job["seeds"] as? [Int] == [7])
            let png = try await server.get("/v1/jobs/\(id)/image.png")
            #expect(png.status == .ok)
            #expect(ImageFormat(sniffing: png.body) == .png)
            #expect(try decodeImage(png.body).image.width == 64)
            #expect(ImageFormat(sniffing: try await server.get("/v1/jobs/\(id)/image.jpg").body) == .jpeg)
            #expect(ImageFormat(sniffing: try await server.get("/v1/jobs/\(id)/image.webp").body) == .webp)
            #expect(try await server.get("/v1/jobs/\(id)/image.gif").status == .notFound)
            #expect(try await server.get("/v1/jobs/\(id)/image.png?index=3").status == .notFound)
        }
    }

    @Test("OpenAI images/generations returns b64_json PNGs")
    func openAIGenerations() async throws {
        try await TestServer.with { server in
            let response = try await server.post(
                "/v1/images/generations",
                json: ["prompt": "a boat", "n": 1, "size": "64x64", "model": "dall-e-3", "steps": 2, "seed": 1])
            #expect(response.status == .ok, "\(response.text)")
            let data = try #require(try response.json()["data"] as? [[String: Any]])
            let png = try #require((data.first?["b64_json"] as? String).flatMap { Data(base64Encoded: $0) })
            #expect(try decodeImage(png).image.width == 64)
            let url = try await server.post("/v1/images/generations", json: ["prompt": "x", "response_format": "url"])
            #expect(url.status == .badRequest)
        }
    }

    @Test("Listings, options, png-info, progress, interrupt, health, metrics")
    func infoEndpoints() async throws {
        try await TestServer.with { server in
            let samplers = try await server.get("/sdapi/v1/samplers").jsonArray()
            #expect(samplers.contains { $0["name"] as? String == "Euler a" })
            let schedulers = try await server.get("/sdapi/v1/schedulers").jsonArray()
            #expect(schedulers.contains { $0["name"] as? String == "karras" })
            let models = try await server.get("/sdapi/v1/sd-models").jsonArray()
            #expect(models.map { $0["model_name"] as? String } == ["sd15-tiny"])
            #expect(try await server.get("/sdapi/v1/options").json()["sd_model_checkpoint"] as? String == "sd15-tiny")
            #expect(try await server.post("/sdapi/v1/options", json: ["sd_model_checkpoint": "sd15-tiny"]).status == .ok)
            let unknown = try await server.post("/sdapi/v1/options", json: ["sd_model_checkpoint": "../etc/passwd"])
            #expect(unknown.status == .notFound)
            #expect(unknown.text.contains("unknown model"))

            let generated = try await server.post("/sdapi/v1/txt2img", json: ["prompt": "info", "steps": 2, "seed": 3])
            let image = try #require((try generated.json()["images"] as? [String])?.first)
            let info = try await server.post("/sdapi/v1/png-info", json: ["image": "data:image/png;base64," + image])
            #expect(info.status == .ok)
            let parsed = try #require(try info.json()["parameters"] as? [String: Any])
            #expect(parsed["Seed"] as? String == "3")
            #expect(parsed["Prompt"] as? String == "info")
            #expect(try await server.post("/sdapi/v1/png-info", json: ["image": "%%%"]).status == .badRequest)

            let progress = try await server.get("/sdapi/v1/progress").json()
            #expect((progress["progress"] as? NSNumber)?.doubleValue == 0)
            #expect(try await server.request(.post, "/sdapi/v1/interrupt").status == .ok)
            #expect(try await server.request(.post, "/sdapi/v1/skip").status == .ok)
            #expect(try await server.get("/v2/health/live").status == .ok)
            #expect(try await server.get("/v2/health/ready").status == .ok)
            let metrics = try await server.get("/metrics").text
            for name in ["latent_http_requests_total", "latent_queue_depth", "latent_queue_wait_seconds_bucket",
                         "latent_generation_seconds_bucket", "latent_images_generated_total", "process_resident_memory_bytes"] {
                #expect(metrics.contains(name), "missing \(name)")
            }
            #expect(metrics.contains(#"route="/sdapi/v1/txt2img""#))
        }
    }

    @Test("/openapi.json describes every route the router has")
    func openAPICoversRouter() async throws {
        try await TestServer.with { server in
            let document = try await server.get("/openapi.json").json()
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let router = buildRouter(server.components.generator, components: server.components)
            for route in router.routes {
                // Hummingbird writes captures as ":id"; OpenAPI as "{id}".
                let path = "/" + route.path.description.split(separator: "/").map { part in
                    part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
                }.joined(separator: "/")
                #expect(paths[path]?[route.method.rawValue.lowercased()] != nil, "\(route) missing from openapi.json")
            }
        }
    }

    @Test("Error paths name the problem")
    func errors() async throws {
        let arguments = ServerArguments(
            model: SharedEngine.modelURL, limits: ServerLimits(maxPixels: 128 * 128, maxSteps: 10, maxImages: 2, maxBodyBytes: 2048))
        try await TestServer.with(arguments) { server in
            let badJSON = try await server.request(.post, "/sdapi/v1/txt2img", body: Data("{not json".utf8))
            #expect(badJSON.status == .badRequest)
            #expect(badJSON.text.contains("invalid JSON"))
            let wrongType = try await server.post("/sdapi/v1/txt2img", json: ["prompt": "x", "steps": "many"])
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.text.contains("steps"))
            let steps = try await server.post("/v1/jobs", json: ["prompt": "x", "steps": 11])
            #expect(steps.status == .unprocessableContent)
            #expect(steps.text.contains("--max-steps 10"))
            let size = try await server.post("/v1/jobs", json: ["prompt": "x", "width": 256, "height": 256, "steps": 2])
            #expect(size.status == .unprocessableContent)
            #expect(size.text.contains("--max-pixels"))
            let images = try await server.post("/sdapi/v1/txt2img", json: ["prompt": "x", "batch_size": 3])
            #expect(images.status == .unprocessableContent)
            let odd = try await server.post("/v1/jobs", json: ["prompt": "x", "width": 60, "height": 64, "steps": 2])
            #expect(odd.status == .badRequest)
            let sampler = try await server.post("/v1/jobs", json: ["prompt": "x", "sampler": "nonsense", "steps": 2])
            #expect(sampler.status == .badRequest)
            #expect(sampler.text.contains("nonsense"))
            let model = try await server.post("/v1/jobs", json: ["prompt": "x", "model": "missing", "steps": 2])
            #expect(model.status == .notFound)
            let body = try await server.post("/v1/jobs", json: ["prompt": String(repeating: "x", count: 4000)])
            #expect(body.status == .contentTooLarge)
            #expect(body.text.contains("--max-body-bytes"))
            #expect(try await server.get("/v1/jobs/nope").status == .notFound)
            #expect(try await server.request(.delete, "/v1/jobs/nope").status == .notFound)
            #expect(try await server.get("/v1/jobs/nope/events").status == .notFound)
            #expect(try await server.get("/v1/jobs/nope/image.png").status == .notFound)
        }
    }
}
