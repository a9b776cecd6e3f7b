import Foundation
import LatentCore
import LatentTesting
import Testing

/// bf16 and int8 convolutions and linear layers against the fp32 reference: close (the price of the
/// precision) but not equal (the reduced path really ran), from several threads at once.
@Suite("ReducedPrecisionKernel")
struct ReducedPrecisionKernelTests {
    /// Relative error bounds per precision: bf16 keeps 8 significant bits (≈ 2⁻⁹ per product), int8 7 bits
    /// of the largest magnitude per channel or tensor.
    static func bounds(_ precision: ArithmeticPrecision) -> ClosedRange<Double> {
        precision == .bf16 ? 1e-4...6e-3 : 1e-3...3e-2
    }

    @Test(arguments: [ArithmeticPrecision.bf16, .int8])
    func convolutionMatchesFloat32(precision: ArithmeticPrecision) throws {
        let random = TorchCPURandomSource(seed: 5)
        let weight = random.normal(shape: [20, 24, 3, 3]) * 0.1
        let bias = random.normal(shape: [20])
        let kernel = ReducedPrecisionKernel(precision: precision)
        for (stride, padding, shape) in [
            (1, Padding2D.uniform(1), [2, 24, 13, 11]), (2, Padding2D(top: 0, left: 0, bottom: 1, right: 1), [1, 24, 16, 10]),
        ] {
            let x = random.normal(shape: shape)
            let y = try #require(kernel.convolution(
                x, weight: { weight }, weightShape: weight.shape, bias: bias, stride: stride, padding: padding))
            let expected = conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
            #expect(y.shape == expected.shape)
            #expect(Self.bounds(precision).contains(relativeError(y, expected)), "stride \(stride): \(relativeError(y, expected))")
        }
    }

    @Test(arguments: [ArithmeticPrecision.bf16, .int8])
    func linearMatchesFloat32FromManyThreads(precision: ArithmeticPrecision) throws {
        let random = TorchCPURandomSource(seed: 6)
        let weight = random.normal(shape: [29, 48]) * 0.2
        let bias = random.normal(shape: [29])
        let kernel = ReducedPrecisionKernel(precision: precision)
        let inputs = [random.normal(shape: [2, 37, 48]), random.normal(shape: [5, 48]), random.normal(shape: [1, 77, 48])]
        let expected = inputs.map { linear($0, weight: weight, bias: bias) }
        let errors = Errors()
        DispatchQueue.concurrentPerform(iterations: 24) { job in
            let index = job % inputs.count
            let y = kernel.linear(inputs[index], weight: { weight }, outFeatures: 29, inFeatures: 48, bias: bias)
            errors.set(job, y.map { $0.shape == expected[index].shape ? relativeError($0, expected[index]) : .infinity } ?? .infinity)
        }
        for (job, error) in errors.values.enumerated() {
            #expect(Self.bounds(precision).contains(error), "job \(job): \(error)")
        }
    }
}

/// Per-job results written from concurrent jobs.
private final class Errors: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values = [Double](repeating: .nan, count: 24)
    func set(_ index: Int, _ value: Double) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }
}
