import LatentCore
import LatentWeights

/// Layer normalisation over the last dimension (temporary copy; the CLIP branch owns this file).
public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let epsilon: Float

    public init(_ scope: WeightScope, dimension: Int, epsilon: Float = 1e-5) throws {
        weight = try scope.tensor("weight", shape: [dimension])
        bias = try scope.tensor("bias", shape: [dimension])
        self.epsilon = epsilon
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, epsilon: epsilon) }
}
