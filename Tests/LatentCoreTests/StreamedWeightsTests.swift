import Foundation
import LatentCore
import LatentTesting
import Testing

/// Weights read from "their file" on every use (`--low-memory`), here an in-memory byte buffer.
struct BufferWeightBytes: StreamedWeightBytes, @unchecked Sendable {
    // Invariant: `bytes` is never mutated after init.
    let bytes: [UInt8]
    /// Leading bytes before the tensor, to exercise an unaligned (odd) file offset.
    let offset: Int

    init(halfBitsOf tensor: Tensor, offset: Int) {
        let bits = tensor.scalars.map { Float16($0).bitPattern }
        var bytes = [UInt8](repeating: 0x5A, count: offset)
        for value in bits { bytes += [UInt8(value & 0xFF), UInt8(value >> 8)] }
        self.bytes = bytes
        self.offset = offset
    }

    func withBytes<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        bytes.withUnsafeBytes { body($0.baseAddress! + offset) }
    }
}

@Suite("Streamed weights")
struct StreamedWeightsTests {
    /// A streamed oneDNN plan (weights reordered per call), the streamed whole-batch GEMM and the streamed own
    /// Winograd equal im2col on the same fp16 weights, for two input shapes and both an aligned and an odd
    /// byte offset.
    @Test(arguments: [0, 1], ["oneDNN", "GEMM", "own Winograd"])
    func streamedPlanMatchesIm2col(offset: Int, path: String) {
        let gemmMaximumPixels = path == "GEMM" ? ConvolutionPlan.defaultGEMMMaximumPixels : 0
        let random = TorchCPURandomSource(seed: 21)
        let weight = Tensor(shape: [40, 24, 3, 3], scalars: (random.normal(shape: [40, 24, 3, 3]) * 0.1).scalars.map { Float(Float16($0)) })
        let bias = random.normal(shape: [40])
        let weights = CompactWeights(streaming: BufferWeightBytes(halfBitsOf: weight, offset: offset), shape: weight.shape, format: .float16)
        #expect(weights.isStreamed)
        let plan = ConvolutionPlan(weights: weights, bias: bias, stride: 1, padding: .uniform(1), minimumOneDNNWork: 0,
                                   gemmMaximumPixels: gemmMaximumPixels, ownWinograd: path == "own Winograd")
        for shape in [[2, 24, 13, 11], [1, 24, 9, 16]] {
            let x = random.normal(shape: shape)
            #expect(plan.usesGEMM(shape) == (path == "GEMM"))
            #expect(plan.usesOwnWinograd(shape) == (path == "own Winograd"))
            let expected = conv2d(x, weight: weight, bias: bias, stride: 1, padding: .uniform(1))
            #expect(relativeError(plan(x), expected) < 1e-5)
        }
        #expect(relativeError(plan.weight, weight) == 0)
    }

    /// Streamed linear weights and row gathers widen to the stored values.
    @Test func streamedLinearAndRows() {
        let random = TorchCPURandomSource(seed: 22)
        let weight = Tensor(shape: [12, 20], scalars: random.normal(shape: [12, 20]).scalars.map { Float(Float16($0)) })
        let streamed = CompactWeights(streaming: BufferWeightBytes(halfBitsOf: weight, offset: 1), shape: [12, 20], format: .float16)
        let x = random.normal(shape: [3, 20])
        #expect(relativeError(linear(x, weights: streamed, bias: nil), linear(x, weights: CompactWeights(weight), bias: nil)) < 1e-6)
        var row = [Float](repeating: 0, count: 20)
        row.withUnsafeMutableBufferPointer { streamed.copyFloats(from: 5 * 20, count: 20, into: $0.baseAddress!) }
        #expect(row == Array(weight.scalars[100..<120]))
    }
}
