import LatentCore
import LatentWeights

/// The spatial transformer of Stable Diffusion's UNet: GroupNorm, projection in, transformer blocks,
/// projection out, residual.
///
/// Matches: diffusers `Transformer2DModel` (models/transformers/transformer_2d.py, diffusers 0.42.1) for
/// continuous inputs, with `BasicTransformerBlock` (models/attention.py) and a GEGLU `FeedForward`.
public struct Transformer2DModel: Sendable {
    enum Projection: Sendable {
        case convolution(Conv2D)
        case linear(Linear)
    }

    let norm: GroupNorm
    let projectIn: Projection
    let blocks: [BasicTransformerBlock]
    let projectOut: Projection

    /// - Parameters:
    ///   - channels: Input and output channels `C`.
    ///   - heads: Attention heads; the head width is `C / heads`.
    ///   - contextDimension: Width of the text embeddings.
    ///   - layers: Transformer blocks (`transformer_layers_per_block`).
    ///   - usesLinearProjection: `proj_in`/`proj_out` are linear (SD2) rather than 1×1 convolutions (SD1).
    public init(
        _ scope: WeightScope, channels: Int, heads: Int, contextDimension: Int, layers: Int, groups: Int,
        usesLinearProjection: Bool
    ) throws {
        norm = try GroupNorm(scope.scoped("norm"), groups: groups, channels: channels, epsilon: 1e-6)
        func projection(_ name: String) throws -> Projection {
            usesLinearProjection
                ? .linear(try Linear(scope.scoped(name), inFeatures: channels, outFeatures: channels))
                : .convolution(try Conv2D(scope.scoped(name), inChannels: channels, outChannels: channels, kernelSize: 1))
        }
        projectIn = try projection("proj_in")
        blocks = try (0..<layers).map {
            try BasicTransformerBlock(
                scope.scoped("transformer_blocks.\($0)"), dimension: channels, heads: heads,
                contextDimension: contextDimension)
        }
        projectOut = try projection("proj_out")
    }

    /// - Parameters:
    ///   - x: `[B, C, H, W]`
    ///   - context: `[B, 77, contextDimension]`
    /// - Returns: `[B, C, H, W]`
    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        // The convolutions' pooled buffers (up to ≈ 140 MB at 512²) must not sit next to attention's
        // temporaries, where a step's memory peaks: keeping them added ≈ 50 MB to the run's peak.
        ProcessMemory.releaseScratchBuffers()
        let (height, width) = (x.shape[2], x.shape[3])
        var tokens = projectIn.intoTokens(norm(x))  // [B, H·W, C]
        for block in blocks { tokens = block(tokens, context: context) }
        return projectOut.intoChannels(tokens, height: height, width: width, adding: x)
    }
}

extension Transformer2DModel.Projection {
    /// fp32 weights `[C, C]` or `[C, C, 1, 1]` and bias, or `nil` for reduced-precision (`--weights`) kernels.
    private var fullPrecisionWeights: (CompactWeights, Tensor?)? {
        switch self {
        case .convolution(let conv): conv.reduced == nil ? (conv.plan.storedWeights, conv.bias) : nil
        case .linear(let layer): layer.reduced == nil ? (layer.storedWeight, layer.bias) : nil
        }
    }

    /// `proj_in`: `[B, C, H, W] → [B, H·W, C]`. A 1×1 convolution and a linear layer over the pixels are the
    /// same product, computed as one GEMM that writes tokens (no separate transpose).
    func intoTokens(_ h: Tensor) -> Tensor {
        if let (weights, bias) = fullPrecisionWeights { return projectChannelsToTokens(h, weights: weights, bias: bias) }
        switch self {
        case .convolution(let conv): return channelsToTokens(conv(h))
        case .linear(let layer): return layer(channelsToTokens(h))
        }
    }

