import Foundation
import HTTPTypes
import Hummingbird

/// OpenAI's images API: `POST /v1/images/generations` answering `b64_json`. Latent's own knobs (`seed`,
/// `steps`, `negative_prompt`, `cfg_scale`, `sampler`) are accepted as extra fields.
struct OpenAIController {
    let api: APIContext

    func register(on group: RouterGroup<ServerRequestContext>) {
        group.post("generations", use: generations)
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
        var width: Int?, height: Int?
        if let size = input.size, size != "auto" {
            let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2 else { throw ServerError.badRequest("field 'size': expected WIDTHxHEIGHT such as 512x512, got '\(size)'") }
            width = parts[0]
            height = parts[1]
        }
        // OpenAI clients name OpenAI models; those mean "the server's model".
        let model = input.model.flatMap { $0.hasPrefix("dall-e") || $0.hasPrefix("gpt-image") ? nil : $0 }
        let parameters = GenerationParameters(
            prompt: input.prompt, negativePrompt: input.negativePrompt ?? "", steps: input.steps ?? 20,
            cfgScale: input.cfgScale ?? 7.5, seed: input.seed, width: width, height: height, sampler: input.sampler,
            model: model, imageCount: input.n ?? 1)
        let (job, images) = try await api.run(parameters, context: context)
        let data: [[String: Any]] = images.map { ["b64_json": $0.base64EncodedString(), "revised_prompt": job.parameters.prompt] }
        return try .json(object: ["created": Int(job.createdAt.timeIntervalSince1970), "data": data] as [String: Any])
    }
}
