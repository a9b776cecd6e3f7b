import Foundation
import LatentCore
import LatentTesting
import Testing

/// Element-wise kernels against float64 references.
@Suite("Element-wise kernels")
struct ElementwiseTests {
    /// GEGLU `a · GELU(g)` with the exact (erf) GELU: the vectorised erf (8 at a time) and the scalar tail
    /// (37 = 4·8 + 5 columns), over gates from −6 to 6 (× 3 of a standard normal). The vectorised erf's
    /// absolute error is ≤ 1.5e-7 (glibc's ≈ 6e-8), so each element's error is bounded relative to |a·g|/2.
    @Test func gegluMatchesFloat64() {
        let features = 37
        let x = TorchCPURandomSource(seed: 9).normal(shape: [5, 2 * features]) * 3
        let y = geglu(x)
        #expect(y.shape == [5, features])
        var worst = 0.0
        for r in 0..<5 {
            for i in 0..<features {
                let a = Double(x.scalars[r * 2 * features + i]), g = Double(x.scalars[r * 2 * features + features + i])
                let expected = a * 0.5 * g * (1 + erf(g / 2.0.squareRoot()))
                let error = abs(Double(y.scalars[r * features + i]) - expected) / (1 + abs(a * g) / 2)
                worst = max(worst, error)
            }
        }
        #expect(worst < 3e-7, "worst error \(worst)")
    }
}
