import Foundation

// Architecture inference for single-file checkpoints: shapes in, diffusers-style config JSON out.

extension SingleFileCheckpoint {
    /// SD 1.5's `scheduler_config.json` (PNDM) or SD 2.1's (DDIM, v-prediction).
    static func schedulerConfig(family: Family) -> JSONValue {
        var config: [String: JSONValue] = [
            "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
            "num_train_timesteps": 1000, "clip_sample": false, "set_alpha_to_one": false,
            "skip_prk_steps": true, "steps_offset": 1, "trained_betas": .null,
        ]
        switch family {
        case .sd1:
            config["_class_name"] = "PNDMScheduler"
            config["prediction_type"] = "epsilon"
        case .sd2:
            config["_class_name"] = "DDIMScheduler"
            config["prediction_type"] = "v_prediction"
        }
        return .object(config)
    }

    /// Index set of `prefix{N}.` keys, e.g. the N of `down_blocks.N.`.
    static func indices(_ source: any TensorSource, after prefix: String) -> [Int] {
        var found = Set<Int>()
        for key in source.keys where key.hasPrefix(prefix) {
            if let first = key.dropFirst(prefix.count).split(separator: ".").first, let index = Int(first) {
                found.insert(index)
            }
        }
        return found.sorted()
    }

    /// The shape of a tensor the inference needs, or an error naming it.
    static func requiredShape(_ source: any TensorSource, _ key: String, rank: Int, path: String) throws -> [Int] {
        guard let shape = source.info(for: key)?.shape else {
            throw WeightsError.unknownArchitecture(path: path, reason: "tensor '\(key)' not found")
        }
        guard shape.count == rank else {
            throw WeightsError.unknownArchitecture(path: path, reason: "tensor '\(key)' has shape \(shape), expected rank \(rank)")
        }
        return shape
    }
}

/// What the UNet's shapes say about its configuration.
struct UNetArchitecture {
    var inChannels: Int
    var outChannels: Int
    var blockOutChannels: [Int]
    var layersPerBlock: Int
    var crossAttentionDim: Int
    var downHasAttention: [Bool]
    var upHasAttention: [Bool]
    var midHasAttention: Bool
    var usesLinearProjection: Bool
    var transformerLayers: [Int]

    init(_ unet: any TensorSource, layout: CompVisToDiffusers.UNetLayout, path: String) throws {
        let convIn = try SingleFileCheckpoint.requiredShape(unet, "conv_in.weight", rank: 4, path: path)
        let convOut = try SingleFileCheckpoint.requiredShape(unet, "conv_out.weight", rank: 4, path: path)
        inChannels = convIn[1]
        outChannels = convOut[0]
        layersPerBlock = layout.layersPerBlock
        blockOutChannels = try (0..<layout.blockCount).map { block in
            try SingleFileCheckpoint.requiredShape(
                unet, "down_blocks.\(block).resnets.0.conv2.weight", rank: 4, path: path)[0]
        }
        func hasTransformer(_ prefix: String) -> Bool {
            unet.keys.contains { $0.hasPrefix(prefix) && $0.contains(".transformer_blocks.") }
        }
        downHasAttention = (0..<layout.blockCount).map { hasTransformer("down_blocks.\($0).attentions.") }
        upHasAttention = (0..<layout.blockCount).map { hasTransformer("up_blocks.\($0).attentions.") }
        midHasAttention = hasTransformer("mid_block.attentions.")
        transformerLayers = (0..<layout.blockCount).map { block in
            SingleFileCheckpoint.indices(unet, after: "down_blocks.\(block).attentions.0.transformer_blocks.").count
        }
        guard let toK = unet.keys.sorted().first(where: { $0.hasSuffix(".attn2.to_k.weight") }),
              let contextShape = unet.info(for: toK)?.shape, contextShape.count == 2
        else {
            throw WeightsError.unknownArchitecture(path: path, reason: "the UNet has no cross-attention (attn2.to_k) weights")
        }
        crossAttentionDim = contextShape[1]
        guard let projIn = unet.keys.sorted().first(where: { $0.hasSuffix(".proj_in.weight") }),
              let projShape = unet.info(for: projIn)?.shape
        else {
            throw WeightsError.unknownArchitecture(path: path, reason: "the UNet has no proj_in weights")
        }
        usesLinearProjection = projShape.count == 2
    }

