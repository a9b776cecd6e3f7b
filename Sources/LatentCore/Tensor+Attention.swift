import Foundation

/// Query rows processed per block, so the score matrix stays small at any image size.
private let queryBlock = 256

/// Multi-head scaled dot-product attention, `softmax(Q·Kᵀ·scale [+ causal mask]) · V` per head.
///
/// Heads are read in place from the packed `[B, N, heads·D]` projections (no permute copies), and queries
/// are processed in blocks so memory grows with `N`, not `N²`.
/// - Parameters:
///   - query: `[B, Nq, heads·D]`
///   - key: `[B, Nk, heads·D]`
///   - value: `[B, Nk, heads·D]`
///   - heads: Number of heads.
///   - causal: Mask keys after each query position (CLIP's text encoder).
///   - scale: Score scale; `1/√D` when `nil`.
/// - Returns: `[B, Nq, heads·D]`
public func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
    precondition(query.rank == 3 && key.rank == 3 && value.rank == 3, "attention expects [B, N, C] tensors")
    let (b, nq, width) = (query.shape[0], query.shape[1], query.shape[2])
    let nk = key.shape[1]
    precondition(key.shape == [b, nk, width] && value.shape == key.shape,
                 "attention shapes q \(query.shape) k \(key.shape) v \(value.shape) disagree")
    precondition(width % heads == 0, "attention width \(width) not divisible by \(heads) heads")
    let d = width / heads
    let alpha = scale ?? 1 / Float(d).squareRoot()
    let block = min(queryBlock, nq)
    return Tensor(uninitializedShape: query.shape) { out in
        query.scalars.withUnsafeBufferPointer { qp in
            key.scalars.withUnsafeBufferPointer { kp in
                value.scalars.withUnsafeBufferPointer { vp in
                    let jobs = b * heads * ((nq + block - 1) / block)
                    let blocksPerHead = (nq + block - 1) / block
                    parallelFor(jobs) { job in
                        let bh = job / blocksPerHead, qb = job % blocksPerHead
                        let batch = bh / heads, head = bh % heads
                        let q0 = qb * block, rows = min(block, nq - q0)
                        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * nk)
                        defer { scores.deallocate() }
                        let qBase = qp.baseAddress! + (batch * nq + q0) * width + head * d
                        let kBase = kp.baseAddress! + batch * nk * width + head * d
                        let vBase = vp.baseAddress! + batch * nk * width + head * d
                        // [rows, D] · [nk, D]ᵀ → [rows, nk]
                        sgemm(transposeA: false, transposeB: true, m: rows, n: nk, k: d, alpha: alpha,
                              a: qBase, lda: width, b: kBase, ldb: width, c: scores, ldc: nk)
                        for r in 0..<rows {
                            let row = scores + r * nk
                            let visible = causal ? min(nk, q0 + r + 1) : nk
                            softmaxRow(row, count: visible)
                            if visible < nk { (row + visible).update(repeating: 0, count: nk - visible) }
                        }
                        // [rows, nk] · [nk, D] → out[rows, head·D ..< (head+1)·D]
                        sgemm(transposeA: false, transposeB: false, m: rows, n: d, k: nk,
                              a: scores, lda: nk, b: vBase, ldb: width,
                              c: out.baseAddress! + (batch * nq + q0) * width + head * d, ldc: width)
                    }
                }
            }
        }
    }
}

/// In-place numerically stable softmax of one row.
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, count: Int) {
    var maxValue = -Float.infinity
    for i in 0..<count { maxValue = max(maxValue, row[i]) }
    var sum: Float = 0
    for i in 0..<count {
        let e = expf(row[i] - maxValue)
        row[i] = e
        sum += e
    }
    let inv = 1 / sum
    for i in 0..<count { row[i] *= inv }
}
