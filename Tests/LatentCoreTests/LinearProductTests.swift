import LatentCore
import LatentTesting
import Testing

/// `linear` on each of its backends (OpenBLAS for small products; oneDNN's matmul primitive for K ≥ 1024 or at
/// most 256 rows; oneDNN's GEMM otherwise), against a double-precision loop over the definition.
@Suite("Linear products")
struct LinearProductTests {
    /// Rows, inputs, outputs: small (OpenBLAS); K = 1024 and 200 rows (matmul primitive); K = 320 with 1100 rows
    /// (oneDNN's GEMM).
    static let shapes: [[Int]] = [[7, 24, 10], [300, 1024, 72], [200, 640, 160], [1100, 320, 64]]

    @Test(arguments: shapes, [true, false])
    func linearMatchesDefinition(shape: [Int], withBias: Bool) {
        let random = TorchCPURandomSource(seed: 9)
        let (rows, inputs, outputs) = (shape[0], shape[1], shape[2])
        // Three dimensions, as the transformer's tokens are: the product runs over all leading rows at once.
        let x = random.normal(shape: [1, rows, inputs])
        let w = random.normal(shape: [outputs, inputs]) * 0.05
        let bias = withBias ? random.normal(shape: [outputs]) : nil
        var expected = [Float](repeating: 0, count: rows * outputs)
        for r in 0..<rows { for o in 0..<outputs {
            var sum = Double(bias?.scalars[o] ?? 0)
            for i in 0..<inputs { sum += Double(x.scalars[r * inputs + i]) * Double(w.scalars[o * inputs + i]) }
            expected[r * outputs + o] = Float(sum)
        } }
        let y = linear(x, weight: w, bias: bias)
        #expect(y.shape == [1, rows, outputs])
        #expect(relativeError(y, Tensor(shape: [1, rows, outputs], scalars: expected)) < 1e-6)
        // A second call of the same shape reuses the kept primitive and gives the same bits.
        #expect(linear(x, weight: w, bias: bias).scalars == y.scalars)
    }
}
