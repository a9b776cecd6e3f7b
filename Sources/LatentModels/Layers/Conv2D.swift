import LatentCore
import LatentWeights

/// A 2-D convolution with bias, PyTorch `nn.Conv2d` (one group, no dilation).
public struct Conv2D: Sendable {
    public let weight: Tensor  // [O, C, k, k]
    public let bias: Tensor?  // [O]
    public let stride: Int
    public let padding: Padding2D

    /// Loads `weight` and `bias` under `scope`.
    public init(
        _ scope: WeightScope, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
        padding: Padding2D? = nil, bias: Bool = true
    ) throws {
        weight = try scope.tensor("weight", shape: [outChannels, inChannels, kernelSize, kernelSize])
        self.bias = bias ? try scope.tensor("bias", shape: [outChannels]) : nil
        self.stride = stride
        self.padding = padding ?? .uniform(kernelSize / 2)
    }

    public var outChannels: Int { weight.shape[0] }

    /// `[N, C, H, W] → [N, O, Ho, Wo]`
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}
