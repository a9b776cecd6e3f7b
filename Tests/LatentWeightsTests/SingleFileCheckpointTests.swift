import Foundation
import LatentCore
import Testing
@testable import LatentWeights

@Suite("Single-file LDM checkpoints")
struct SingleFileCheckpointTests {
    private func json(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func expectedNames(_ tensors: [LDMTensor]) -> [String] {
        tensors.flatMap { $0.expected.map(\.name) }.sorted()
    }

    @Test("SD 1: family, key sets, configs, ignored extras, strict store")
    func sd1() throws {
        let folder = try TemporaryDirectory()
        let fixture = LDMFixture()
        var generator = SplitMix(seed: 1)
        let extras = [
            StoredTensor.random("model_ema.decay", [], generator: &generator).0,
            StoredTensor.random("model_ema.diffusion_modelinput_blocks00weight", [32, 4, 3, 3], dtype: "F16", generator: &generator).0,
            StoredTensor.random("alphas_cumprod", [1000], generator: &generator).0,
            StoredTensor(name: "cond_stage_model.transformer.text_model.embeddings.position_ids", dtype: "I64",
                         shape: [1, 8], bytes: Array(repeating: 0, count: 64)),
        ]
        let url = try fixture.write(to: folder, extra: extras)
        let checkpoint = try SingleFileCheckpoint(contentsOf: url)
        #expect(checkpoint.family == .sd1)
        #expect(!checkpoint.isInpainting)
        #expect(checkpoint.unet.keys.sorted() == expectedNames(fixture.unet))
        #expect(checkpoint.vae.keys.sorted() == expectedNames(fixture.vae))
        #expect(checkpoint.textEncoder.keys.sorted() == expectedNames(fixture.textEncoder))
        #expect(checkpoint.tokenizerPadToken == "<|endoftext|>")
        #expect(checkpoint.predictionType == "epsilon")
        #expect(checkpoint.defaultImageSize == 512)

        let unet = try json(checkpoint.unetConfig)
        #expect(unet["block_out_channels"] as? [Int] == [32, 64])
        #expect(unet["layers_per_block"] as? Int == 1)
        #expect(unet["in_channels"] as? Int == 4)
        #expect(unet["out_channels"] as? Int == 4)
        #expect(unet["cross_attention_dim"] as? Int == 64)
        #expect(unet["attention_head_dim"] as? Int == 8)
        #expect(unet["use_linear_projection"] as? Bool == false)
        #expect(unet["upcast_attention"] as? Bool == false)
        #expect(unet["sample_size"] as? Int == 64)
        #expect(unet["down_block_types"] as? [String] == ["CrossAttnDownBlock2D", "DownBlock2D"])
        #expect(unet["up_block_types"] as? [String] == ["UpBlock2D", "CrossAttnUpBlock2D"])
        #expect(unet["norm_num_groups"] as? Int == 32)
        let vae = try json(checkpoint.vaeConfig)
        #expect(vae["block_out_channels"] as? [Int] == [32, 64])
        #expect(vae["layers_per_block"] as? Int == 1)
        #expect(vae["latent_channels"] as? Int == 4)
        #expect(vae["scaling_factor"] as? Double == 0.18215)
        #expect(vae["sample_size"] as? Int == 512)
        let text = try json(checkpoint.textEncoderConfig)
        #expect(text["hidden_act"] as? String == "quick_gelu")
        #expect(text["hidden_size"] as? Int == 64)
        #expect(text["num_hidden_layers"] as? Int == 3)
        #expect(text["num_attention_heads"] as? Int == 1)
        #expect(text["intermediate_size"] as? Int == 128)
        #expect(text["max_position_embeddings"] as? Int == 8)
        #expect(text["vocab_size"] as? Int == 100)
        let scheduler = try json(checkpoint.schedulerConfig)
        #expect(scheduler["_class_name"] as? String == "PNDMScheduler")
        #expect(scheduler["beta_start"] as? Double == 0.00085)
        #expect(scheduler["beta_end"] as? Double == 0.012)
        #expect(scheduler["beta_schedule"] as? String == "scaled_linear")
        #expect(scheduler["skip_prk_steps"] as? Bool == true)
        #expect(scheduler["steps_offset"] as? Int == 1)
        #expect(scheduler["set_alpha_to_one"] as? Bool == false)
        #expect(scheduler["clip_sample"] as? Bool == false)

        // Values: a squeezed 1×1 attention conv keeps its elements.
        let file = try SafeTensorsFile(contentsOf: url)
        let stored = try file.load("first_stage_model.encoder.mid.attn_1.q.weight")
        let mapped = try checkpoint.vae.load("encoder.mid_block.attentions.0.to_q.weight")
        #expect(stored.shape == [64, 64, 1, 1])
        #expect(mapped == stored.reshaped([64, 64]))

        // Strict loading: every tensor requested with its shape leaves nothing unused.
        for source in [checkpoint.unet, checkpoint.vae, checkpoint.textEncoder] {
            let store = WeightStore(source)
            for key in source.keys {
                let shape = try #require(source.info(for: key)?.shape)
                _ = try store.tensor(key, shape: shape)
            }
            #expect(throws: Never.self) { try store.verifyAllUsed() }
        }
    }

    @Test("SD 2: OpenCLIP split and truncation, linear projections, v-prediction")
    func sd2() throws {
        let folder = try TemporaryDirectory()
        var fixture = LDMFixture()
        fixture.openCLIP = true
        fixture.linearProjection = true
        fixture.clipHidden = 128
        fixture.contextDim = 128
        fixture.blockChannels = [64, 128]
        fixture.downAttention = [true, true]
        let url = try fixture.write(to: folder)
        let checkpoint = try SingleFileCheckpoint(contentsOf: url)
        #expect(checkpoint.family == .sd2)
        #expect(checkpoint.textEncoder.keys.sorted() == expectedNames(fixture.textEncoder))
        #expect(checkpoint.unet.keys.sorted() == expectedNames(fixture.unet))
        #expect(checkpoint.tokenizerPadToken == "!")
        #expect(checkpoint.predictionType == "v_prediction")
        #expect(checkpoint.defaultImageSize == 768)
        let unet = try json(checkpoint.unetConfig)
        #expect(unet["attention_head_dim"] as? [Int] == [1, 2])
        #expect(unet["use_linear_projection"] as? Bool == true)
        #expect(unet["upcast_attention"] as? Bool == true)
        #expect(unet["sample_size"] as? Int == 96)
        #expect(unet["up_block_types"] as? [String] == ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"])
        let text = try json(checkpoint.textEncoderConfig)
        #expect(text["hidden_act"] as? String == "gelu")
        #expect(text["num_hidden_layers"] as? Int == 2)
        #expect(text["num_attention_heads"] as? Int == 2)
        let scheduler = try json(checkpoint.schedulerConfig)
        #expect(scheduler["_class_name"] as? String == "DDIMScheduler")
        #expect(scheduler["prediction_type"] as? String == "v_prediction")
        #expect(try json(checkpoint.vaeConfig)["sample_size"] as? Int == 768)

        let fused = try SafeTensorsFile(contentsOf: url).load("cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight")
        for (index, name) in ["q_proj", "k_proj", "v_proj"].enumerated() {
            let part = try checkpoint.textEncoder.load("text_model.encoder.layers.1.self_attn.\(name).weight")
            #expect(part.shape == [128, 128])
            #expect(part.scalars == Array(fused.scalars[(index * 128 * 128)..<((index + 1) * 128 * 128)]))
        }
        let bias = try checkpoint.textEncoder.load("text_model.encoder.layers.0.self_attn.v_proj.bias")
        let fusedBias = try SafeTensorsFile(contentsOf: url).load("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_bias")
        #expect(bias.scalars == Array(fusedBias.scalars[256..<384]))
    }

    @Test("a 9-channel UNet input is an inpainting model")
    func inpainting() throws {
        let folder = try TemporaryDirectory()
        var fixture = LDMFixture()
        fixture.inChannels = 9
        let checkpoint = try SingleFileCheckpoint(contentsOf: try fixture.write(to: folder))
        #expect(checkpoint.isInpainting)
        #expect(try json(checkpoint.unetConfig)["in_channels"] as? Int == 9)
    }

    @Test("unknown tensors inside a component surface under their own name when the store verifies")
    func unexpectedInsideComponent() throws {
        let folder = try TemporaryDirectory()
        var generator = SplitMix(seed: 2)
        let stray = StoredTensor.random("model.diffusion_model.label_emb.0.0.weight", [4, 4], generator: &generator).0
        let url = try LDMFixture().write(to: folder, extra: [stray])
        let checkpoint = try SingleFileCheckpoint(contentsOf: url)
        #expect(checkpoint.unet.keys.contains("model.diffusion_model.label_emb.0.0.weight"))
        let store = WeightStore(checkpoint.unet)
        for key in checkpoint.unet.keys where !key.hasPrefix("model.") {
            _ = try store.tensor(key, shape: try #require(checkpoint.unet.info(for: key)?.shape))
        }
        #expect(weightsError { try store.verifyAllUsed() }?.description
            == "unexpected tensor in \(url.path) (unet): 'model.diffusion_model.label_emb.0.0.weight'")
    }

    @Test("SDXL and unknown files are rejected with what was found")
    func rejected() throws {
        let folder = try TemporaryDirectory()
        var generator = SplitMix(seed: 3)
        let sdxl = try folder.write(SafeTensorsWriter.encode([
            StoredTensor.random("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", [4], generator: &generator).0,
            StoredTensor.random("model.diffusion_model.out.2.bias", [4], generator: &generator).0,
        ]), to: "xl.safetensors")
        #expect(weightsError { _ = try SingleFileCheckpoint(contentsOf: sdxl) }?.description
            == "unknown checkpoint architecture in \(sdxl.path): SDXL single-file checkpoints are not supported yet")
        let other = try folder.write(SafeTensorsWriter.encode([
            StoredTensor.random("encoder.layer.0.weight", [4], generator: &generator).0,
            StoredTensor.random("encoder.layer.1.weight", [4], generator: &generator).0,
            StoredTensor.random("head.weight", [4], generator: &generator).0,
        ]), to: "other.safetensors")
        #expect(weightsError { _ = try SingleFileCheckpoint(contentsOf: other) }?.description
            == "unknown checkpoint architecture in \(other.path): no SD 1 (cond_stage_model.transformer.*) or SD 2 "
            + "(cond_stage_model.model.*) text encoder; found 3 tensors: encoder.layer.* (2), head.* (1)")
        let noVAE = try folder.write(SafeTensorsWriter.encode(LDMFixture().unet.prefix(3).map {
            StoredTensor.random($0.ldmKey, $0.shape, generator: &generator).0
        } + [StoredTensor.random("cond_stage_model.transformer.text_model.final_layer_norm.weight", [4], generator: &generator).0]),
            to: "novae.safetensors")
        let error = weightsError { _ = try SingleFileCheckpoint(contentsOf: noVAE) }
        #expect(error?.description.hasPrefix("unknown checkpoint architecture in \(noVAE.path): no VAE tensors (first_stage_model.*)") == true)
    }
}
