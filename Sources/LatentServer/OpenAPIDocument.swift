import Foundation
import Hummingbird

/// `GET /openapi.json`: an OpenAPI 3.1 description of every route (tests check it against the router).
enum OpenAPIDocument {
    /// (method, OpenAPI path, summary, request schema name or nil, success status)
    static let operations: [(method: String, path: String, summary: String, body: String?, status: String)] = [
        ("post", "/sdapi/v1/txt2img", "A1111 text-to-image (waits; cancelled if the client disconnects)", "A1111Txt2Img", "200"),
        ("post", "/sdapi/v1/img2img", "A1111 image-to-image; with mask: inpainting (waits; cancelled if the client disconnects)", "A1111Img2Img", "200"),
        ("get", "/sdapi/v1/progress", "A1111 progress of the caller's job, with an optional preview", nil, "200"),
        ("post", "/sdapi/v1/interrupt", "Stop the caller's current job (never another client's)", nil, "200"),
        ("post", "/sdapi/v1/skip", "Same as interrupt for single-image jobs", nil, "200"),
        ("get", "/sdapi/v1/samplers", "Samplers", nil, "200"),
        ("get", "/sdapi/v1/schedulers", "Sigma schedule types", nil, "200"),
        ("get", "/sdapi/v1/sd-models", "Models in --models-dir plus --model", nil, "200"),
        ("get", "/sdapi/v1/options", "Options (sd_model_checkpoint)", nil, "200"),
        ("post", "/sdapi/v1/options", "Set options (sd_model_checkpoint switches the default model)", "Options", "200"),
        ("post", "/sdapi/v1/png-info", "Read a PNG's generation parameters", "PNGInfo", "200"),
        ("post", "/v1/images/generations", "OpenAI image generation (b64_json)", "OpenAIGeneration", "200"),
        ("post", "/v1/images/edits", "OpenAI image edit: multipart image + optional mask (alpha 0 = edit), b64_json", "OpenAIEdit", "200"),
        ("post", "/v1/jobs", "Submit an asynchronous job", "Job", "202"),
        ("get", "/v1/jobs/{id}", "A job's state", nil, "200"),
        ("delete", "/v1/jobs/{id}", "Cancel a job (queued: at once; running: at the next step)", nil, "200"),
        ("get", "/v1/jobs/{id}/events", "Server-Sent Events: queued, step, done, error, suspended", nil, "200"),
        ("get", "/v1/jobs/{id}/{file}", "The result as image.png, image.jpg or image.webp (?index=N)", nil, "200"),
        ("get", "/v2/health/live", "Liveness (no API key needed)", nil, "200"),
        ("get", "/v2/health/ready", "Readiness: 503 while draining (no API key needed)", nil, "200"),
        ("get", "/metrics", "Prometheus metrics", nil, "200"),
        ("get", "/openapi.json", "This document", nil, "200"),
    ]

    static var schemas: [String: Any] {
        [
        "A1111Txt2Img": object([
            "prompt": "string", "negative_prompt": "string", "seed": "integer", "sampler_name": "string",
            "scheduler": "string", "batch_size": "integer", "n_iter": "integer", "steps": "integer",
            "cfg_scale": "number", "width": "integer", "height": "integer", "send_images": "boolean",
            "override_settings": "object",
        ]),
        "A1111Img2Img": object(
            [
                "init_images": "array", "mask": "string", "denoising_strength": "number", "resize_mode": "integer",
                "mask_blur": "integer", "inpainting_fill": "integer", "inpaint_full_res": "boolean",
                "inpaint_full_res_padding": "integer", "inpainting_mask_invert": "integer", "prompt": "string",
                "negative_prompt": "string", "seed": "integer", "sampler_name": "string", "scheduler": "string",
                "batch_size": "integer", "n_iter": "integer", "steps": "integer", "cfg_scale": "number",
                "width": "integer", "height": "integer", "send_images": "boolean", "override_settings": "object",
            ], required: ["init_images"]),
        "OpenAIEdit": object(
            [
                "image": "string", "mask": "string", "prompt": "string", "n": "integer", "size": "string",
                "response_format": "string", "model": "string", "negative_prompt": "string", "steps": "integer",
                "cfg_scale": "number", "seed": "integer", "sampler": "string", "strength": "number",
            ], required: ["image", "prompt"]),
        "Options": object(["sd_model_checkpoint": "string"]),
        "PNGInfo": object(["image": "string"], required: ["image"]),
        "OpenAIGeneration": object(
            [
                "prompt": "string", "n": "integer", "size": "string", "response_format": "string", "model": "string",
                "negative_prompt": "string", "steps": "integer", "cfg_scale": "number", "seed": "integer",
                "sampler": "string",
            ], required: ["prompt"]),
        "Job": object([
            "prompt": "string", "negative_prompt": "string", "steps": "integer", "cfg_scale": "number",
            "seed": "integer", "width": "integer", "height": "integer", "sampler": "string",
            "schedule_type": "string", "model": "string", "image_count": "integer", "priority": "integer",
            "init_image": "string", "mask": "string", "strength": "number", "resize_mode": "string",
            "mask_blur": "integer", "masked_content": "string", "invert_mask": "boolean",
            "inpaint_only_masked": "boolean", "inpaint_padding": "integer",
        ]),
        "Error": ["type": "object", "properties": ["error": object(["message": "string"])]],
        ]
    }

    static func object(_ properties: [String: String], required: [String] = []) -> [String: Any] {
        var schema: [String: Any] = ["type": "object", "properties": properties.mapValues { ["type": $0] }]
        if !required.isEmpty { schema["required"] = required }
        return schema
    }

    static func document() -> [String: Any] {
        var paths: [String: [String: Any]] = [:]
        for operation in operations {
            var entry: [String: Any] = [
                "summary": operation.summary,
                "responses": [
                    operation.status: ["description": "Success"],
                    "4XX": ["description": "Client error naming the problem or limit",
                            "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]],
                ],
            ]
            let names = operation.path.split(separator: "{").dropFirst().compactMap { $0.split(separator: "}").first }
            if !names.isEmpty {
                entry["parameters"] = names.map { ["name": String($0), "in": "path", "required": true, "schema": ["type": "string"]] }
            }
            if let body = operation.body {
                let type = body == "OpenAIEdit" ? "multipart/form-data" : "application/json"
                entry["requestBody"] = ["content": [type: ["schema": ["$ref": "#/components/schemas/\(body)"]]]]
            }
            paths[operation.path, default: [:]][operation.method] = entry
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "Latent", "version": "1.0", "description": "Stable Diffusion on the CPU: A1111, OpenAI and async-job APIs over one queue"],
            "paths": paths,
            "components": [
                "schemas": schemas,
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
            ],
            "security": [["bearer": [String]()]],
        ]
    }

    static func register(on router: Router<ServerRequestContext>) {
        router.get("openapi.json") { _, _ in try Response.json(object: document()) }
    }
}
