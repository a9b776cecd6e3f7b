import Foundation
import HTTPTypes
import Hummingbird
import LatentImageIO
import NIOCore

/// Latent's asynchronous jobs: submit (202 + id), poll, follow as Server-Sent Events, cancel, download.
struct JobsController {
    let api: APIContext

    func register(on group: RouterGroup<ServerRequestContext>) {
        group.post("", use: create)
        group.get(":id", use: show)
        group.delete(":id", use: cancel)
        group.get(":id/events", use: events)
        group.get(":id/:file", use: image)
    }

    /// `POST /v1/jobs` body: `GenerationParameters` fields plus `priority`; an edit adds `init_image` (base64)
    /// and optionally `mask` (base64, white = repaint) with `EditingParameters`' fields at the top level
    /// (`strength`, `resize_mode`, `mask_blur`, `masked_content`, `invert_mask`, `inpaint_only_masked`,
    /// `inpaint_padding`).
    struct CreateRequest: Decodable {
        var parameters: GenerationParameters
        var priority: Int
        var initImage: String?
        var mask: String?
        var editing: EditingParameters?

        enum CodingKeys: String, CodingKey {
            case priority, mask
            case initImage = "init_image"
        }

        init(from decoder: any Decoder) throws {
            parameters = try GenerationParameters(from: decoder)
            parameters.editing = nil
            let c = try decoder.container(keyedBy: CodingKeys.self)
            priority = try c.decodeIfPresent(Int.self, forKey: .priority) ?? 0
            initImage = try c.decodeIfPresent(String.self, forKey: .initImage)
            mask = try c.decodeIfPresent(String.self, forKey: .mask)
            if initImage != nil { editing = try EditingParameters(from: decoder) }
        }

        /// The parameters with the edit's images decoded, checked and stored in canonical form.
        func resolved(limits: ServerLimits) throws -> GenerationParameters {
            guard let initImage, var editing else {
                if mask != nil { throw ServerError.badRequest("field 'mask' needs 'init_image'") }
                return parameters
            }
            let image = try EditInput.image(EditInput.base64(initImage, field: "init_image", limits: limits), field: "init_image", limits: limits)
            editing.image = try EditInput.png(image)
            if let mask {
                let decoded = try EditInput.image(EditInput.base64(mask, field: "mask", limits: limits), field: "mask", limits: limits)
                let fitted = try EditInput.fitted(EditInput.a1111Mask(decoded), to: image, field: "mask", allowScaled: true)
                try EditInput.checkNotEmpty(fitted, inverted: editing.invertMask, field: "mask")
                editing.mask = try EditInput.png(fitted)
            }
            try editing.check()
            var resolved = parameters
            let size = try EditInput.defaultSize(width: parameters.width, height: parameters.height, image: image)
            resolved.width = size.width
            resolved.height = size.height
            resolved.editing = editing
            return resolved
        }
    }

    @Sendable func create(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await RequestDecoding.body(of: request, limit: api.limits.maxBodyBytes)
        let input = try RequestDecoding.decode(CreateRequest.self, from: body)
        guard (-100...100).contains(input.priority) else { throw ServerError.badRequest("priority must be between -100 and 100") }
        let job = try await api.submit(try input.resolved(limits: api.limits), context: context, priority: input.priority)
        var headers = HTTPFields()
        headers[.location] = "/v1/jobs/\(job.id)"
        let position = await api.queue.position(of: job.id)
        return Response.json(data: try Self.encode(job, position: position), status: .accepted, headers: headers)
    }

    @Sendable func show(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let job = try await find(context)
        return Response.json(data: try Self.encode(job, position: await api.queue.position(of: job.id)))
    }

    @Sendable func cancel(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard let job = await api.queue.cancel(id, owner: context.owner) else { throw ServerError.notFound("unknown job id '\(id)'") }
        return Response.json(data: try Self.encode(job, position: nil))
    }

    @Sendable func events(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard let stream = await api.queue.events(id, owner: context.owner) else {
            throw ServerError.notFound("unknown job id '\(id)'")
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            for await event in stream {
                try await writer.write(ByteBuffer(string: try Self.serverSentEvent(event)))
            }
            try await writer.finish(nil)
        })
    }

    @Sendable func image(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        let file = context.parameters.get("file") ?? ""
        let formats: [String: ImageFormat] = ["image.png": .png, "image.jpg": .jpeg, "image.jpeg": .jpeg, "image.webp": .webp]
        guard let format = formats[file] else {
            throw ServerError.notFound("no such resource '\(file)'; use image.png, image.jpg or image.webp")
        }
        let index = request.uri.queryParameters.get("index").flatMap(Int.init) ?? 0
        var data = try await api.queue.image(id, index: index, owner: context.owner)
        if format != .png {
            let image = try decodeImage(data, format: .png).image
            data = try encodeImage(image, format: format, quality: 92)
        }
        var headers = HTTPFields()
        headers[.contentType] = format == .png ? "image/png" : format == .jpeg ? "image/jpeg" : "image/webp"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func find(_ context: ServerRequestContext) async throws -> JobRecord {
        let id = context.parameters.get("id") ?? ""
        guard let job = await api.queue.job(id, owner: context.owner) else { throw ServerError.notFound("unknown job id '\(id)'") }
        return job
    }

    /// The job as clients see it.
    static func object(_ job: JobRecord, position: Int?) throws -> [String: Any] {
        let parameters = try JSONSerialization.jsonObject(with: JSONEncoder().encode(job.parameters))
        let iso = ISO8601DateFormatter()
        var object: [String: Any] = [
            "id": job.id, "status": job.status.rawValue, "priority": job.priority, "step": job.step,
            "step_count": job.stepCount, "progress": job.stepCount > 0 ? Double(job.step) / Double(job.stepCount) : 0,
            "created_at": iso.string(from: job.createdAt), "parameters": parameters,
            "seeds": job.imageSeeds.map { Int64($0) }, "infotexts": job.infotexts,
        ]
        if let position { object["position"] = position }
        if let date = job.startedAt { object["started_at"] = iso.string(from: date) }
        if let date = job.finishedAt { object["finished_at"] = iso.string(from: date) }
        if let error = job.error { object["error"] = error }
        if let note = job.note { object["note"] = note }
        if job.status == .succeeded {
            object["images"] = job.imageSeeds.indices.map { "/v1/jobs/\(job.id)/image.png?index=\($0)" }
        }
        return object
    }

    static func encode(_ job: JobRecord, position: Int?) throws -> Data {
        try JSONSerialization.data(withJSONObject: object(job, position: position), options: [.sortedKeys])
    }

    /// One SSE frame: `event: <name>` and a JSON `data:` line.
    static func serverSentEvent(_ event: JobEvent) throws -> String {
        let name: String
        let payload: Any
        switch event {
        case let .queued(position):
            name = "queued"
            payload = ["position": position]
        case let .step(step, stepCount):
            name = "step"
            payload = ["step": step, "step_count": stepCount]
        case let .finished(job):
            name = job.status == .succeeded ? "done" : "error"
            payload = try object(job, position: nil)
        case let .suspended(job):
            name = "suspended"
            payload = try object(job, position: nil)
        }
        let data = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
        return "event: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
    }
}
