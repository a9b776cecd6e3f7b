import Foundation
import HTTPTypes
import Hummingbird
import LatentPipeline

/// OpenAI's images API: `POST /v1/images/generations` and `POST /v1/images/edits` (multipart) answering
/// `b64_json`. Latent's own knobs (`seed`, `steps`, `negative_prompt`, `cfg_scale`, `sampler`, and for edits
/// `strength`) are accepted as extra fields.
struct OpenAIController {
    let api: APIContext

    func register(on group: RouterGroup<ServerRequestContext>) {
        group.post("generations", use: generations)
        group.post("edits", use: edits)
    }

    struct GenerationsRequest: Decodable {
        var prompt: String
        var n: Int?
        var size: String?
        var responseFormat: String?
        var model: String?
        var negativePrompt: String?
        var steps: Int?
        var cfgScale: Float?
        var seed: Int64?
        var sampler: String?

        enum CodingKeys: String, CodingKey {
            case prompt, n, size, model, steps, seed, sampler
            case responseFormat = "response_format", negativePrompt = "negative_prompt", cfgScale = "cfg_scale"
        }
    }

    @Sendable func generations(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await RequestDecoding.body(of: request, limit: api.limits.maxBodyBytes)
        let input = try RequestDecoding.decode(GenerationsRequest.self, from: body)
        if let format = input.responseFormat, format != "b64_json" {
            throw ServerError.badRequest("response_format '\(format)' is not supported; use b64_json (the server fetches and hosts no URLs)")
        }
        let (width, height) = try Self.size(input.size)
        let model = Self.model(input.model)
        let parameters = GenerationParameters(
            prompt: input.prompt, negativePrompt: input.negativePrompt ?? "", steps: input.steps ?? 20,
            cfgScale: input.cfgScale ?? 7.5, seed: input.seed, width: width, height: height, sampler: input.sampler,
            model: model, imageCount: input.n ?? 1)
        let (job, images) = try await api.run(parameters, context: context)
        let data: [[String: Any]] = images.map { ["b64_json": $0.base64EncodedString(), "revised_prompt": job.parameters.prompt] }
        return try .json(object: ["created": Int(job.createdAt.timeIntervalSince1970), "data": data] as [String: Any])
    }

    /// `size` as WIDTHxHEIGHT; `nil`/`auto` leaves the default.
    static func size(_ size: String?) throws -> (Int?, Int?) {
        guard let size, size != "auto" else { return (nil, nil) }
        let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2 else { throw ServerError.badRequest("field 'size': expected WIDTHxHEIGHT such as 512x512, got '\(size)'") }
        return (parts[0], parts[1])
    }

    /// OpenAI clients name OpenAI models; those mean "the server's model".
    static func model(_ name: String?) -> String? {
        name.flatMap { $0.isEmpty || $0.hasPrefix("dall-e") || $0.hasPrefix("gpt-image") ? nil : $0 }
    }

    /// `POST /v1/images/edits`: multipart `image` (+ optional `mask` whose fully transparent pixels mark the area
    /// to edit; without one, the image's own transparent pixels do; an opaque image without a mask is an
    /// image-to-image edit at `strength`, default 0.75), `prompt`, `n`, `size`, `response_format`, `model`.
    @Sendable func edits(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let boundary = try MultipartFormData.boundary(fromContentType: request.headers[.contentType])
        let body = try await RequestDecoding.body(of: request, limit: api.limits.maxBodyBytes)
        let form = try MultipartFormData(body: body, boundary: boundary)
        let limits = api.limits
        func text(_ name: String) -> String? { form.part(name)?.text }
        func number<T: LosslessStringConvertible>(_ name: String, _ type: T.Type) throws -> T? {
            guard let value = text(name)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            guard let parsed = T(value) else { throw ServerError.badRequest("field '\(name)': '\(value)' is not a valid number") }
            return parsed
        }
        if let format = text("response_format"), format != "b64_json" {
            throw ServerError.badRequest("response_format '\(format)' is not supported; use b64_json (the server fetches and hosts no URLs)")
        }
        guard let imagePart = form.part("image") else { throw ServerError.badRequest("missing required file field 'image'") }
        guard let prompt = text("prompt") else { throw ServerError.badRequest("missing required field 'prompt'") }
        let image = try EditInput.image(imagePart.data, field: "image", limits: limits)
        var mask: MaskImage?
        if let maskPart = form.part("mask") {
            let maskImage = try EditInput.image(maskPart.data, field: "mask", limits: limits)
            guard maskImage.hasAlpha else {
                throw ServerError.badRequest("field 'mask': the mask needs an alpha channel; its fully transparent pixels mark the area to edit")
            }
            guard let found = EditInput.transparencyMask(maskImage) else {
                throw ServerError.badRequest("field 'mask': no fully transparent pixel, so nothing to edit")
            }
            mask = try EditInput.fitted(found, to: image, field: "mask", allowScaled: false)
        } else {
            mask = EditInput.transparencyMask(image)
        }
        let requested = try Self.size(text("size"))
        let size = try EditInput.defaultSize(width: requested.0, height: requested.1, image: image)
        let strength = try number("strength", Float.self)
        let editing = EditingParameters(
            image: try EditInput.png(image), mask: try mask.map(EditInput.png), strength: strength ?? (mask == nil ? 0.75 : 1),
            maskBlur: try number("mask_blur", Int.self) ?? 4, maskedContent: .original)
        try editing.check()
        let parameters = GenerationParameters(
            prompt: prompt, negativePrompt: text("negative_prompt") ?? "", steps: try number("steps", Int.self) ?? 20,
            cfgScale: try number("cfg_scale", Float.self) ?? 7.5, seed: try number("seed", Int64.self),
            width: size.width, height: size.height, sampler: text("sampler"), model: Self.model(text("model")),
            imageCount: try number("n", Int.self) ?? 1, editing: editing)
        let (job, images) = try await api.run(parameters, context: context)
        let data: [[String: Any]] = images.map { ["b64_json": $0.base64EncodedString(), "revised_prompt": job.parameters.prompt] }
        return try .json(object: ["created": Int(job.createdAt.timeIntervalSince1970), "data": data] as [String: Any])
    }
}
