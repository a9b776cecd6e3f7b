/// Key mapping from CompVis/LDM single-file checkpoints to diffusers names, for the UNet and the VAE.
///
/// Matches: diffusers `convert_ldm_unet_checkpoint` / `convert_ldm_vae_checkpoint` (loaders/single_file_utils.py,
/// diffusers 0.42.1). Block indices are not hard-coded: `UNetLayout` and `VAELayout` derive the block count and
/// layers per block from the keys and supply the index transforms the tables refer to.
public enum CompVisToDiffusers {
    /// Prefix of UNet tensors in an LDM checkpoint.
    public static let unetPrefix = "model.diffusion_model."
    /// Prefix of VAE tensors in an LDM checkpoint.
    public static let vaePrefix = "first_stage_model."

    /// LDM `ResBlock` children → diffusers `ResnetBlock2D` children.
    static let unetResnetRenames: [KeyRename] = [
        KeyRename("in_layers.0", "norm1"),
        KeyRename("in_layers.2", "conv1"),
        KeyRename("emb_layers.1", "time_emb_proj"),
        KeyRename("out_layers.0", "norm2"),
        KeyRename("out_layers.3", "conv2"),
        KeyRename("skip_connection", "conv_shortcut"),
    ]

    /// UNet rules, relative to `model.diffusion_model.`. Attention (`SpatialTransformer`) children already
    /// carry diffusers names (`norm`, `proj_in`, `transformer_blocks.0.attn1.to_q`, …) and pass through.
    public static let unet = KeyMappingTable([
        KeyRule("time_embed.0", .rename("time_embedding.linear_1")),
        KeyRule("time_embed.2", .rename("time_embedding.linear_2")),
        KeyRule("input_blocks.0.0", .rename("conv_in")),
        KeyRule("input_blocks.{n:downsampler}.0.op", .rename("down_blocks.{n:downsampler}.downsamplers.0.conv")),
        KeyRule("input_blocks.{n}.0", .rename("down_blocks.{n:inBlock}.resnets.{n:inLayer}"), renames: unetResnetRenames),
        KeyRule("input_blocks.{n}.1", .rename("down_blocks.{n:inBlock}.attentions.{n:inLayer}")),
        KeyRule("middle_block.0", .rename("mid_block.resnets.0"), renames: unetResnetRenames),
        KeyRule("middle_block.1", .rename("mid_block.attentions.0")),
        KeyRule("middle_block.2", .rename("mid_block.resnets.1"), renames: unetResnetRenames),
        KeyRule("output_blocks.{n}.0", .rename("up_blocks.{n:outBlock}.resnets.{n:outLayer}"), renames: unetResnetRenames),
        // An upsampler sits at slot 1 when the up block has no attention, else at slot 2.
        KeyRule("output_blocks.{n:upsampler}.1.conv", .rename("up_blocks.{n:upsampler}.upsamplers.0.conv")),
        KeyRule("output_blocks.{n:upsampler}.2.conv", .rename("up_blocks.{n:upsampler}.upsamplers.0.conv")),
        KeyRule("output_blocks.{n}.1", .rename("up_blocks.{n:outBlock}.attentions.{n:outLayer}")),
        KeyRule("out.0", .rename("conv_norm_out")),
        KeyRule("out.2", .rename("conv_out")),
    ])

    static let vaeResnetRenames: [KeyRename] = [KeyRename("nin_shortcut", "conv_shortcut")]
    static let vaeAttentionRenames: [KeyRename] = [
        KeyRename("norm", "group_norm"),
        KeyRename("q", "to_q"),
        KeyRename("k", "to_k"),
        KeyRename("v", "to_v"),
        KeyRename("proj_out", "to_out.0"),
    ]

    /// VAE rules, relative to `first_stage_model.`. LDM numbers decoder `up.N` from the lowest resolution's
    /// opposite end, so `{n:upBlock}` reverses the index.
    public static let vae = KeyMappingTable([
        KeyRule("encoder.conv_in", .rename("encoder.conv_in")),
        KeyRule("encoder.down.{n}.block.{m}", .rename("encoder.down_blocks.{n}.resnets.{m}"), renames: vaeResnetRenames),
        KeyRule("encoder.down.{n}.downsample.conv", .rename("encoder.down_blocks.{n}.downsamplers.0.conv")),
        KeyRule("encoder.mid.block_1", .rename("encoder.mid_block.resnets.0"), renames: vaeResnetRenames),
        KeyRule("encoder.mid.attn_1", .renameSqueezingConv1x1("encoder.mid_block.attentions.0"), renames: vaeAttentionRenames),
        KeyRule("encoder.mid.block_2", .rename("encoder.mid_block.resnets.1"), renames: vaeResnetRenames),
        KeyRule("encoder.norm_out", .rename("encoder.conv_norm_out")),
        KeyRule("encoder.conv_out", .rename("encoder.conv_out")),
        KeyRule("decoder.conv_in", .rename("decoder.conv_in")),
        KeyRule("decoder.mid.block_1", .rename("decoder.mid_block.resnets.0"), renames: vaeResnetRenames),
        KeyRule("decoder.mid.attn_1", .renameSqueezingConv1x1("decoder.mid_block.attentions.0"), renames: vaeAttentionRenames),
        KeyRule("decoder.mid.block_2", .rename("decoder.mid_block.resnets.1"), renames: vaeResnetRenames),
        KeyRule("decoder.up.{n:upBlock}.block.{m}", .rename("decoder.up_blocks.{n:upBlock}.resnets.{m}"), renames: vaeResnetRenames),
        KeyRule("decoder.up.{n:upBlock}.upsample.conv", .rename("decoder.up_blocks.{n:upBlock}.upsamplers.0.conv")),
        KeyRule("decoder.norm_out", .rename("decoder.conv_norm_out")),
        KeyRule("decoder.conv_out", .rename("decoder.conv_out")),
        KeyRule("quant_conv", .rename("quant_conv")),
        KeyRule("post_quant_conv", .rename("post_quant_conv")),
    ])

