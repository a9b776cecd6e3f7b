import Foundation
import HTTPTypes
import Hummingbird
import LatentImageIO
import LatentSchedulers

/// AUTOMATIC1111's `/sdapi/v1` API: same request fields, defaults and response shapes, so existing clients
/// work unchanged. Unknown fields are ignored (as A1111 does) and listed in `info.ignored_fields`.
struct A1111Controller {
    let api: APIContext

    func register(on group: RouterGroup<ServerRequestContext>) {
        group.post("txt2img", use: txt2img)
        group.post("img2img", use: img2img)
        group.get("progress", use: progress)
        group.post("interrupt", use: interrupt)
        group.post("skip", use: interrupt)
        group.get("samplers", use: samplers)
        group.get("schedulers", use: schedulers)
        group.get("sd-models", use: sdModels)
        group.get("options", use: getOptions)
        group.post("options", use: setOptions)
        group.post("png-info", use: pngInfo)
    }

    /// The subset of A1111's `StableDiffusionTxt2ImgProcessingAPI` Latent honours.
    struct Txt2ImgRequest: Decodable {
        var prompt = ""
        var negativePrompt = ""
        var seed: Int64 = -1
        var samplerName: String?
        var samplerIndex: String?
        var scheduler: String?
        var batchSize = 1
        var nIter = 1
        var steps = 50
        var cfgScale: Float = 7
        var width: Int?
        var height: Int?
        var sendImages = true
        var overrideSettings: [String: String] = [:]

        enum CodingKeys: String, CodingKey {
            case prompt, seed, scheduler, steps, width, height
            case negativePrompt = "negative_prompt", samplerName = "sampler_name", samplerIndex = "sampler_index"
            case batchSize = "batch_size", nIter = "n_iter", cfgScale = "cfg_scale", sendImages = "send_images"
            case overrideSettings = "override_settings"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            prompt = try c.decodeIfPresent(String.self, forKey: .prompt) ?? ""
            negativePrompt = try c.decodeIfPresent(String.self, forKey: .negativePrompt) ?? ""
            seed = try c.decodeIfPresent(Int64.self, forKey: .seed) ?? -1
            samplerName = try c.decodeIfPresent(String.self, forKey: .samplerName)
            samplerIndex = try c.decodeIfPresent(String.self, forKey: .samplerIndex)
            scheduler = try c.decodeIfPresent(String.self, forKey: .scheduler)
            batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? 1
            nIter = try c.decodeIfPresent(Int.self, forKey: .nIter) ?? 1
            steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? 50
            cfgScale = try c.decodeIfPresent(Float.self, forKey: .cfgScale) ?? 7
            width = try c.decodeIfPresent(Int.self, forKey: .width)
            height = try c.decodeIfPresent(Int.self, forKey: .height)
            sendImages = try c.decodeIfPresent(Bool.self, forKey: .sendImages) ?? true
            // override_settings may hold anything; only sd_model_checkpoint matters here.
            if let nested = try? c.decodeIfPresent([String: AnyDecodable].self, forKey: .overrideSettings) {
                overrideSettings = nested.compactMapValues(\.string)
            }
        }
    }

    /// Fields A1111 accepts that change nothing here (or are honoured implicitly) — not reported as ignored.
    static let honoured: Set<String> = [
        "prompt", "negative_prompt", "seed", "sampler_name", "sampler_index", "scheduler", "batch_size", "n_iter",
        "steps", "cfg_scale", "width", "height", "send_images", "save_images", "override_settings",
        "override_settings_restore_afterwards", "do_not_save_samples", "do_not_save_grid", "disable_extra_networks",
    ]

    @Sendable func txt2img(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await RequestDecoding.body(of: request, limit: api.limits.maxBodyBytes)
        let input = try RequestDecoding.decode(Txt2ImgRequest.self, from: body)
        let ignored = RequestDecoding.keys(of: body).subtracting(Self.honoured).sorted()
        let parameters = GenerationParameters(
            prompt: input.prompt, negativePrompt: input.negativePrompt, steps: input.steps, cfgScale: input.cfgScale,
            seed: input.seed, width: input.width, height: input.height,
            sampler: input.samplerName ?? input.samplerIndex ?? "Euler", scheduleType: input.scheduler,
            model: input.overrideSettings["sd_model_checkpoint"], imageCount: input.batchSize * input.nIter)
        if input.batchSize < 1 || input.nIter < 1 {
            throw ServerError.badRequest("batch_size and n_iter must be at least 1")
        }
        let (job, images) = try await api.run(parameters, context: context)
        return try respond(input, job: job, images: images, ignored: ignored)
    }

