import Foundation
import Testing
@testable import LatentWeights

@Suite("Key mapping tables")
struct KeyMappingTests {
    private func relative(_ key: String, _ prefix: String) -> String { String(key.dropFirst(prefix.count)) }

    /// Maps every fixture tensor and returns the ones whose result differs from the expectation.
    private func mismatches(
        _ tensors: [LDMTensor], table: KeyMappingTable, prefix: String, transforms: [String: IndexTransform]
    ) -> [String] {
        tensors.compactMap { tensor in
            let result = table.map(relative(tensor.ldmKey, prefix), sourceKey: tensor.ldmKey, shape: tensor.shape,
                                   transforms: transforms)
            let expected: KeyMappingResult = tensor.expected.isEmpty ? .dropped : .mapped(tensor.expected)
            return result == expected ? nil : "\(tensor.ldmKey): got \(result), expected \(expected)"
        }
    }

    struct UNetCase: CustomTestStringConvertible, Sendable {
        let channels: [Int]
        let layersPerBlock: Int
        let attention: [Bool]
        let linear: Bool
        var testDescription: String { "\(channels.count) blocks × \(layersPerBlock), attention \(attention)" }
    }

    static let unetCases = [
        UNetCase(channels: [32, 64, 128, 128], layersPerBlock: 2, attention: [true, true, true, false], linear: false),
        UNetCase(channels: [32, 64, 96], layersPerBlock: 3, attention: [false, true, true], linear: true),
        UNetCase(channels: [32, 64], layersPerBlock: 1, attention: [true, false], linear: false),
        UNetCase(channels: [32], layersPerBlock: 1, attention: [true], linear: true),
    ]

    @Test("UNet: any block count and layers per block", arguments: unetCases)
    func unet(_ config: UNetCase) throws {
        var fixture = LDMFixture()
        fixture.blockChannels = config.channels
        fixture.layersPerBlock = config.layersPerBlock
        fixture.downAttention = config.attention
        fixture.linearProjection = config.linear
        let tensors = fixture.unet
        let prefix = CompVisToDiffusers.unetPrefix
        let layout = try CompVisToDiffusers.UNetLayout(keys: tensors.map { relative($0.ldmKey, prefix) }, path: "test")
        #expect(layout == CompVisToDiffusers.UNetLayout(blockCount: config.channels.count, layersPerBlock: config.layersPerBlock))
        #expect(mismatches(tensors, table: CompVisToDiffusers.unet, prefix: prefix, transforms: layout.transforms) == [])
    }

