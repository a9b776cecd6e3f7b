import Foundation
@testable import LatentWeights

/// One tensor of a synthetic LDM checkpoint and the diffusers tensor(s) it must become.
struct LDMTensor {
    var ldmKey: String
    var shape: [Int]
    /// Expected diffusers names with their derivations; empty when the tensor must be dropped.
    var expected: [MappedKey]
}

/// Builds the key set (with realistic shapes) of a small LDM checkpoint, written independently of the
/// mapping tables: it walks the diffusers block structure and emits both spellings of every tensor.
struct LDMFixture {
    var blockChannels = [32, 64]
    var layersPerBlock = 1
    var downAttention = [true, false]
    var inChannels = 4
    var contextDim = 64
    var linearProjection = false
    var vaeChannels = [32, 64]
    var vaeLayersPerBlock = 1
    var latentChannels = 4
    var clipHidden = 64
    var clipLayers = 3
    var clipIntermediate = 128
    var vocabulary = 100
    var positions = 8
    var openCLIP = false

    private func pair(_ ldm: String, _ diffusers: String, _ shape: [Int]) -> LDMTensor {
        LDMTensor(ldmKey: ldm, shape: shape, expected: [MappedKey(diffusers, .identity(ldm))])
    }

    // MARK: UNet

    var unet: [LDMTensor] {
        let p = CompVisToDiffusers.unetPrefix
        let c0 = blockChannels[0], time = 4 * c0
        var out: [LDMTensor] = []
        func linear(_ ldm: String, _ name: String, _ o: Int, _ i: Int, bias: Bool = true) {
            out.append(pair(p + ldm + ".weight", name + ".weight", [o, i]))
            if bias { out.append(pair(p + ldm + ".bias", name + ".bias", [o])) }
        }
        func conv(_ ldm: String, _ name: String, _ o: Int, _ i: Int, _ k: Int) {
            out.append(pair(p + ldm + ".weight", name + ".weight", [o, i, k, k]))
            out.append(pair(p + ldm + ".bias", name + ".bias", [o]))
        }
        func norm(_ ldm: String, _ name: String, _ c: Int) {
            out.append(pair(p + ldm + ".weight", name + ".weight", [c]))
            out.append(pair(p + ldm + ".bias", name + ".bias", [c]))
        }
        func resnet(_ ldm: String, _ name: String, _ i: Int, _ o: Int) {
            norm(ldm + ".in_layers.0", name + ".norm1", i)
            conv(ldm + ".in_layers.2", name + ".conv1", o, i, 3)
            linear(ldm + ".emb_layers.1", name + ".time_emb_proj", o, time)
            norm(ldm + ".out_layers.0", name + ".norm2", o)
            conv(ldm + ".out_layers.3", name + ".conv2", o, o, 3)
            if i != o { conv(ldm + ".skip_connection", name + ".conv_shortcut", o, i, 1) }
        }
        func attention(_ ldm: String, _ name: String, _ c: Int) {
            norm(ldm + ".norm", name + ".norm", c)
            for projection in ["proj_in", "proj_out"] {
                if linearProjection { linear(ldm + "." + projection, name + "." + projection, c, c) }
                else { conv(ldm + "." + projection, name + "." + projection, c, c, 1) }
            }
            let block = ".transformer_blocks.0"
            for attn in ["attn1", "attn2"] {
                let context = attn == "attn1" ? c : contextDim
                linear(ldm + block + "." + attn + ".to_q", name + block + "." + attn + ".to_q", c, c, bias: false)
                linear(ldm + block + "." + attn + ".to_k", name + block + "." + attn + ".to_k", c, context, bias: false)
                linear(ldm + block + "." + attn + ".to_v", name + block + "." + attn + ".to_v", c, context, bias: false)
                linear(ldm + block + "." + attn + ".to_out.0", name + block + "." + attn + ".to_out.0", c, c)
            }
            for n in ["norm1", "norm2", "norm3"] { norm(ldm + block + "." + n, name + block + "." + n, c) }
            linear(ldm + block + ".ff.net.0.proj", name + block + ".ff.net.0.proj", 8 * c, c)
            linear(ldm + block + ".ff.net.2", name + block + ".ff.net.2", c, 4 * c)
        }

        linear("time_embed.0", "time_embedding.linear_1", time, c0)
        linear("time_embed.2", "time_embedding.linear_2", time, time)
        conv("input_blocks.0.0", "conv_in", c0, inChannels, 3)
        var skips = [c0], channels = c0, index = 1
        for (block, width) in blockChannels.enumerated() {
            for layer in 0..<layersPerBlock {
                resnet("input_blocks.\(index).0", "down_blocks.\(block).resnets.\(layer)", channels, width)
                channels = width
                if downAttention[block] {
                    attention("input_blocks.\(index).1", "down_blocks.\(block).attentions.\(layer)", width)
                }
                skips.append(width)
                index += 1
            }
            if block < blockChannels.count - 1 {
                conv("input_blocks.\(index).0.op", "down_blocks.\(block).downsamplers.0.conv", width, width, 3)
                skips.append(width)
                index += 1
            }
        }
        resnet("middle_block.0", "mid_block.resnets.0", channels, channels)
        attention("middle_block.1", "mid_block.attentions.0", channels)
        resnet("middle_block.2", "mid_block.resnets.1", channels, channels)
        index = 0
        for (upBlock, block) in blockChannels.indices.reversed().enumerated() {
            let width = blockChannels[block]
            let hasAttention = downAttention[block]
            for layer in 0...layersPerBlock {
                let skip = skips.removeLast()
                resnet("output_blocks.\(index).0", "up_blocks.\(upBlock).resnets.\(layer)", channels + skip, width)
                channels = width
                if hasAttention {
                    attention("output_blocks.\(index).1", "up_blocks.\(upBlock).attentions.\(layer)", width)
                }
                if layer == layersPerBlock && block > 0 {
                    let slot = hasAttention ? 2 : 1
                    conv("output_blocks.\(index).\(slot).conv", "up_blocks.\(upBlock).upsamplers.0.conv", width, width, 3)
                }
                index += 1
            }
        }
        norm("out.0", "conv_norm_out", c0)
        conv("out.2", "conv_out", 4, c0, 3)
        return out
    }

