import LatentCore
import LatentWeights

/// The VAE's single-head self-attention over all pixels, with its own GroupNorm and residual.
///
/// Matches: diffusers `Attention` as built by `UNetMidBlock2D` in the VAE (heads = 1, q/k/v biases,
/// `residual_connection=True`, `rescale_output_factor=1`).
struct VAEAttentionBlock: Sendable {
    let norm: GroupNorm
    let attention: Attention

    init(_ scope: WeightScope, channels: Int, groups: Int) throws {
        norm = try GroupNorm(scope.scoped("group_norm"), groups: groups, channels: channels, epsilon: 1e-6)
        attention = try Attention(scope, queryDimension: channels, heads: 1, innerDimension: channels, projectionBias: true)
    }

    /// `[B, C, H, W] → [B, C, H, W]`
    func callAsFunction(_ x: Tensor) -> Tensor {
        ProcessMemory.releaseScratchBuffers()  // as in Transformer2DModel: not next to attention's temporaries
        let (height, width) = (x.shape[2], x.shape[3])
        let tokens = channelsToTokens(norm(x))  // [B, H·W, C]
        var out = tokensToChannels(attention(tokens), height: height, width: width)
        out.add(x)
        return out
    }
}

/// The VAE's bottleneck: ResNet, attention, ResNet (no time embedding).
///
/// Matches: diffusers `UNetMidBlock2D` (models/unets/unet_2d_blocks.py, diffusers 0.42.1) as the VAE uses it.
struct VAEMidBlock: Sendable {
    let resnet1: ResnetBlock2D
    let attention: VAEAttentionBlock?
    let resnet2: ResnetBlock2D

    init(_ scope: WeightScope, channels: Int, groups: Int, addsAttention: Bool) throws {
        resnet1 = try ResnetBlock2D(scope.scoped("resnets.0"), inChannels: channels, outChannels: channels, timeEmbeddingChannels: nil, groups: groups, epsilon: 1e-6)
        attention = addsAttention ? try VAEAttentionBlock(scope.scoped("attentions.0"), channels: channels, groups: groups) : nil
        resnet2 = try ResnetBlock2D(scope.scoped("resnets.1"), inChannels: channels, outChannels: channels, timeEmbeddingChannels: nil, groups: groups, epsilon: 1e-6)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = resnet1(x)
        if let attention { h = attention(h) }
        return resnet2(h)
    }
}

/// Image → latent moments.
///
/// Matches: diffusers `Encoder` (models/autoencoders/vae.py, diffusers 0.42.1) with `DownEncoderBlock2D`s.
struct VAEEncoder: Sendable {
    let convIn: Conv2D
    let levels: [(resnets: [ResnetBlock2D], downsampler: Downsample2D?)]
    let mid: VAEMidBlock
    let normOut: GroupNorm
    let convOut: Conv2D

    init(_ scope: WeightScope, configuration c: AutoencoderKLConfiguration) throws {
        let channels = c.blockOutChannels, groups = c.normNumGroups
        convIn = try Conv2D(scope.scoped("conv_in"), inChannels: c.inChannels, outChannels: channels[0], kernelSize: 3)
        var levels: [(resnets: [ResnetBlock2D], downsampler: Downsample2D?)] = []
        var outChannels = channels[0]
        for i in channels.indices {
            let inChannels = outChannels
            outChannels = channels[i]
            let block = scope.scoped("down_blocks.\(i)")
            let resnets = try (0..<c.layersPerBlock).map {
                try ResnetBlock2D(block.scoped("resnets.\($0)"), inChannels: $0 == 0 ? inChannels : outChannels, outChannels: outChannels, timeEmbeddingChannels: nil, groups: groups, epsilon: 1e-6)
            }
            let downsampler = i < channels.count - 1
                ? try Downsample2D(block.scoped("downsamplers.0"), channels: outChannels, asymmetricPadding: true)
                : nil
            levels.append((resnets, downsampler))
        }
        self.levels = levels
        mid = try VAEMidBlock(scope.scoped("mid_block"), channels: outChannels, groups: groups, addsAttention: c.midBlockAddAttention)
        normOut = try GroupNorm(scope.scoped("conv_norm_out"), groups: groups, channels: outChannels, epsilon: 1e-6)
        convOut = try Conv2D(scope.scoped("conv_out"), inChannels: outChannels, outChannels: 2 * c.latentChannels, kernelSize: 3)
    }

    /// `[B, 3, H, W] → [B, 2L, H/8, W/8]`
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = convIn(x)
        for level in levels {
            for resnet in level.resnets { h = resnet(h) }
            if let downsampler = level.downsampler { h = downsampler(h) }
        }
        return convOut(normOut(mid(h), silu: true))
    }
}

/// Latents → image.
///
/// Matches: diffusers `Decoder` (models/autoencoders/vae.py, diffusers 0.42.1) with `UpDecoderBlock2D`s.
struct VAEDecoder: Sendable {
    let convIn: Conv2D
    let mid: VAEMidBlock
    let levels: [(resnets: [ResnetBlock2D], upsampler: Upsample2D?)]
    let normOut: GroupNorm
    let convOut: Conv2D

    init(_ scope: WeightScope, configuration c: AutoencoderKLConfiguration) throws {
        let reversed = Array(c.blockOutChannels.reversed()), groups = c.normNumGroups
        convIn = try Conv2D(scope.scoped("conv_in"), inChannels: c.latentChannels, outChannels: reversed[0], kernelSize: 3)
        mid = try VAEMidBlock(scope.scoped("mid_block"), channels: reversed[0], groups: groups, addsAttention: c.midBlockAddAttention)
        var levels: [(resnets: [ResnetBlock2D], upsampler: Upsample2D?)] = []
        var outChannels = reversed[0]
        for i in reversed.indices {
            let inChannels = outChannels
            outChannels = reversed[i]
            let block = scope.scoped("up_blocks.\(i)")
            let resnets = try (0...c.layersPerBlock).map {
                try ResnetBlock2D(block.scoped("resnets.\($0)"), inChannels: $0 == 0 ? inChannels : outChannels, outChannels: outChannels, timeEmbeddingChannels: nil, groups: groups, epsilon: 1e-6)
            }
            let upsampler = i < reversed.count - 1 ? try Upsample2D(block.scoped("upsamplers.0"), channels: outChannels) : nil
            levels.append((resnets, upsampler))
        }
        self.levels = levels
        normOut = try GroupNorm(scope.scoped("conv_norm_out"), groups: groups, channels: outChannels, epsilon: 1e-6)
        convOut = try Conv2D(scope.scoped("conv_out"), inChannels: outChannels, outChannels: c.outChannels, kernelSize: 3)
    }

    /// `[B, L, h, w] → [B, 3, 8h, 8w]`
    func callAsFunction(_ z: Tensor) -> Tensor {
        var h = mid(convIn(z))
        ProcessMemory.trace("vae mid")
        for (i, level) in levels.enumerated() {
            for resnet in level.resnets { h = resnet(h) }
            if let upsampler = level.upsampler { h = upsampler(h) }
            ProcessMemory.trace("vae up \(i)")
        }
        return convOut(normOut(h, silu: true))
    }
}