    /// `proj_out` plus the block's residual: `[B, H·W, C] → [B, C, H, W]`.
    func intoChannels(_ tokens: Tensor, height: Int, width: Int, adding residual: Tensor) -> Tensor {
        if let (weights, bias) = fullPrecisionWeights {
            return projectTokensToChannels(tokens, height: height, width: width, weights: weights, bias: bias, residual: residual)
        }
        var h: Tensor
        switch self {
        case .convolution(let conv): h = conv(tokensToChannels(tokens, height: height, width: width))
        case .linear(let layer): h = tokensToChannels(layer(tokens), height: height, width: width)
        }
        h.add(residual)
        return h
    }
}

/// Self-attention, cross-attention and a GEGLU feed-forward, each pre-normalised and residual.
///
/// Matches: diffusers `BasicTransformerBlock` (models/attention.py, diffusers 0.42.1), `norm_type="layer_norm"`.
public struct BasicTransformerBlock: Sendable {
    let norm1: LayerNorm
    let selfAttention: Attention
    let norm2: LayerNorm
    let crossAttention: Attention
    let norm3: LayerNorm
    let feedForwardIn: Linear  // GEGLU projection, [D → 2·4D]
    let feedForwardOut: Linear  // [4D → D]

    public init(_ scope: WeightScope, dimension: Int, heads: Int, contextDimension: Int) throws {
        norm1 = try LayerNorm(scope.scoped("norm1"), dimension: dimension, epsilon: 1e-5)
        selfAttention = try Attention(scope.scoped("attn1"), queryDimension: dimension, heads: heads, innerDimension: dimension)
        norm2 = try LayerNorm(scope.scoped("norm2"), dimension: dimension, epsilon: 1e-5)
        crossAttention = try Attention(
            scope.scoped("attn2"), queryDimension: dimension, contextDimension: contextDimension, heads: heads,
            innerDimension: dimension)
        norm3 = try LayerNorm(scope.scoped("norm3"), dimension: dimension, epsilon: 1e-5)
        feedForwardIn = try Linear(scope.scoped("ff.net.0.proj"), inFeatures: dimension, outFeatures: dimension * 8)
        feedForwardOut = try Linear(scope.scoped("ff.net.2"), inFeatures: dimension * 4, outFeatures: dimension)
    }

    /// `[B, N, D] → [B, N, D]`
    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        var h = x
        h.add(selfAttention(norm1(h)))
        h.add(crossAttention(norm2(h), context: context))
        h.add(feedForward(norm3(h)))
        return h
    }

    /// Token rows per feed-forward chunk.
    public static let feedForwardChunkRows = 2048

    /// GEGLU feed-forward in chunks of rows: `[B, N, D] → [B, N, D]`.
    ///
    /// Why chunks: at the UNet's 64×64 level (8192 rows at batch 2) the whole-tensor projection is an
    /// 84 MB temporary and its GEGLU a 42 MB one, each a fresh mapping page-faulted in on every call, at the
    /// step's memory peak. Rows are independent, so chunks give the same rows (docs/performance.md, wave 7).
    /// - Parameter chunkRows: Rows per chunk (the default outside tests).
    public func feedForward(_ x: Tensor, chunkRows: Int = feedForwardChunkRows) -> Tensor {
        let width = x.shape[x.rank - 1]
        let rows = x.count / width
        let chunk = max(1, chunkRows)
        guard rows > chunk else { return feedForwardOut(geglu(feedForwardIn(x))) }
        return Tensor(uninitializedShape: x.shape) { out in
            x.scalars.withUnsafeBufferPointer { source in
                var start = 0
                while start < rows {
                    let count = min(chunk, rows - start)
                    let part = Tensor(uninitializedShape: [count, width]) { slice in
                        slice.baseAddress!.update(from: source.baseAddress! + start * width, count: count * width)
                    }
                    let y = feedForwardOut(geglu(feedForwardIn(part)))  // [count, D]
                    y.scalars.withUnsafeBufferPointer { (out.baseAddress! + start * width).update(from: $0.baseAddress!, count: count * width) }
                    start += count
                }
            }
        }
    }
}
