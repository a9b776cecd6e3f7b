import Foundation
import LatentPipeline
import LatentTesting
import NIOCore
import NIOEmbedded
import Testing

@testable import LatentServer

/// The tiny 9-channel inpainting fixture, loaded once.
enum SharedInpaintEngine {
    static let modelURL = Fixtures.url("models/sd15-inpaint-tiny")
    static let generator: PipelineGenerator? = try? PipelineGenerator(model: modelURL, modelsDirectory: nil)
    static func require() throws -> PipelineGenerator { try #require(generator) }
}

/// Image editing routes (`/sdapi/v1/img2img`, `/v1/images/edits`, edits through `/v1/jobs`) on the real engine.
@Suite("Server editing routes, real engine", .serialized)
struct EditRouteTests {
    /// A 64×64 RGB image of deterministic pseudo-random colours (never flat, so a wrong pixel path shows).
    static func sourceImage(seed: UInt32 = 7) -> RGBImage {
        var state = seed
        let pixels = (0..<(64 * 64 * 3)).map { index -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: (state >> 24) / 2 + UInt32(index % 64) * 2)
        }
        return RGBImage(width: 64, height: 64, hasAlpha: false, pixels: pixels)
    }

    /// White (repaint) on the left `columns` columns.
    static func leftMask(columns: Int, width: Int = 64, height: Int = 64) -> MaskImage {
        MaskImage(width: width, height: height, values: (0..<(width * height)).map { $0 % width < columns ? 255 : 0 })
    }

    static func maskPNG(_ mask: MaskImage) throws -> Data { try EditInput.png(mask) }

