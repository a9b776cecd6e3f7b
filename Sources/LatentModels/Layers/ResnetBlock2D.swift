import LatentCore
import LatentWeights

/// The residual block of the UNet and the VAE.
///
/// Matches: diffusers `ResnetBlock2D` (models/resnet.py, diffusers 0.42.1) with
/// `time_embedding_norm="default"` and `output_scale_factor=1`.
public struct ResnetBlock2D: Sendable {
    let norm1: GroupNorm
    let conv1: Conv2D
    let timeEmbeddingProjection: Linear?
    let norm2: GroupNorm
    let conv2: Conv2D
    let shortcut: Conv2D?

    /// - Parameters:
    ///   - timeEmbeddingChannels: Width of the time embedding, or `nil` for the VAE's blocks.
    public init(
        _ scope: WeightScope, inChannels: Int, outChannels: Int, timeEmbeddingChannels: Int?, groups: Int, epsilon: Float
    ) throws {
        norm1 = try GroupNorm(scope.scoped("norm1"), groups: groups, channels: inChannels, epsilon: epsilon)
        conv1 = try Conv2D(scope.scoped("conv1"), inChannels: inChannels, outChannels: outChannels, kernelSize: 3)
        timeEmbeddingProjection = try timeEmbeddingChannels.map {
            try Linear(scope.scoped("time_emb_proj"), inFeatures: $0, outFeatures: outChannels)
        }
        norm2 = try GroupNorm(scope.scoped("norm2"), groups: groups, channels: outChannels, epsilon: epsilon)
        conv2 = try Conv2D(scope.scoped("conv2"), inChannels: outChannels, outChannels: outChannels, kernelSize: 3)
        shortcut = inChannels == outChannels
            ? nil
            : try Conv2D(scope.scoped("conv_shortcut"), inChannels: inChannels, outChannels: outChannels, kernelSize: 1)
    }

    /// - Parameters:
    ///   - x: `[N, Cin, H, W]`
    ///   - timeEmbedding: `silu(temb)` `[N, T]`, already activated (shared by every block of a step).
    /// - Returns: `[N, Cout, H, W]`
    public func callAsFunction(_ x: Tensor, timeEmbedding: Tensor? = nil) -> Tensor {
        var h = conv1(norm1(x, silu: true))  // [N, Cout, H, W]
        if let projection = timeEmbeddingProjection, let timeEmbedding {
            h.addBatchChannelBias(projection(timeEmbedding))  // + [N, Cout, 1, 1]
        }
        h = conv2(norm2(h, silu: true))
        // Dropout is identity at inference.
        h.add(shortcut.map { $0(x) } ?? x)
        return h
    }
}

extension Tensor {
    /// Adds a per-sample, per-channel value `[N, C]` to `[N, C, ...]` in place.
    mutating func addBatchChannelBias(_ bias: Tensor) {
        let n = shape[0], c = shape[1]
        precondition(bias.shape == [n, c], "bias \(bias.shape) does not match \(shape)")
        let values = bias.scalars
        addPlaneValues(count: n * c) { values[$0] }
    }
}