    // MARK: VAE

    var vae: [LDMTensor] {
        let p = CompVisToDiffusers.vaePrefix
        var out: [LDMTensor] = []
        func conv(_ ldm: String, _ name: String, _ o: Int, _ i: Int, _ k: Int) {
            out.append(pair(p + ldm + ".weight", name + ".weight", [o, i, k, k]))
            out.append(pair(p + ldm + ".bias", name + ".bias", [o]))
        }
        func norm(_ ldm: String, _ name: String, _ c: Int) {
            out.append(pair(p + ldm + ".weight", name + ".weight", [c]))
            out.append(pair(p + ldm + ".bias", name + ".bias", [c]))
        }
        func resnet(_ ldm: String, _ name: String, _ i: Int, _ o: Int) {
            norm(ldm + ".norm1", name + ".norm1", i)
            conv(ldm + ".conv1", name + ".conv1", o, i, 3)
            norm(ldm + ".norm2", name + ".norm2", o)
            conv(ldm + ".conv2", name + ".conv2", o, o, 3)
            if i != o { conv(ldm + ".nin_shortcut", name + ".conv_shortcut", o, i, 1) }
        }
        func mid(_ side: String, _ c: Int) {
            resnet("\(side).mid.block_1", "\(side).mid_block.resnets.0", c, c)
            norm("\(side).mid.attn_1.norm", "\(side).mid_block.attentions.0.group_norm", c)
            for (ldm, name) in [("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")] {
                let key = p + "\(side).mid.attn_1.\(ldm).weight"
                out.append(LDMTensor(ldmKey: key, shape: [c, c, 1, 1], expected: [
                    MappedKey("\(side).mid_block.attentions.0.\(name).weight", .reshape(key, shape: [c, c])),
                ]))
                out.append(pair("\(p)\(side).mid.attn_1.\(ldm).bias", "\(side).mid_block.attentions.0.\(name).bias", [c]))
            }
            resnet("\(side).mid.block_2", "\(side).mid_block.resnets.1", c, c)
        }
        let last = vaeChannels[vaeChannels.count - 1]
        conv("encoder.conv_in", "encoder.conv_in", vaeChannels[0], 3, 3)
        var channels = vaeChannels[0]
        for (block, width) in vaeChannels.enumerated() {
            for layer in 0..<vaeLayersPerBlock {
                resnet("encoder.down.\(block).block.\(layer)", "encoder.down_blocks.\(block).resnets.\(layer)", channels, width)
                channels = width
            }
            if block < vaeChannels.count - 1 {
                conv("encoder.down.\(block).downsample.conv", "encoder.down_blocks.\(block).downsamplers.0.conv", width, width, 3)
            }
        }
        mid("encoder", last)
        norm("encoder.norm_out", "encoder.conv_norm_out", last)
        conv("encoder.conv_out", "encoder.conv_out", 2 * latentChannels, last, 3)
        conv("quant_conv", "quant_conv", 2 * latentChannels, 2 * latentChannels, 1)
        conv("post_quant_conv", "post_quant_conv", latentChannels, latentChannels, 1)
        conv("decoder.conv_in", "decoder.conv_in", last, latentChannels, 3)
        mid("decoder", last)
        channels = last
        for level in vaeChannels.indices.reversed() {
            let width = vaeChannels[level], upBlock = vaeChannels.count - 1 - level
            for layer in 0...vaeLayersPerBlock {
                resnet("decoder.up.\(level).block.\(layer)", "decoder.up_blocks.\(upBlock).resnets.\(layer)", channels, width)
                channels = width
            }
            if level > 0 {
                conv("decoder.up.\(level).upsample.conv", "decoder.up_blocks.\(upBlock).upsamplers.0.conv", width, width, 3)
            }
        }
        norm("decoder.norm_out", "decoder.conv_norm_out", vaeChannels[0])
        conv("decoder.conv_out", "decoder.conv_out", 3, vaeChannels[0], 3)
        return out
    }