    static func info(_ response: TestResponse) throws -> [String: Any] {
        let text = try #require(try response.json()["info"] as? String)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func firstImage(_ response: TestResponse) throws -> RGBImage {
        let images = try #require(try response.json()["images"] as? [String])
        return try decodeImage(try #require(Data(base64Encoded: images.first ?? ""))).image
    }

    @Test("img2img: A1111 response shape, and the image equals StableDiffusionPipeline.edit's")
    func img2imgMatchesPipeline() async throws {
        let source = Self.sourceImage()
        let pipeline = try StableDiffusionPipeline.load(from: SharedEngine.modelURL)
        let expected = try pipeline.edit(ImageEditingRequest(
            generation: GenerationRequest(
                prompt: "a red cube", negativePrompt: "blurry", stepCount: 4, guidanceScale: 7, seed: 99, width: 64,
                height: 64, scheduler: try SchedulerChoice(named: "Euler a")),
            image: source, strength: 0.5))
        try await TestServer.with { server in
            let png = try encodeImage(source, format: .png)
            let response = try await server.post("/sdapi/v1/img2img", json: [
                "init_images": ["data:image/png;base64," + png.base64EncodedString()], "prompt": "a red cube",
                "negative_prompt": "blurry", "steps": 4, "cfg_scale": 7, "seed": 99, "sampler_name": "Euler a",
                "denoising_strength": 0.5, "width": 64, "height": 64, "include_init_images": false,
            ])
            #expect(response.status == .ok, "\(response.text)")
            let image = try Self.firstImage(response)
            #expect(psnr(image.pixels, expected.image.pixels) == .infinity)
            let info = try Self.info(response)
            #expect(info["seed"] as? Int == 99)
            #expect(info["denoising_strength"] as? Double == 0.5)
            #expect(info["is_inpainting"] as? Bool == false)
            #expect((info["ignored_fields"] as? [String]) == ["include_init_images"])
            #expect((info["infotexts"] as? [String])?.first?.contains("Denoising strength: 0.5") == true)
            let parameters = try #require(try response.json()["parameters"] as? [String: Any])
            #expect(parameters["denoising_strength"] as? Double == 0.5)
            #expect(parameters["resize_mode"] as? Int == 0)

            // resize_mode 3 runs as 0 and says so; the default output size is the image's.
            let latent = try await server.post("/sdapi/v1/img2img", json: [
                "init_images": [png.base64EncodedString()], "steps": 2, "seed": 1, "resize_mode": 3,
            ])
            #expect(latent.status == .ok, "\(latent.text)")
            #expect((try Self.info(latent)["notes"] as? [String])?.first?.contains("resize_mode 3") == true)
            #expect(try Self.firstImage(latent).width == 64)
        }
    }

    @Test("img2img with a mask on the 9-channel model equals StableDiffusionPipeline.edit's inpainting")
    func inpaintingMatchesPipeline() async throws {
        let source = Self.sourceImage(seed: 3)
        let mask = Self.leftMask(columns: 24)
        let pipeline = try StableDiffusionPipeline.load(from: SharedInpaintEngine.modelURL)
        let expected = try pipeline.edit(ImageEditingRequest(
            generation: GenerationRequest(
                prompt: "a window", stepCount: 3, guidanceScale: 6, seed: 5, width: 64, height: 64,
                scheduler: try SchedulerChoice(named: "DPM++ 2M")),
            image: source, strength: 1,
            inpainting: InpaintingOptions(mask: mask, blur: 2, maskedContent: .original)))
        try await TestServer.with(ServerArguments(model: SharedInpaintEngine.modelURL), generator: try SharedInpaintEngine.require()) { server in
            let response = try await server.post("/sdapi/v1/img2img", json: [
                "init_images": [try encodeImage(source, format: .png).base64EncodedString()],
                "mask": try Self.maskPNG(mask).base64EncodedString(), "prompt": "a window", "steps": 3, "cfg_scale": 6,
                "seed": 5, "sampler_name": "DPM++ 2M", "denoising_strength": 1, "mask_blur": 2, "inpainting_fill": 1,
                "inpaint_full_res": false, "inpainting_mask_invert": 0,
            ])
            #expect(response.status == .ok, "\(response.text)")
            let image = try Self.firstImage(response)
            #expect(psnr(image.pixels, expected.image.pixels) == .infinity)
            // Far from the seam the kept side is the original, pixel for pixel.
            let row = 10 * 64 * 3
            #expect(Array(image.pixels[(row + 48 * 3)..<(row + 64 * 3)]) == Array(source.pixels[(row + 48 * 3)..<(row + 64 * 3)]))
            #expect(try Self.info(response)["is_inpainting"] as? Bool == true)

            // The inpainting model cannot do plain image-to-image: a 400 naming why.
            let plain = try await server.post("/sdapi/v1/img2img", json: [
                "init_images": [try encodeImage(source, format: .png).base64EncodedString()], "steps": 2,
            ])
            #expect(plain.status == .badRequest, "\(plain.text)")
            #expect(plain.text.contains("inpainting model"))
        }
    }

    @Test("img2img errors: base64, undecodable image, mask size, fields, limits")
    func img2imgErrors() async throws {
        let arguments = ServerArguments(model: SharedEngine.modelURL, limits: ServerLimits(maxImageBytes: 2048))
        let png = try encodeImage(Self.sourceImage(), format: .png)  // ~12 KB of noise: over the 2 KB cap
        let small = try encodeImage(RGBImage(width: 64, height: 64, hasAlpha: false, pixels: .init(repeating: 90, count: 64 * 64 * 3)), format: .png)
        try await TestServer.with(arguments) { server in
            let cases: [([String: Any], String, Int)] = [
                ([:], "init_images", 400),
                (["init_images": ["%%%%"]], "init_images[0]': not valid base64", 400),
                (["init_images": [Data("not an image at all".utf8).base64EncodedString()]], "cannot decode", 400),
                (["init_images": [png.base64EncodedString()]], "--max-image-bytes 2048", 422),
                (["init_images": [small.base64EncodedString()],
                  "mask": try Self.maskPNG(Self.leftMask(columns: 8, width: 32, height: 64)).base64EncodedString()],
                 "mask is 32x64 but the image is 64x64", 400),
                (["init_images": [small.base64EncodedString()], "mask": try Self.maskPNG(Self.leftMask(columns: 0)).base64EncodedString()],
                 "nothing to repaint", 400),
                (["init_images": [small.base64EncodedString()], "inpainting_fill": 7], "inpainting_fill", 400),
                (["init_images": [small.base64EncodedString()], "resize_mode": 9], "resize_mode", 400),
                (["init_images": [small.base64EncodedString()], "denoising_strength": 1.5], "strength", 400),
                (["init_images": [small.base64EncodedString()], "steps": "many"], "steps", 400),
            ]
            for (body, message, status) in cases {
                var json = body
                json["steps"] = json["steps"] ?? 2
                let response = try await server.post("/sdapi/v1/img2img", json: json)
                #expect(response.status.code == status, "\(message): \(response.text)")
                #expect(response.text.contains(message), "expected '\(message)' in \(response.text)")
            }
        }
    }

    @Test("OpenAI images/edits: multipart image + alpha mask; errors for missing image, bad boundary, size, body")
    func openAIEdits() async throws {
        let source = Self.sourceImage(seed: 11)
        let imagePNG = try encodeImage(source, format: .png)
        // RGBA mask: left 24 columns fully transparent (edit), the rest opaque (keep).
        let maskPixels = (0..<(64 * 64)).flatMap { index -> [UInt8] in [0, 0, 0, index % 64 < 24 ? 0 : 255] }
        let maskPNG = try encodeImage(RGBImage(width: 64, height: 64, hasAlpha: true, pixels: maskPixels), format: .png)
        let arguments = ServerArguments(model: SharedInpaintEngine.modelURL, limits: ServerLimits(maxBodyBytes: 64 * 1024))
        try await TestServer.with(arguments, generator: try SharedInpaintEngine.require()) { server in
            let form = TestServer.multipart(
                fields: [("prompt", "a door"), ("n", "1"), ("size", "64x64"), ("response_format", "b64_json"),
                         ("model", "dall-e-2"), ("steps", "2"), ("seed", "8")],
                files: [("image", "image.png", imagePNG), ("mask", "mask.png", maskPNG)])
            let response = try await server.postMultipart("/v1/images/edits", body: form.body, contentType: form.contentType)
            #expect(response.status == .ok, "\(response.text)")
            let data = try #require(try response.json()["data"] as? [[String: Any]])
            let png = try #require((data.first?["b64_json"] as? String).flatMap { Data(base64Encoded: $0) })
            let image = try decodeImage(png).image
            #expect(image.width == 64 && image.height == 64)
            let row = 40 * 64 * 3
            #expect(Array(image.pixels[(row + 48 * 3)..<(row + 64 * 3)]) == Array(source.pixels[(row + 48 * 3)..<(row + 64 * 3)]))
            #expect(image.pixels[row..<(row + 30)] != source.pixels[row..<(row + 30)])

            let noImage = TestServer.multipart(fields: [("prompt", "x")], files: [("mask", "mask.png", maskPNG)])
            let missing = try await server.postMultipart("/v1/images/edits", body: noImage.body, contentType: noImage.contentType)
            #expect(missing.status == .badRequest)
            #expect(missing.text.contains("'image'"))

            let unbounded = try await server.postMultipart("/v1/images/edits", body: form.body, contentType: "multipart/form-data")
            #expect(unbounded.status == .badRequest)
            #expect(unbounded.text.contains("boundary"))
            let wrong = try await server.postMultipart(
                "/v1/images/edits", body: form.body, contentType: "multipart/form-data; boundary=other")
            #expect(wrong.status == .badRequest)
            #expect(wrong.text.contains("does not contain the boundary"))

            let halfMask = try encodeImage(
                RGBImage(width: 32, height: 64, hasAlpha: true, pixels: (0..<(32 * 64)).flatMap { _ in [UInt8](arrayLiteral: 0, 0, 0, 0) }),
                format: .png)
            let mismatched = TestServer.multipart(
                fields: [("prompt", "x"), ("steps", "2")], files: [("image", "i.png", imagePNG), ("mask", "m.png", halfMask)])
            let size = try await server.postMultipart("/v1/images/edits", body: mismatched.body, contentType: mismatched.contentType)
            #expect(size.status == .badRequest)
            #expect(size.text.contains("mask is 32x64 but the image is 64x64"))

            let opaque = TestServer.multipart(
                fields: [("prompt", "x")], files: [("image", "i.png", imagePNG), ("mask", "m.png", imagePNG)])
            let noAlpha = try await server.postMultipart("/v1/images/edits", body: opaque.body, contentType: opaque.contentType)
            #expect(noAlpha.status == .badRequest)
            #expect(noAlpha.text.contains("alpha"))

            let huge = TestServer.multipart(
                fields: [("prompt", "x")], files: [("image", "i.png", Data(repeating: 1, count: 70 * 1024))])
            let tooLarge = try await server.postMultipart("/v1/images/edits", body: huge.body, contentType: huge.contentType)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.text.contains("--max-body-bytes"))

            let url = TestServer.multipart(
                fields: [("prompt", "x"), ("response_format", "url")], files: [("image", "i.png", imagePNG)])
            #expect(try await server.postMultipart("/v1/images/edits", body: url.body, contentType: url.contentType).status == .badRequest)
        }
    }