    /// A1111's response: `images` (base64 PNG), `parameters` (the request as understood), `info` (a JSON string).
    func respond(
        _ input: Txt2ImgRequest, job: JobRecord, images: [Data], ignored: [String], info extraInfo: [String: Any] = [:],
        parameters extraParameters: [String: Any] = [:]
    ) throws -> Response {
        let width = job.parameters.width ?? images.first.flatMap { try? decodeImage($0).image.width } ?? 0
        let height = job.parameters.height ?? images.first.flatMap { try? decodeImage($0).image.height } ?? 0
        let seeds = job.imageSeeds.map { Int64($0) }
        var info: [String: Any] = [
            "prompt": job.parameters.prompt, "all_prompts": Array(repeating: job.parameters.prompt, count: seeds.count),
            "negative_prompt": job.parameters.negativePrompt,
            "all_negative_prompts": Array(repeating: job.parameters.negativePrompt, count: seeds.count),
            "seed": seeds.first ?? -1, "all_seeds": seeds, "subseed": -1, "all_subseeds": seeds.map { _ in -1 },
            "subseed_strength": 0, "width": width, "height": height, "sampler_name": samplerLabel(job.parameters),
            "cfg_scale": Double(job.parameters.cfgScale), "steps": job.parameters.steps, "batch_size": input.batchSize,
            "sd_model_name": job.parameters.model ?? api.generator.currentModel(), "infotexts": job.infotexts,
            "job_timestamp": Self.timestamp(job.createdAt), "version": "Latent", "index_of_first_image": 0,
            "ignored_fields": ignored, "job_id": job.id,
        ]
        info.merge(extraInfo) { _, new in new }
        var echoed: [String: Any] = [
            "prompt": input.prompt, "negative_prompt": input.negativePrompt, "seed": input.seed,
            "sampler_name": input.samplerName ?? input.samplerIndex ?? "Euler", "scheduler": input.scheduler ?? "Automatic",
            "batch_size": input.batchSize, "n_iter": input.nIter, "steps": input.steps,
            "cfg_scale": Double(input.cfgScale), "width": input.width ?? width, "height": input.height ?? height,
            "send_images": input.sendImages, "override_settings": input.overrideSettings,
        ]
        echoed.merge(extraParameters) { _, new in new }
        let infoText = String(decoding: try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys]), as: UTF8.self)
        return try .json(object: [
            "images": input.sendImages ? images.map { $0.base64EncodedString() } : [],
            "parameters": echoed, "info": infoText,
        ])
    }

    @Sendable func progress(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let skipImage = request.uri.queryParameters.get("skip_current_image").map { $0 == "true" } ?? false
        guard let current = await api.queue.progress(owner: context.owner) else {
            return try .json(object: [
                "progress": 0, "eta_relative": 0, "current_image": NSNull(), "textinfo": NSNull(),
                "state": Self.state(job: nil, step: 0, steps: 0, count: 0),
            ] as [String: Any])
        }
        let (job, step, queued) = (current.job, current.step, current.queued)
        let done = step?.step ?? job.step, total = max(step?.stepCount ?? job.stepCount, 1)
        let fraction = Double(done) / Double(total)
        let elapsed = job.startedAt.map { Date().timeIntervalSince($0) } ?? 0
        let eta = fraction > 0 ? elapsed / fraction - elapsed : 0
        var image: Any = NSNull()
        if !skipImage, let preview = step?.preview?(), let png = try? encodeImage(preview, format: .png) {
            image = png.base64EncodedString()
        }
        return try .json(object: [
            "progress": fraction, "eta_relative": eta, "current_image": image, "textinfo": NSNull(),
            "current_task": job.id, "state": Self.state(job: job, step: done, steps: total, count: queued + 1),
        ] as [String: Any])
    }

    @Sendable func interrupt(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let stopped = await api.queue.interrupt(owner: context.owner)
        return try .json(object: ["interrupted": stopped?.id ?? NSNull()] as [String: Any])
    }

    @Sendable func samplers(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let list: [[String: Any]] = SchedulerKind.allCases.map { kind in
            ["name": kind.a1111Label, "aliases": [kind.cliName, kind.diffusersClassName], "options": [String: String]()]
        }
        return try .json(object: list)
    }

    @Sendable func schedulers(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let list: [[String: Any]] = [
            ["name": "automatic", "label": "Automatic", "aliases": NSNull(), "default_rho": -1, "need_inner_model": false],
            ["name": "uniform", "label": "Uniform", "aliases": NSNull(), "default_rho": -1, "need_inner_model": false],
            ["name": "karras", "label": "Karras", "aliases": NSNull(), "default_rho": 7.0, "need_inner_model": false],
            ["name": "exponential", "label": "Exponential", "aliases": NSNull(), "default_rho": -1, "need_inner_model": false],
        ]
        return try .json(object: list)
    }

    @Sendable func sdModels(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let list: [[String: Any]] = api.generator.availableModels().map { model in
            [
                "title": model.name, "model_name": model.name, "hash": NSNull(), "sha256": NSNull(),
                "filename": model.url.lastPathComponent, "config": NSNull(),
            ]
        }
        return try .json(object: list)
    }

    @Sendable func getOptions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        try .json(object: [
            "sd_model_checkpoint": api.generator.currentModel(), "samples_format": "png",
            "CLIP_stop_at_last_layers": 1, "eta_noise_seed_delta": 0,
        ] as [String: Any])
    }

    @Sendable func setOptions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await RequestDecoding.body(of: request, limit: api.limits.maxBodyBytes)
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw ServerError.badRequest("request body must be a JSON object of option names to values")
        }
        if let value = object["sd_model_checkpoint"] {
            guard let name = value as? String else { throw ServerError.badRequest("field 'sd_model_checkpoint': expected a string") }
            try api.generator.selectModel(name)
        }
        // A1111 answers null; options Latent does not have are accepted and ignored.
        return Response.json(data: Data("null".utf8))
    }

    @Sendable func pngInfo(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await RequestDecoding.body(of: request, limit: api.limits.maxBodyBytes)
        struct Input: Decodable { var image: String }
        let input = try RequestDecoding.decode(Input.self, from: body)
        let data = try Base64Image.decode(input.image, field: "image")
        let text: [String: String]
        do {
            text = try decodeImage(data, maxPixels: api.limits.maxPixels).text
        } catch {
            throw ServerError.badRequest("field 'image': \(error)")
        }
        let info = text["parameters"] ?? ""
        return try .json(object: ["info": info, "items": text, "parameters": Self.parse(infotext: info)] as [String: Any])
    }

    // MARK: - Helpers

    private func samplerLabel(_ parameters: GenerationParameters) -> String {
        guard let name = parameters.sampler, let choice = try? SchedulerChoice(named: name, scheduleType: parameters.scheduleType)
        else { return parameters.sampler ?? "" }
        return choice.a1111Label
    }

    static func state(job: JobRecord?, step: Int, steps: Int, count: Int) -> [String: Any] {
        [
            "skipped": false, "interrupted": job?.status == .cancelled, "job": job.map { "task(\($0.id))" } ?? "",
            "job_count": count, "job_timestamp": job.map { timestamp($0.createdAt) } ?? "0", "job_no": 0,
            "sampling_step": step, "sampling_steps": steps,
        ]
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMddHHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// Parses an A1111 infotext into A1111's `parameters` dictionary (Prompt, Negative prompt, then key/values).
    static func parse(infotext: String) -> [String: String] {
        guard !infotext.isEmpty else { return [:] }
        var lines = infotext.components(separatedBy: "\n")
        var result: [String: String] = [:]
        let last = lines.removeLast()
        var prompt: [String] = [], negative: [String] = []
        var inNegative = false
        for line in lines {
            if line.hasPrefix("Negative prompt: ") {
                inNegative = true
                negative.append(String(line.dropFirst("Negative prompt: ".count)))
            } else if inNegative {
                negative.append(line)
            } else {
                prompt.append(line)
            }
        }
        result["Prompt"] = prompt.joined(separator: "\n")
        result["Negative prompt"] = negative.joined(separator: "\n")
        for pair in last.components(separatedBy: ", ") {
            let parts = pair.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            result[String(parts[0]).trimmingCharacters(in: .whitespaces)] =
                String(parts[1]).trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return result
    }
}

/// A JSON value decoded only to pick strings out of free-form objects.
struct AnyDecodable: Decodable {
    let string: String?

    init(from decoder: any Decoder) throws {
        string = try? decoder.singleValueContainer().decode(String.self)
    }
}

/// Base64 images as clients send them (raw or `data:image/png;base64,…`).
enum Base64Image {
    static func decode(_ text: String, field: String) throws -> Data {
        let payload = text.hasPrefix("data:") ? String(text.drop { $0 != "," }.dropFirst()) : text
        guard let data = Data(base64Encoded: payload, options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw ServerError.badRequest("field '\(field)': not valid base64 image data")
        }
        return data
    }
}
