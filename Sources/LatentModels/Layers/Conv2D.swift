import LatentCore
import LatentWeights

/// A 2-D convolution with bias, PyTorch `nn.Conv2d` (one group, no dilation).
///
/// The kernels live in a `ConvolutionPlan` (oneDNN primitives per input shape, im2col + OpenBLAS fallback),
/// shared by copies of the layer.
public struct Conv2D: Sendable {
    let plan: ConvolutionPlan
    /// bf16/int8 kernels when the model was loaded with reduced precision (`--weights`).
    let reduced: ReducedPrecisionKernel?

    /// `[O, C, k, k]` as fp32 (a widened copy; the layer keeps its weights in the kernel's own layout).
    public var weight: Tensor { plan.weight }
    /// `[O]`
    public var bias: Tensor? { plan.bias }
    /// The step in both directions.
    public var stride: Int { plan.stride }
    /// Zero padding per side.
    public var padding: Padding2D { plan.padding }

    /// Loads `weight` and `bias` under `scope`.
    public init(
        _ scope: WeightScope, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
        padding: Padding2D? = nil, bias: Bool = true
    ) throws {
        let weights = try scope.compactWeights("weight", shape: [outChannels, inChannels, kernelSize, kernelSize])
        plan = ConvolutionPlan(
            weights: weights, bias: bias ? try scope.tensor("bias", shape: [outChannels]) : nil, stride: stride,
            padding: padding ?? .uniform(kernelSize / 2))
        reduced = scope.precision == .fp32 ? nil : ReducedPrecisionKernel(precision: scope.precision)
    }

    /// The number of output channels.
    public var outChannels: Int { plan.weightShape[0] }

    /// `[N, C, H, W] → [N, O, Ho, Wo]`
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let reduced, let y = reduced.convolution(
            x, weight: { plan.weight }, weightShape: plan.weightShape, bias: plan.bias, stride: plan.stride,
            padding: plan.padding) {
            return y
        }
        return plan(x)
    }
}
