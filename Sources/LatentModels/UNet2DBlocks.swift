import LatentCore
import LatentWeights

/// One resolution level of the UNet's encoder: ResNets, optional spatial transformers, optional downsampler.
///
/// Matches: diffusers `CrossAttnDownBlock2D` (with attentions) and `DownBlock2D` (without)
/// (models/unets/unet_2d_blocks.py, diffusers 0.42.1).
struct UNetDownBlock: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let downsampler: Downsample2D?

    init(
        _ scope: WeightScope, inChannels: Int, outChannels: Int, timeChannels: Int, layers: Int, hasAttention: Bool,
        heads: Int, transformerLayers: Int, configuration c: UNet2DConditionConfiguration, addsDownsampler: Bool
    ) throws {
        resnets = try (0..<layers).map {
            try ResnetBlock2D(
                scope.scoped("resnets.\($0)"), inChannels: $0 == 0 ? inChannels : outChannels, outChannels: outChannels,
                timeEmbeddingChannels: timeChannels, groups: c.normNumGroups, epsilon: c.normEps)
        }
        attentions = hasAttention
            ? try (0..<layers).map {
                try Transformer2DModel(
                    scope.scoped("attentions.\($0)"), channels: outChannels, heads: heads,
                    contextDimension: c.crossAttentionDim, layers: transformerLayers, groups: c.normNumGroups,
                    usesLinearProjection: c.useLinearProjection)
            }
            : []
        downsampler = addsDownsampler
            ? try Downsample2D(scope.scoped("downsamplers.0"), channels: outChannels, asymmetricPadding: false)
            : nil
    }

    /// Runs the block and appends every intermediate state to `skips` for the decoder.
    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor, context: Tensor, skips: inout [Tensor]) -> Tensor {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            h = resnet(h, timeEmbedding: timeEmbedding)
            if !attentions.isEmpty { h = attentions[i](h, context: context) }
            skips.append(h)
        }
        if let downsampler {
            h = downsampler(h)
            skips.append(h)
        }
        return h
    }
}

/// One resolution level of the UNet's decoder, consuming skip connections.
///
/// Matches: diffusers `CrossAttnUpBlock2D` and `UpBlock2D` (models/unets/unet_2d_blocks.py, diffusers 0.42.1).
struct UNetUpBlock: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let upsampler: Upsample2D?

    /// - Parameters:
    ///   - inChannels: Channels of the deepest skip this block consumes (the next-lower level's width).
    ///   - previousChannels: Channels of the incoming hidden state.
    init(
        _ scope: WeightScope, inChannels: Int, outChannels: Int, previousChannels: Int, timeChannels: Int, layers: Int,
        hasAttention: Bool, heads: Int, transformerLayers: Int, configuration c: UNet2DConditionConfiguration,
        addsUpsampler: Bool
    ) throws {
        resnets = try (0...layers).map { j in
            let skipChannels = j == layers ? inChannels : outChannels
            let hiddenChannels = j == 0 ? previousChannels : outChannels
            return try ResnetBlock2D(
                scope.scoped("resnets.\(j)"), inChannels: hiddenChannels + skipChannels, outChannels: outChannels,
                timeEmbeddingChannels: timeChannels, groups: c.normNumGroups, epsilon: c.normEps)
        }
        attentions = hasAttention
            ? try (0...layers).map {
                try Transformer2DModel(
                    scope.scoped("attentions.\($0)"), channels: outChannels, heads: heads,
                    contextDimension: c.crossAttentionDim, layers: transformerLayers, groups: c.normNumGroups,
                    usesLinearProjection: c.useLinearProjection)
            }
            : []
        upsampler = addsUpsampler ? try Upsample2D(scope.scoped("upsamplers.0"), channels: outChannels) : nil
    }

    /// Pops one skip per ResNet from the end of `skips`; the upsampler matches the size of the next skip so
    /// latents that are not a multiple of the total downscale come back to their exact size.
    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor, context: Tensor, skips: inout [Tensor]) -> Tensor {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            guard let skip = skips.popLast() else { preconditionFailure("UNet skip stack exhausted") }
            h = resnet(concatChannels([h, skip]), timeEmbedding: timeEmbedding)  // [B, Cprev + Cskip, H, W] → [B, Cout, H, W]
            if !attentions.isEmpty { h = attentions[i](h, context: context) }
        }
        if let upsampler {
            let size = skips.last.map { ($0.shape[2], $0.shape[3]) }
            h = upsampler(h, size: size)
        }
        return h
    }
}

/// The UNet's bottleneck: ResNet, spatial transformer, ResNet.
///
/// Matches: diffusers `UNetMidBlock2DCrossAttn` (models/unets/unet_2d_blocks.py, diffusers 0.42.1).
struct UNetMidBlock2DCrossAttn: Sendable {
    let resnet1: ResnetBlock2D
    let attention: Transformer2DModel
    let resnet2: ResnetBlock2D

    init(
        _ scope: WeightScope, channels: Int, timeChannels: Int, heads: Int, transformerLayers: Int,
        configuration c: UNet2DConditionConfiguration
    ) throws {
        resnet1 = try ResnetBlock2D(
            scope.scoped("resnets.0"), inChannels: channels, outChannels: channels, timeEmbeddingChannels: timeChannels,
            groups: c.normNumGroups, epsilon: c.normEps)
        attention = try Transformer2DModel(
            scope.scoped("attentions.0"), channels: channels, heads: heads, contextDimension: c.crossAttentionDim,
            layers: transformerLayers, groups: c.normNumGroups, usesLinearProjection: c.useLinearProjection)
        resnet2 = try ResnetBlock2D(
            scope.scoped("resnets.1"), inChannels: channels, outChannels: channels, timeEmbeddingChannels: timeChannels,
            groups: c.normNumGroups, epsilon: c.normEps)
    }

    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor, context: Tensor) -> Tensor {
        resnet2(attention(resnet1(x, timeEmbedding: timeEmbedding), context: context), timeEmbedding: timeEmbedding)
    }
}