    @Test("Edit routes need the API key like every other route")
    func editsNeedAuth() async throws {
        let arguments = ServerArguments(model: SharedEngine.modelURL, apiKeys: ["secret"])
        try await TestServer.with(arguments) { server in
            let png = try encodeImage(Self.sourceImage(), format: .png)
            let a1111 = try await server.post("/sdapi/v1/img2img", json: ["init_images": [png.base64EncodedString()]], key: .some(nil))
            #expect(a1111.status == .unauthorized)
            let form = TestServer.multipart(fields: [("prompt", "x")], files: [("image", "i.png", png)])
            let openAI = try await server.postMultipart("/v1/images/edits", body: form.body, contentType: form.contentType, key: "wrong")
            #expect(openAI.status == .unauthorized)
        }
    }

    @Test("/v1/jobs accepts an edit (init_image + mask) and runs it with progress to a result")
    func asyncEditJob() async throws {
        let source = Self.sourceImage(seed: 5)
        try await TestServer.with { server in
            let created = try await server.post("/v1/jobs", json: [
                "prompt": "a tower", "steps": 4, "seed": 2, "init_image": try encodeImage(source, format: .png).base64EncodedString(),
                "mask": try Self.maskPNG(Self.leftMask(columns: 32)).base64EncodedString(), "strength": 0.75,
                "masked_content": "original", "mask_blur": 0,
            ])
            #expect(created.status == .accepted, "\(created.text)")
            let id = try #require(try created.json()["id"] as? String)
            let events = try await server.get("/v1/jobs/\(id)/events")
            #expect(events.text.contains("event: step"))
            #expect(events.text.contains("event: done"), "\(events.text)")
            let png = try await server.get("/v1/jobs/\(id)/image.png")
            let image = try decodeImage(png.body).image
            let row = 20 * 64 * 3
            #expect(Array(image.pixels[(row + 40 * 3)..<(row + 64 * 3)]) == Array(source.pixels[(row + 40 * 3)..<(row + 64 * 3)]))
            let bad = try await server.post("/v1/jobs", json: ["prompt": "x", "mask": "AAAA"])
            #expect(bad.status == .badRequest)
            #expect(bad.text.contains("init_image"))
        }
    }

