import LatentCore
import LatentWeights

/// Layer normalisation over the last dimension with a learned scale and shift.
///
/// Matches: PyTorch `torch.nn.LayerNorm(dimension, eps=epsilon)` with `elementwise_affine=True`
/// (weights `weight` `[D]` and `bias` `[D]`).
public struct LayerNorm: Sendable {
    /// `[D]` scale.
    public let weight: Tensor
    /// `[D]` shift.
    public let bias: Tensor
    /// Added to the variance before the square root.
    public let epsilon: Float

    /// Loads `weight` and `bias` from `scope`, checking their shapes.
    /// - Parameters:
    ///   - scope: The layer's scope, e.g. `encoder.layers.0.layer_norm1`.
    ///   - dimension: The normalised (last) dimension `D`.
    ///   - epsilon: Added to the variance.
    /// - Throws: `WeightsError` when a tensor is missing or mis-shaped.
    public init(_ scope: WeightScope, dimension: Int, epsilon: Float) throws {
        weight = try scope.tensor("weight", shape: [dimension])
        bias = try scope.tensor("bias", shape: [dimension])
        self.epsilon = epsilon
    }

    /// Wraps tensors already in memory.
    /// - Parameters:
    ///   - weight: `[D]` scale.
    ///   - bias: `[D]` shift.
    ///   - epsilon: Added to the variance.
    public init(weight: Tensor, bias: Tensor, epsilon: Float) {
        precondition(weight.rank == 1 && bias.shape == weight.shape,
                     "LayerNorm weight \(weight.shape) and bias \(bias.shape) must be equal 1-D shapes")
        self.weight = weight
        self.bias = bias
        self.epsilon = epsilon
    }

    /// Normalises each row of the last dimension.
    /// - Parameter x: `[..., D]`.
    /// - Returns: `[..., D]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        LayerProfile.measure("layernorm \(x.shape.last ?? 0)") { layerNorm(x, weight: weight, bias: bias, epsilon: epsilon) }
    }
}
