import LatentCore
import LatentWeights

/// A fully connected layer, `y = x · Wᵀ + b` over the last dimension.
///
/// Matches: PyTorch `torch.nn.Linear` (weights `weight` `[out, in]` and optional `bias` `[out]`).
public struct Linear: Sendable {
    /// Kept as fp16/bf16 when the checkpoint stored it so (exact), widened per call.
    let storedWeight: CompactWeights
    /// `[outFeatures, inFeatures]`, PyTorch layout (a widened fp32 copy).
    public var weight: Tensor { storedWeight.tensor }
    /// `[outFeatures]`, or `nil` for a bias-free projection.
    public let bias: Tensor?
    /// bf16/int8 kernels when the model was loaded with reduced precision (`--weights`).
    let reduced: ReducedPrecisionKernel?

    /// The width of the input's last dimension.
    public var inFeatures: Int { storedWeight.shape[1] }
    /// The width of the output's last dimension.
    public var outFeatures: Int { storedWeight.shape[0] }

    /// Loads `weight` (and `bias` unless disabled) from `scope`, checking their shapes.
    /// - Parameters:
    ///   - scope: The layer's scope, e.g. `encoder.layers.0.self_attn.q_proj`.
    ///   - inFeatures: Input width.
    ///   - outFeatures: Output width.
    ///   - bias: Whether the checkpoint carries a bias.
    /// - Throws: `WeightsError` when a tensor is missing or mis-shaped.
    public init(_ scope: WeightScope, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        storedWeight = try scope.compactWeights("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try scope.tensor("bias", shape: [outFeatures]) : nil
        reduced = scope.precision == .fp32 ? nil : ReducedPrecisionKernel(precision: scope.precision)
    }

    /// Wraps tensors already in memory (tests, fused or converted weights).
    /// - Parameters:
    ///   - weight: `[out, in]`.
    ///   - bias: `[out]` or `nil`.
    public init(weight: Tensor, bias: Tensor? = nil) {
        precondition(weight.rank == 2, "Linear weight must be 2-D, got \(weight.shape)")
        precondition(bias.map { $0.shape == [weight.shape[0]] } ?? true,
                     "Linear bias \(bias?.shape ?? []) does not match weight \(weight.shape)")
        storedWeight = CompactWeights(weight)
        self.bias = bias
        reduced = nil
    }

    /// Applies the projection.
    /// - Parameter x: `[..., inFeatures]`.
    /// - Returns: `[..., outFeatures]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let reduced, let y = reduced.linear(
            x, weight: { storedWeight.tensor }, outFeatures: outFeatures, inFeatures: inFeatures, bias: bias) {
            return y
        }
        return linear(x, weights: storedWeight, bias: bias)
    }
}