    @Test("A queued edit keeps its image and mask across a restart (PNG blobs in the store)")
    func editInputsPersist() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("latent-edit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let editing = EditingParameters(
            image: try encodeImage(Self.sourceImage(), format: .png), mask: try Self.maskPNG(Self.leftMask(columns: 9)),
            strength: 0.6, maskBlur: 3, maskedContent: .latentNoise)
        let job = JobRecord(
            id: "edit-1", owner: "o", priority: 0, sequence: 1,
            parameters: GenerationParameters(prompt: "p", seed: 4, width: 64, height: 64, editing: editing), createdAt: Date())
        do {
            let store = try JobStore(directory: directory)
            try store.saveNew(job)
        }
        let restored = try #require(try JobStore(directory: directory).loadAll().first)
        #expect(restored.parameters == job.parameters)
        #expect(restored.parameters.editing?.mask != nil)
        let store = try JobStore(directory: directory)
        var finished = restored
        finished.status = .succeeded
        try store.saveFinished(finished, images: [])
        #expect(try JobStore(directory: directory).loadAll().first?.parameters.editing?.image.isEmpty == true)
    }

    @Test("A synchronous request whose client disconnects cancels its job at the next step")
    func disconnectCancels() async throws {
        let fake = FakeGenerator()
        fake.stepDelay = .milliseconds(20)
        let arguments = ServerArguments(model: URL(fileURLWithPath: "/models/fake"))
        try await TestServer.with(arguments, generator: fake) { server in
            let channel = NIOAsyncTestingChannel()
            let watcher = ClientDisconnectHandler()
            try await channel.pipeline.addHandler(watcher)
            let request = Task { try await server.request(.post, "/sdapi/v1/txt2img", json: ["prompt": "long", "steps": 150], channel: channel) }
            var jobID: String?
            for _ in 0..<500 where jobID == nil {
                jobID = try await server.get("/sdapi/v1/progress").json()["current_task"] as? String
                try await Task.sleep(for: .milliseconds(10))
            }
            let id = try #require(jobID)
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            let job = try await server.waitForJob(id)
            #expect(job["status"] as? String == "cancelled")
            #expect(job["error"] as? String == "client disconnected")
            #expect((job["step"] as? Int ?? 150) < 150)
            #expect(try await request.value.status == .conflict)
        }
    }

    @Test("The memory cap evicts the least recently used model; weight estimates ignore storage dtype")
    func memoryCap() throws {
        let tiny = PipelineGenerator.estimatedWeightBytes(of: SharedEngine.modelURL)
        let inpaint = PipelineGenerator.estimatedWeightBytes(of: SharedInpaintEngine.modelURL)
        #expect(tiny > 100_000)
        // The single file holds the same weights in bf16 (plus LDM's few schedule buffers): the same fp32 estimate.
        let single = PipelineGenerator.estimatedWeightBytes(of: Fixtures.url("models/sd15-tiny-bf16.safetensors"))
        #expect(abs(Double(single - tiny)) / Double(tiny) < 0.01)
        let engine = try PipelineGenerator(
            model: SharedEngine.modelURL, modelsDirectory: Fixtures.url("models"), maxLoadedModels: 4,
            maxModelBytes: tiny + inpaint / 2)
        #expect(engine.statistics().residentModelBytes == tiny)
        _ = try engine.pipeline(named: "sd15-inpaint-tiny")
        let statistics = engine.statistics()
        #expect(statistics.loadedModels == 1)
        #expect(statistics.modelEvictions == 1)
        #expect(statistics.residentModelBytes == inpaint)
    }
}