    func config(family: SingleFileCheckpoint.Family) -> JSONValue {
        let headCounts: JSONValue = switch family {
        case .sd1: 8
        case .sd2: .array(blockOutChannels.map { .int(max(1, $0 / 64)) })
        }
        let layers = transformerLayers.filter { $0 > 0 }
        let transformerLayersValue: JSONValue = Set(layers).count <= 1
            ? .int(layers.first ?? 1) : .array(transformerLayers.map { .int(max(1, $0)) })
        return [
            "_class_name": "UNet2DConditionModel",
            "act_fn": "silu",
            "attention_head_dim": headCounts,
            "block_out_channels": .array(blockOutChannels.map { .int($0) }),
            "center_input_sample": false,
            "cross_attention_dim": .int(crossAttentionDim),
            "down_block_types": .array(downHasAttention.map { .string($0 ? "CrossAttnDownBlock2D" : "DownBlock2D") }),
            "downsample_padding": 1,
            "flip_sin_to_cos": true,
            "freq_shift": 0,
            "in_channels": .int(inChannels),
            "layers_per_block": .int(layersPerBlock),
            "mid_block_scale_factor": 1,
            "mid_block_type": midHasAttention ? "UNetMidBlock2DCrossAttn" : "UNetMidBlock2D",
            "norm_eps": 1e-05,
            "norm_num_groups": 32,
            "out_channels": .int(outChannels),
            "sample_size": family == .sd1 ? 64 : 96,
            "transformer_layers_per_block": transformerLayersValue,
            "up_block_types": .array(upHasAttention.map { .string($0 ? "CrossAttnUpBlock2D" : "UpBlock2D") }),
            "upcast_attention": .bool(family == .sd2),
            "use_linear_projection": .bool(usesLinearProjection),
        ]
    }
}

/// What the VAE's shapes say about its configuration.
struct VAEArchitecture {
    var inChannels: Int
    var outChannels: Int
    var latentChannels: Int
    var blockOutChannels: [Int]
    var layersPerBlock: Int

    init(_ vae: any TensorSource, path: String) throws {
        inChannels = try SingleFileCheckpoint.requiredShape(vae, "encoder.conv_in.weight", rank: 4, path: path)[1]
        outChannels = try SingleFileCheckpoint.requiredShape(vae, "decoder.conv_out.weight", rank: 4, path: path)[0]
        latentChannels = try SingleFileCheckpoint.requiredShape(vae, "decoder.conv_in.weight", rank: 4, path: path)[1]
        let blocks = SingleFileCheckpoint.indices(vae, after: "encoder.down_blocks.")
        guard !blocks.isEmpty, blocks == Array(0..<blocks.count) else {
            throw WeightsError.unknownArchitecture(path: path, reason: "the VAE encoder has no contiguous down blocks")
        }
        blockOutChannels = try blocks.map { block in
            try SingleFileCheckpoint.requiredShape(
                vae, "encoder.down_blocks.\(block).resnets.0.conv2.weight", rank: 4, path: path)[0]
        }
        layersPerBlock = SingleFileCheckpoint.indices(vae, after: "encoder.down_blocks.0.resnets.").count
    }

    func config(family: SingleFileCheckpoint.Family) -> JSONValue {
        [
            "_class_name": "AutoencoderKL",
            "act_fn": "silu",
            "block_out_channels": .array(blockOutChannels.map { .int($0) }),
            "down_block_types": .array(blockOutChannels.map { _ in "DownEncoderBlock2D" }),
            "in_channels": .int(inChannels),
            "latent_channels": .int(latentChannels),
            "layers_per_block": .int(layersPerBlock),
            "norm_num_groups": 32,
            "out_channels": .int(outChannels),
            "sample_size": family == .sd1 ? 512 : 768,
            "scaling_factor": 0.18215,
            "up_block_types": .array(blockOutChannels.map { _ in "UpDecoderBlock2D" }),
        ]
    }
}

/// What the text encoder's shapes say about its configuration.
struct TextEncoderArchitecture {
    var vocabularySize: Int
    var hiddenSize: Int
    var maxPositions: Int
    var layerCount: Int
    var intermediateSize: Int

    init(_ textEncoder: any TensorSource, path: String) throws {
        let tokens = try SingleFileCheckpoint.requiredShape(
            textEncoder, "text_model.embeddings.token_embedding.weight", rank: 2, path: path)
        let positions = try SingleFileCheckpoint.requiredShape(
            textEncoder, "text_model.embeddings.position_embedding.weight", rank: 2, path: path)
        vocabularySize = tokens[0]
        hiddenSize = tokens[1]
        maxPositions = positions[0]
        layerCount = SingleFileCheckpoint.indices(textEncoder, after: "text_model.encoder.layers.").count
        guard layerCount > 0 else {
            throw WeightsError.unknownArchitecture(path: path, reason: "the text encoder has no layers")
        }
        intermediateSize = try SingleFileCheckpoint.requiredShape(
            textEncoder, "text_model.encoder.layers.0.mlp.fc1.weight", rank: 2, path: path)[0]
    }

    func config(family: SingleFileCheckpoint.Family) -> JSONValue {
        [
            "architectures": ["CLIPTextModel"],
            "attention_dropout": 0.0,
            "bos_token_id": 0,
            "dropout": 0.0,
            "eos_token_id": 2,
            "hidden_act": family == .sd1 ? "quick_gelu" : "gelu",
            "hidden_size": .int(hiddenSize),
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": .int(intermediateSize),
            "layer_norm_eps": 1e-05,
            "max_position_embeddings": .int(maxPositions),
            "model_type": "clip_text_model",
            "num_attention_heads": .int(max(1, hiddenSize / 64)),
            "num_hidden_layers": .int(layerCount),
            "pad_token_id": 1,
            "projection_dim": .int(family == .sd1 ? hiddenSize : 512),
            "torch_dtype": "float32",
            "vocab_size": .int(vocabularySize),
        ]
    }
}