    @Test("UNet: spot checks of the SD 1.5 layout")
    func unetSpotChecks() {
        let transforms = CompVisToDiffusers.UNetLayout(blockCount: 4, layersPerBlock: 2).transforms
        let cases: [(String, String)] = [
            ("input_blocks.0.0.weight", "conv_in.weight"),
            ("input_blocks.4.0.skip_connection.weight", "down_blocks.1.resnets.0.conv_shortcut.weight"),
            ("input_blocks.5.1.transformer_blocks.0.attn2.to_k.weight", "down_blocks.1.attentions.1.transformer_blocks.0.attn2.to_k.weight"),
            ("input_blocks.9.0.op.weight", "down_blocks.2.downsamplers.0.conv.weight"),
            ("input_blocks.11.0.emb_layers.1.bias", "down_blocks.3.resnets.1.time_emb_proj.bias"),
            ("middle_block.2.out_layers.3.weight", "mid_block.resnets.1.conv2.weight"),
            ("output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"),
            ("output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"),
            ("output_blocks.5.1.proj_in.weight", "up_blocks.1.attentions.2.proj_in.weight"),
            ("output_blocks.11.0.in_layers.2.weight", "up_blocks.3.resnets.2.conv1.weight"),
            ("time_embed.2.bias", "time_embedding.linear_2.bias"),
            ("out.0.weight", "conv_norm_out.weight"),
            ("out.2.bias", "conv_out.bias"),
        ]
        for (ldm, diffusers) in cases {
            #expect(CompVisToDiffusers.unet.map(ldm, shape: [1], transforms: transforms)
                == .mapped([MappedKey(diffusers, .identity(ldm))]), "\(ldm)")
        }
        // Unknown names, out-of-range indices and non-canonical numbers are left for strict loading to report.
        for ldm in ["label_emb.0.0.weight", "input_blocks.12.0.in_layers.0.weight",
                    "input_blocks.3.0.in_layers.0.weight", "out.01.weight", "input_blocks.01.0.op.weight", "out"] {
            #expect(CompVisToDiffusers.unet.map(ldm, shape: [1], transforms: transforms) == .unmatched, "\(ldm)")
        }
    }

    @Test("UNet layout errors name the inconsistency")
    func unetLayoutErrors() {
        let keys = ["input_blocks.0.0.weight", "input_blocks.1.0.in_layers.0.weight", "input_blocks.2.0.op.weight",
                    "input_blocks.3.0.in_layers.0.weight", "output_blocks.0.0.in_layers.0.weight"]
        #expect(weightsError { _ = try CompVisToDiffusers.UNetLayout(keys: keys, path: "x.safetensors") }?.description
            == "unknown checkpoint architecture in x.safetensors: UNet has 1 output_blocks, expected 4 for 2 blocks of 1 layers")
        #expect(weightsError { _ = try CompVisToDiffusers.UNetLayout(keys: ["out.0.weight"], path: "y") }
            == .unknownArchitecture(path: "y", reason: "the UNet has no input_blocks"))
    }

    @Test("VAE: reversed up blocks, 1×1 attention convs become linear", arguments: [([32, 64], 1), ([32, 64, 128, 128], 2)])
    func vae(_ channels: [Int], _ layers: Int) {
        var fixture = LDMFixture()
        fixture.vaeChannels = channels
        fixture.vaeLayersPerBlock = layers
        let tensors = fixture.vae
        let prefix = CompVisToDiffusers.vaePrefix
        let layout = CompVisToDiffusers.VAELayout(keys: tensors.map { relative($0.ldmKey, prefix) })
        #expect(layout.upBlockCount == channels.count)
        #expect(mismatches(tensors, table: CompVisToDiffusers.vae, prefix: prefix, transforms: layout.transforms) == [])
        #expect(CompVisToDiffusers.vae.map("decoder.up.5.block.0.conv1.weight", shape: [1], transforms: layout.transforms) == .unmatched)
    }

    @Test("OpenCLIP: fused q/k/v split, last resblock and projection dropped")
    func openCLIP() {
        var fixture = LDMFixture()
        fixture.openCLIP = true
        fixture.clipLayers = 4
        let tensors = fixture.textEncoder
        let prefix = OpenCLIPToHF.prefix
        let count = OpenCLIPToHF.resblockCount(keys: tensors.map { relative($0.ldmKey, prefix) })
        #expect(count == 4)
        let transforms = OpenCLIPToHF.transforms(resblockCount: count)
        #expect(mismatches(tensors, table: OpenCLIPToHF.table, prefix: prefix, transforms: transforms) == [])
        // A fused projection whose rows do not split in three is not silently mangled.
        #expect(OpenCLIPToHF.table.map("transformer.resblocks.0.attn.in_proj_weight", shape: [10, 4], transforms: transforms)
            == .unmatched)
    }

    @Test("CLIP text keys gain text_model. and lose position_ids")
    func clipText() {
        #expect(CLIPTextKeys.normalized("encoder.layers.0.mlp.fc1.weight") == "text_model.encoder.layers.0.mlp.fc1.weight")
        #expect(CLIPTextKeys.normalized("text_model.final_layer_norm.bias") == "text_model.final_layer_norm.bias")
        #expect(CLIPTextKeys.normalized("embeddings.position_ids") == nil)
        #expect(CLIPTextKeys.normalized("text_model.embeddings.position_ids") == nil)
    }

    @Test("pattern matching respects segment boundaries and guards")
    func patterns() {
        let table = KeyMappingTable([
            KeyRule("a.{n:even}.b", .rename("even.{n:half}")),
            KeyRule("a.{n}.b", .rename("any.{n}"), renames: [KeyRename("x.y", "z")]),
            KeyRule("drop", .drop),
        ])
        let transforms: [String: IndexTransform] = ["even": { $0 % 2 == 0 ? $0 : nil }, "half": { $0 / 2 }]
        #expect(table.map("a.4.b.w", shape: nil, transforms: transforms) == .mapped([MappedKey("even.2.w", .identity("a.4.b.w"))]))
        #expect(table.map("a.3.b.x.y.w", shape: nil, transforms: transforms) == .mapped([MappedKey("any.3.z.w", .identity("a.3.b.x.y.w"))]))
        #expect(table.map("a.3.b.x.yy", shape: nil, transforms: transforms) == .mapped([MappedKey("any.3.x.yy", .identity("a.3.b.x.yy"))]))
        #expect(table.map("a.3.bb", shape: nil, transforms: transforms) == .unmatched)
        #expect(table.map("a.-1.b", shape: nil, transforms: transforms) == .unmatched)
        #expect(table.map("drop.anything", shape: nil, transforms: transforms) == .dropped)
        #expect(table.map("dropped", shape: nil, transforms: transforms) == .unmatched)
    }
}
