import LatentCore
import LatentWeights

/// A fully connected layer, PyTorch `nn.Linear` (temporary copy; the CLIP branch owns this file).
public struct Linear: Sendable {
    public let weight: Tensor  // [out, in]
    public let bias: Tensor?  // [out]

    public init(_ scope: WeightScope, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        weight = try scope.tensor("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try scope.tensor("bias", shape: [outFeatures]) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}