    // MARK: Text encoder

    var textEncoder: [LDMTensor] { openCLIP ? openCLIPTensors : clipTensors }

    private var clipTensors: [LDMTensor] {
        let p = CLIPTextKeys.ldmPrefix, h = clipHidden
        var out: [LDMTensor] = []
        func add(_ name: String, _ shape: [Int]) { out.append(pair(p + name, name, shape)) }
        add("text_model.embeddings.token_embedding.weight", [vocabulary, h])
        add("text_model.embeddings.position_embedding.weight", [positions, h])
        for layer in 0..<clipLayers {
            let l = "text_model.encoder.layers.\(layer)"
            for projection in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                add("\(l).self_attn.\(projection).weight", [h, h])
                add("\(l).self_attn.\(projection).bias", [h])
            }
            for n in ["layer_norm1", "layer_norm2"] { add("\(l).\(n).weight", [h]); add("\(l).\(n).bias", [h]) }
            add("\(l).mlp.fc1.weight", [clipIntermediate, h]); add("\(l).mlp.fc1.bias", [clipIntermediate])
            add("\(l).mlp.fc2.weight", [h, clipIntermediate]); add("\(l).mlp.fc2.bias", [h])
        }
        add("text_model.final_layer_norm.weight", [h]); add("text_model.final_layer_norm.bias", [h])
        return out
    }

    private var openCLIPTensors: [LDMTensor] {
        let p = OpenCLIPToHF.prefix, h = clipHidden
        var out: [LDMTensor] = []
        func add(_ ldm: String, _ name: String?, _ shape: [Int]) {
            out.append(LDMTensor(ldmKey: p + ldm, shape: shape,
                                 expected: name.map { [MappedKey($0, .identity(p + ldm))] } ?? []))
        }
        add("token_embedding.weight", "text_model.embeddings.token_embedding.weight", [vocabulary, h])
        add("positional_embedding", "text_model.embeddings.position_embedding.weight", [positions, h])
        for layer in 0..<clipLayers {
            let kept = layer < clipLayers - 1
            let r = "transformer.resblocks.\(layer)", l = "text_model.encoder.layers.\(layer)"
            func keep(_ name: String) -> String? { kept ? "\(l).\(name)" : nil }
            for (ldm, name) in [("ln_1", "layer_norm1"), ("ln_2", "layer_norm2")] {
                add("\(r).\(ldm).weight", keep("\(name).weight"), [h]); add("\(r).\(ldm).bias", keep("\(name).bias"), [h])
            }
            for suffix in ["weight", "bias"] {
                let key = p + "\(r).attn.in_proj_\(suffix)"
                let shape = suffix == "weight" ? [3 * h, h] : [3 * h]
                out.append(LDMTensor(ldmKey: key, shape: shape, expected: kept ? ["q_proj", "k_proj", "v_proj"].enumerated().map {
                    MappedKey("\(l).self_attn.\($0.element).\(suffix)", .rows(key, start: $0.offset * h, count: h))
                } : []))
            }
            add("\(r).attn.out_proj.weight", keep("self_attn.out_proj.weight"), [h, h])
            add("\(r).attn.out_proj.bias", keep("self_attn.out_proj.bias"), [h])
            add("\(r).mlp.c_fc.weight", keep("mlp.fc1.weight"), [clipIntermediate, h])
            add("\(r).mlp.c_fc.bias", keep("mlp.fc1.bias"), [clipIntermediate])
            add("\(r).mlp.c_proj.weight", keep("mlp.fc2.weight"), [h, clipIntermediate])
            add("\(r).mlp.c_proj.bias", keep("mlp.fc2.bias"), [h])
        }
        add("ln_final.weight", "text_model.final_layer_norm.weight", [h])
        add("ln_final.bias", "text_model.final_layer_norm.bias", [h])
        add("text_projection", nil, [h, h])
        add("logit_scale", nil, [])
        add("attn_mask", nil, [positions, positions])
        return out
    }

    /// Every tensor of the checkpoint.
    var all: [LDMTensor] { unet + vae + textEncoder }

    /// Writes the checkpoint with random F16 data (plus `extra` tensors) and returns its URL.
    func write(to folder: TemporaryDirectory, name: String = "model.safetensors", extra: [StoredTensor] = []) throws -> URL {
        var generator = SplitMix(seed: 42)
        let tensors = all.map { StoredTensor.random($0.ldmKey, $0.shape, dtype: "F16", generator: &generator).0 }
        return try folder.write(SafeTensorsWriter.encode(tensors + extra), to: name)
    }
}
