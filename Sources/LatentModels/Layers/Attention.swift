import LatentCore
import LatentWeights

/// Multi-head attention with separate q/k/v projections and an output projection.
///
/// Matches: diffusers `Attention` (models/attention_processor.py, diffusers 0.42.1) with `AttnProcessor2_0`,
/// as used by `BasicTransformerBlock` (no q/k/v bias) and the VAE mid block (biases, one head).
public struct Attention: Sendable {
    let toQuery: Linear
    let toKey: Linear
    let toValue: Linear
    let toOut: Linear
    public let heads: Int

    /// - Parameters:
    ///   - queryDimension: Width of the hidden states.
    ///   - contextDimension: Width of the context for cross-attention (`nil`: self-attention).
    ///   - heads: Number of heads; `innerDimension` must be divisible by it.
    ///   - innerDimension: Width of q/k/v (`heads · headDim`).
    ///   - projectionBias: Whether q/k/v carry biases (the VAE's do).
    public init(
        _ scope: WeightScope, queryDimension: Int, contextDimension: Int? = nil, heads: Int, innerDimension: Int,
        projectionBias: Bool = false
    ) throws {
        let context = contextDimension ?? queryDimension
        toQuery = try Linear(scope.scoped("to_q"), inFeatures: queryDimension, outFeatures: innerDimension, bias: projectionBias)
        toKey = try Linear(scope.scoped("to_k"), inFeatures: context, outFeatures: innerDimension, bias: projectionBias)
        toValue = try Linear(scope.scoped("to_v"), inFeatures: context, outFeatures: innerDimension, bias: projectionBias)
        toOut = try Linear(scope.scoped("to_out.0"), inFeatures: innerDimension, outFeatures: queryDimension)
        self.heads = heads
    }

    /// - Parameters:
    ///   - x: `[B, N, queryDimension]`
    ///   - context: `[B, M, contextDimension]`, or `nil` for self-attention.
    /// - Returns: `[B, N, queryDimension]`
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        let source = context ?? x
        let attended = attention(query: toQuery(x), key: toKey(source), value: toValue(source), heads: heads)
        return toOut(attended)
    }
}
