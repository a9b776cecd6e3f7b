import LatentCore
import LatentWeights

/// The noise-prediction network of Stable Diffusion 1.x/2.x.
///
/// Matches: diffusers `UNet2DConditionModel` (models/unets/unet_2d_condition.py, diffusers 0.42.1) for the
/// options SD 1.x/2.x checkpoints use (see `UNet2DConditionConfiguration.validate()`), with 4 or 9 input
/// channels (inpainting models concatenate mask and masked-image latents).
public struct UNet2DConditionModel: Sendable {
    public let configuration: UNet2DConditionConfiguration
    let convIn: Conv2D
    let timeEmbedding: TimestepEmbedding
    let downBlocks: [UNetDownBlock]
    let midBlock: UNetMidBlock2DCrossAttn
    let upBlocks: [UNetUpBlock]
    let normOut: GroupNorm
    let convOut: Conv2D

    /// Builds the network, loading and shape-checking every weight.
    /// - Parameters:
    ///   - configuration: The architecture (from `unet/config.json`).
    ///   - weights: A scope holding diffusers-named UNet tensors (`conv_in.weight`, `down_blocks.0…`).
    /// - Throws: `ModelConfigurationError` for unsupported options; `WeightsError` naming a missing or
    ///   mis-shaped tensor.
    public init(configuration: UNet2DConditionConfiguration, weights: WeightScope) throws {
        try configuration.validate()
        self.configuration = configuration
        let c = configuration
        let channels = c.blockOutChannels
        let timeChannels = channels[0] * 4
        convIn = try Conv2D(weights.scoped("conv_in"), inChannels: c.inChannels, outChannels: channels[0], kernelSize: 3)
        timeEmbedding = try TimestepEmbedding(weights.scoped("time_embedding"), inChannels: channels[0], embeddingChannels: timeChannels)

        var down: [UNetDownBlock] = []
        var outChannels = channels[0]
        for (i, type) in c.downBlockTypes.enumerated() {
            let inChannels = outChannels
            outChannels = channels[i]
            down.append(try UNetDownBlock(
                weights.scoped("down_blocks.\(i)"), inChannels: inChannels, outChannels: outChannels,
                timeChannels: timeChannels, layers: c.layersPerBlock, hasAttention: type == "CrossAttnDownBlock2D",
                heads: c.heads(forBlock: i), transformerLayers: c.transformerLayersPerBlock.value(at: i), configuration: c,
                addsDownsampler: i < channels.count - 1))
        }
        downBlocks = down

        let last = channels.count - 1
        midBlock = try UNetMidBlock2DCrossAttn(
            weights.scoped("mid_block"), channels: channels[last], timeChannels: timeChannels,
            heads: c.heads(forBlock: last), transformerLayers: c.transformerLayersPerBlock.value(at: last), configuration: c)

        // The decoder walks the levels deepest first; per-block lists are read reversed.
        let reversedChannels = Array(channels.reversed())
        var up: [UNetUpBlock] = []
        var previousChannels = reversedChannels[0]
        for (i, type) in c.upBlockTypes.enumerated() {
            let level = last - i
            up.append(try UNetUpBlock(
                weights.scoped("up_blocks.\(i)"), inChannels: reversedChannels[min(i + 1, last)],
                outChannels: reversedChannels[i], previousChannels: previousChannels, timeChannels: timeChannels,
                layers: c.layersPerBlock, hasAttention: type == "CrossAttnUpBlock2D", heads: c.heads(forBlock: level),
                transformerLayers: c.transformerLayersPerBlock.value(at: level), configuration: c,
                addsUpsampler: i < last))
            previousChannels = reversedChannels[i]
        }
        upBlocks = up
        normOut = try GroupNorm(weights.scoped("conv_norm_out"), groups: c.normNumGroups, channels: channels[0], epsilon: c.normEps)
        convOut = try Conv2D(weights.scoped("conv_out"), inChannels: channels[0], outChannels: c.outChannels, kernelSize: 3)
    }

    /// Predicts noise (or v, or x₀ — whatever the model was trained on) for a batch of latents.
    /// - Parameters:
    ///   - sample: `[B, inChannels, h, w]` noisy latents (already scaled by the scheduler).
    ///   - timesteps: One timestep per batch item (items may be at different steps).
    ///   - context: `[B, 77, crossAttentionDim]` text embeddings.
    /// - Returns: `[B, outChannels, h, w]`
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], context: Tensor) -> Tensor {
        precondition(sample.rank == 4 && sample.shape[1] == configuration.inChannels,
                     "UNet expects [B, \(configuration.inChannels), h, w], got \(sample.shape)")
        precondition(timesteps.count == sample.shape[0], "one timestep per batch item")
        precondition(context.shape[0] == sample.shape[0] && context.shape.last == configuration.crossAttentionDim,
                     "context \(context.shape) does not fit batch \(sample.shape[0]) × \(configuration.crossAttentionDim)")
        let features = timestepEmbedding(
            timesteps, dimension: configuration.blockOutChannels[0], flipSinToCos: configuration.flipSinToCos,
            downscaleFrequencyShift: Float(configuration.freqShift))  // [B, C0]
        // Every ResNet applies SiLU to the embedding before its projection: do it once.
        let temb = silu(timeEmbedding(features))  // [B, 4·C0]

        var h = convIn(sample)  // [B, C0, h, w]
        var skips = [h]
        for (i, block) in downBlocks.enumerated() {
            h = block(h, timeEmbedding: temb, context: context, skips: &skips)
            ProcessMemory.trace("unet down \(i)")
        }
        h = midBlock(h, timeEmbedding: temb, context: context)
        ProcessMemory.trace("unet mid")
        for (i, block) in upBlocks.enumerated() {
            h = block(h, timeEmbedding: temb, context: context, skips: &skips)
            ProcessMemory.trace("unet up \(i)")
        }
        return convOut(normOut(h, silu: true))  // [B, out, h, w]
    }
}