    /// The block structure of an LDM UNet, read from its keys.
    public struct UNetLayout: Sendable, Equatable {
        /// Number of down (and up) blocks, e.g. 4 for SD 1.x.
        public let blockCount: Int
        /// Resnets per down block (up blocks have one more), e.g. 2.
        public let layersPerBlock: Int

        /// Creates a layout directly.
        public init(blockCount: Int, layersPerBlock: Int) {
            self.blockCount = blockCount
            self.layersPerBlock = layersPerBlock
        }

        /// Derives the layout from UNet keys relative to `model.diffusion_model.`.
        ///
        /// Downsamplers (`input_blocks.N.0.op`) sit at the end of every block but the last, so their count
        /// gives the blocks; `input_blocks` holds `conv_in` plus `blockCount · (layersPerBlock + 1) - 1` entries.
        /// - Throws: `WeightsError.unknownArchitecture` when the indices do not form such a layout.
        public init(keys: some Sequence<String>, path: String) throws {
            var inputs = Set<Int>(), outputs = Set<Int>(), downsamplers = Set<Int>()
            for key in keys {
                let parts = key.split(separator: ".")
                guard parts.count >= 3, let index = Int(parts[1]) else { continue }
                if parts[0] == "input_blocks" {
                    inputs.insert(index)
                    if parts.count >= 4, parts[2] == "0", parts[3] == "op" { downsamplers.insert(index) }
                } else if parts[0] == "output_blocks" {
                    outputs.insert(index)
                }
            }
            func fail(_ reason: String) -> WeightsError { .unknownArchitecture(path: path, reason: reason) }
            guard let maxInput = inputs.max(), maxInput >= 1 else { throw fail("the UNet has no input_blocks") }
            let blockCount = downsamplers.count + 1
            let inputCount = maxInput + 1
            guard inputCount % blockCount == 0, inputCount / blockCount >= 2 else {
                throw fail("\(inputCount) UNet input_blocks do not divide into \(blockCount) blocks")
            }
            let layersPerBlock = inputCount / blockCount - 1
            guard outputs.count == blockCount * (layersPerBlock + 1), outputs.max() == outputs.count - 1 else {
                throw fail("UNet has \(outputs.count) output_blocks, expected \(blockCount * (layersPerBlock + 1)) "
                    + "for \(blockCount) blocks of \(layersPerBlock) layers")
            }
            self.init(blockCount: blockCount, layersPerBlock: layersPerBlock)
        }

        /// The index transforms `CompVisToDiffusers.unet` refers to.
        public var transforms: [String: IndexTransform] {
            let slots = layersPerBlock + 1, layers = layersPerBlock, blocks = blockCount
            return [
                "inBlock": { n in n >= 1 && (n - 1) / slots < blocks ? (n - 1) / slots : nil },
                "inLayer": { n in n >= 1 && (n - 1) % slots < layers ? (n - 1) % slots : nil },
                "downsampler": { n in
                    n >= 1 && (n - 1) % slots == layers && (n - 1) / slots < blocks - 1 ? (n - 1) / slots : nil
                },
                "outBlock": { n in n / slots < blocks ? n / slots : nil },
                "outLayer": { n in n / slots < blocks ? n % slots : nil },
                "upsampler": { n in n % slots == layers && n / slots < blocks - 1 ? n / slots : nil },
            ]
        }
    }

    /// The block structure of an LDM VAE, read from its keys.
    public struct VAELayout: Sendable, Equatable {
        /// Number of decoder up blocks.
        public let upBlockCount: Int

        /// Creates a layout directly.
        public init(upBlockCount: Int) {
            self.upBlockCount = upBlockCount
        }

        /// Derives the layout from VAE keys relative to `first_stage_model.`.
        public init(keys: some Sequence<String>) {
            var ups = Set<Int>()
            for key in keys {
                let parts = key.split(separator: ".")
                if parts.count >= 3, parts[0] == "decoder", parts[1] == "up", let index = Int(parts[2]) {
                    ups.insert(index)
                }
            }
            self.init(upBlockCount: (ups.max() ?? -1) + 1)
        }

        /// The index transforms `CompVisToDiffusers.vae` refers to.
        public var transforms: [String: IndexTransform] {
            let count = upBlockCount
            return ["upBlock": { n in n < count ? count - 1 - n : nil }]
        }
    }
}
