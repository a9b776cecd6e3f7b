import Foundation
import LatentCore
import Testing
@testable import LatentWeights

/// The tiny reference models under `Tests/Fixtures/models` (or `LATENT_FIXTURE_MODELS`), when present.
private let fixtureModels: URL? = {
    if let override = ProcessInfo.processInfo.environment["LATENT_FIXTURE_MODELS"] {
        return URL(fileURLWithPath: override)
    }
    var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while folder.path != "/" {
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
            let models = folder.appendingPathComponent("Tests/Fixtures/models")
            return FileManager.default.fileExists(atPath: models.path) ? models : nil
        }
        folder.deleteLastPathComponent()
    }
    return nil
}()

@Suite("Reference fixture models", .enabled(if: fixtureModels != nil))
struct FixtureModelTests {
    struct Pair: CustomTestStringConvertible, Sendable {
        let folder: String
        let checkpoint: String
        let family: SingleFileCheckpoint.Family
        var testDescription: String { checkpoint }
    }

    static let pairs = [
        Pair(folder: "sd15-tiny", checkpoint: "sd15-tiny-bf16.safetensors", family: .sd1),
        Pair(folder: "sd2v-tiny", checkpoint: "sd2v-tiny-fp16.safetensors", family: .sd2),
    ]

    private func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Compares the named fields of two JSON objects through their JSON text (so 1 and 1.0 differ only by type).
    private func sameFields(_ lhs: [String: Any], _ rhs: [String: Any], _ fields: [String], _ label: String) throws {
        for field in fields {
            let left = try JSONSerialization.data(withJSONObject: [lhs[field] ?? NSNull()])
            let right = try JSONSerialization.data(withJSONObject: [rhs[field] ?? NSNull()])
            #expect(left == right, "\(label).\(field)")
        }
    }

    @Test("the single file converts to the diffusers folder's tensors and configuration", arguments: pairs)
    func singleFileMatchesFolder(_ pair: Pair) throws {
        let models = try #require(fixtureModels)
        let directory = try ModelDirectory(url: models.appendingPathComponent(pair.folder))
        let checkpoint = try SingleFileCheckpoint(contentsOf: models.appendingPathComponent(pair.checkpoint))
        #expect(checkpoint.family == pair.family)

        let components: [(String, any TensorSource)] = [
            ("unet", checkpoint.unet), ("vae", checkpoint.vae), ("text_encoder", checkpoint.textEncoder),
        ]
        for (component, converted) in components {
            let reference = try directory.weights(component)
            #expect(converted.keys.sorted() == reference.keys.sorted(), "\(component) keys")
            var worst: (key: String, error: Float) = ("", 0)
            for key in reference.keys {
                let expected = try reference.load(key)
                guard let info = converted.info(for: key) else { continue }
                #expect(info.shape == expected.shape, "\(component) \(key)")
                let actual = try converted.load(key)
                let scale = expected.scalars.map(abs).max() ?? 0
                let difference = zip(actual.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
                // The single files store bf16/fp16 copies of the folder's weights: relative rounding ≤ 2^-8.
                let error = scale > 0 ? difference / scale : difference
                if error > worst.error { worst = (key, error) }
            }
            #expect(worst.error <= 1.0 / 256, "\(component): worst tensor \(worst.key) off by \(worst.error)")
        }

        let unetFields = ["attention_head_dim", "block_out_channels", "cross_attention_dim", "down_block_types",
                          "up_block_types", "in_channels", "out_channels", "layers_per_block", "use_linear_projection",
                          "upcast_attention", "norm_num_groups", "mid_block_type", "transformer_layers_per_block"]
        try sameFields(try object(checkpoint.unetConfig), try object(directory.configData("unet")), unetFields, "unet")
        try sameFields(try object(checkpoint.vaeConfig), try object(directory.configData("vae")),
                       ["block_out_channels", "layers_per_block", "latent_channels", "in_channels", "out_channels",
                        "scaling_factor", "down_block_types", "up_block_types"], "vae")
        try sameFields(try object(checkpoint.textEncoderConfig), try object(directory.configData("text_encoder")),
                       ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
                        "max_position_embeddings", "vocab_size", "layer_norm_eps"], "text_encoder")
        try sameFields(try object(checkpoint.schedulerConfig), try object(directory.configData("scheduler")),
                       ["_class_name", "beta_start", "beta_end", "beta_schedule", "steps_offset", "set_alpha_to_one",
                        "skip_prk_steps", "clip_sample"], "scheduler")
    }
}
