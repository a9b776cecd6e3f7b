import LatentCore
import LatentTesting
import Testing

/// oneDNN convolution plans against the im2col + OpenBLAS path, and exact narrow weight storage.
@Suite("ConvolutionPlan and CompactWeights")
struct ConvolutionPlanTests {
    /// Rounds every value to fp16 so the weights store narrow (as from an fp16 checkpoint).
    static func halfRounded(_ t: Tensor) -> Tensor {
        CompactWeights(t).format == .float16 ? t : Tensor(shape: t.shape, scalars: t.scalars.map { Float(Float16($0)) })
    }

    @Test(arguments: [
        (1, Padding2D.uniform(1), true), (2, Padding2D.uniform(1), false),
        (2, Padding2D(top: 0, left: 0, bottom: 1, right: 1), true), (1, Padding2D.uniform(1), false),
    ])
    func matchesIm2col(stride: Int, padding: Padding2D, half: Bool) {
        let random = TorchCPURandomSource(seed: 11)
        let x = random.normal(shape: [2, 24, 13, 11])
        var weight = random.normal(shape: [40, 24, 3, 3]) * 0.1
        if half { weight = Self.halfRounded(weight) }
        let bias = random.normal(shape: [40])
        let plan = ConvolutionPlan(weight: weight, bias: bias, stride: stride, padding: padding)
        let expected = conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
        let first = plan(x)
        #expect(first.shape == expected.shape)
        #expect(relativeError(first, expected) < 1e-5)
        // The plain weights were dropped for the plan's copy; they must come back exactly.
        #expect(relativeError(plan.weight, weight) == 0)
        // A second input shape builds a second plan from the recovered weights.
        let other = random.normal(shape: [1, 24, 9, 16])
        #expect(relativeError(plan(other), conv2d(other, weight: weight, bias: bias, stride: stride, padding: padding)) < 1e-5)
    }

    @Test func compactWeightsAreExact() {
        let random = TorchCPURandomSource(seed: 5)
        let full = random.normal(shape: [64, 33])
        let half = Self.halfRounded(full)
        let bf16 = Tensor(shape: full.shape, scalars: full.scalars.map { Float(bitPattern: ($0 * 1e-6).bitPattern & 0xFFFF_0000) })
        #expect(CompactWeights(full).format == .float32)
        #expect(CompactWeights(half).format == .float16)
        #expect(CompactWeights(bf16).format == .bfloat16)
        for t in [full, half, bf16] { #expect(CompactWeights(t).tensor == t) }
        #expect(CompactWeights(half).byteCount == half.count * 2)
    }
}
