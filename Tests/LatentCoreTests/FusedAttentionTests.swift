import Foundation
@testable import LatentCore
import LatentTesting
import Testing

/// Uniform values in `[-amplitude, amplitude)` from a fixed linear congruential sequence.
private func randomTensor(_ shape: [Int], seed: UInt64, amplitude: Float) -> Tensor {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    let count = shape.reduce(1, *)
    var scalars = [Float](repeating: 0, count: count)
    for i in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        scalars[i] = amplitude * (Float(state >> 40) / Float(1 << 24) * 2 - 1)
    }
    return Tensor(shape: shape, scalars: scalars)
}

/// Attention evaluated directly in double precision, one query at a time.
private func directAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool, scale: Double) -> Tensor {
    let (b, nq, width) = (query.shape[0], query.shape[1], query.shape[2])
    let nk = key.shape[1], d = width / heads
    var out = [Float](repeating: 0, count: b * nq * width)
    for batch in 0..<b {
        for head in 0..<heads {
            for i in 0..<nq {
                let visible = causal ? min(nk, i + 1) : nk
                var scores = [Double](repeating: 0, count: visible)
                for j in 0..<visible {
                    var dot = 0.0
                    for c in 0..<d {
                        dot += Double(query.scalars[(batch * nq + i) * width + head * d + c])
                            * Double(key.scalars[(batch * nk + j) * width + head * d + c])
                    }
                    scores[j] = dot * scale
                }
                let top = scores.max() ?? 0
                let weights = scores.map { exp($0 - top) }
                let total = weights.reduce(0, +)
                for c in 0..<d {
                    var sum = 0.0
                    for j in 0..<visible { sum += weights[j] * Double(value.scalars[(batch * nk + j) * width + head * d + c]) }
                    out[(batch * nq + i) * width + head * d + c] = Float(sum / total)
                }
            }
        }
    }
    return Tensor(shape: query.shape, scalars: out)
}

@Suite("Fused attention")
struct FusedAttentionTests {
    /// One attention problem: batch, heads, head width, query and key counts, mask, explicit scale.
    struct Shape: Sendable, CustomStringConvertible {
        let batch, heads, headDimension, queries, keys: Int
        let causal: Bool
        let scale: Float?
        var description: String {
            "B\(batch) h\(heads) D\(headDimension) \(queries)×\(keys)\(causal ? " causal" : "")\(scale.map { " scale \($0)" } ?? "")"
        }
    }

    static let shapes: [Shape] = [
        Shape(batch: 2, heads: 8, headDimension: 40, queries: 300, keys: 300, causal: false, scale: nil),
        Shape(batch: 2, heads: 8, headDimension: 40, queries: 205, keys: 77, causal: false, scale: nil),
        Shape(batch: 1, heads: 12, headDimension: 64, queries: 77, keys: 77, causal: true, scale: nil),
        Shape(batch: 2, heads: 2, headDimension: 40, queries: 1000, keys: 1000, causal: true, scale: nil),
        Shape(batch: 1, heads: 3, headDimension: 24, queries: 101, keys: 101, causal: true, scale: 0.37),
        Shape(batch: 3, heads: 2, headDimension: 20, queries: 131, keys: 53, causal: false, scale: -0.8),
        Shape(batch: 2, heads: 4, headDimension: 80, queries: 97, keys: 150, causal: false, scale: nil),
        Shape(batch: 1, heads: 2, headDimension: 160, queries: 50, keys: 263, causal: false, scale: nil),
        Shape(batch: 1, heads: 2, headDimension: 13, queries: 7, keys: 5, causal: false, scale: nil),
    ]

    private static func inputs(_ s: Shape, seed: UInt64) -> (Tensor, Tensor, Tensor) {
        let width = s.heads * s.headDimension
        return (randomTensor([s.batch, s.queries, width], seed: seed, amplitude: 2),
                randomTensor([s.batch, s.keys, width], seed: seed + 1, amplitude: 2),
                randomTensor([s.batch, s.keys, width], seed: seed + 2, amplitude: 1))
    }

    @Test("fused kernel matches the GEMM path", arguments: shapes)
    func matchesGEMMPath(_ s: Shape) {
        let (q, k, v) = Self.inputs(s, seed: UInt64(s.queries * 31 + s.keys))
        let fused = fusedAttention(query: q, key: k, value: v, heads: s.heads, causal: s.causal, scale: s.scale)
        let reference = gemmAttention(query: q, key: k, value: v, heads: s.heads, causal: s.causal, scale: s.scale)
        #expect(relativeError(fused, reference) < 1e-5)
    }

    @Test("fused kernel matches a double-precision evaluation, masked and not", arguments: [false, true])
    func matchesDirectEvaluation(causal: Bool) {
        let s = Shape(batch: 2, heads: 3, headDimension: 24, queries: 70, keys: 70, causal: causal, scale: nil)
        let (q, k, v) = Self.inputs(s, seed: causal ? 7 : 8)
        let fused = fusedAttention(query: q, key: k, value: v, heads: s.heads, causal: causal)
        let direct = directAttention(query: q, key: k, value: v, heads: s.heads, causal: causal,
                                     scale: 1 / Double(s.headDimension).squareRoot())
        #expect(relativeError(fused, direct) < 1e-5)
        // The mask must matter: the first query sees only the first key, so its output is that key's value.
        if causal {
            let width = s.heads * s.headDimension
            #expect(relativeError(Array(fused.scalars[0..<width]), Array(v.scalars[0..<width])) < 1e-6)
        }
    }

    @Test("attention dispatches to a path that agrees with the GEMM path")
    func publicEntryPoint() {
        let s = Shape(batch: 2, heads: 8, headDimension: 40, queries: 600, keys: 77, causal: false, scale: nil)
        let (q, k, v) = Self.inputs(s, seed: 99)
        let result = attention(query: q, key: k, value: v, heads: s.heads)
        let reference = gemmAttention(query: q, key: k, value: v, heads: s.heads)
        #expect(relativeError(result, reference) < 1e-5)
    }
}
