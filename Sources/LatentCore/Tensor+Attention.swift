import CLatentKernels
import Foundation

/// Query rows processed per block, so the score matrix stays small at any image size.
private let queryBlock = 512

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
    let blocksPerHead = (nq + block - 1) / block
    // One scratch block reused by every (batch, head, block) job: the GEMMs are threaded by OpenBLAS and the
    // softmax rows are split over the cores, so jobs run one after another without nesting thread pools.
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: block * nk)
    defer { scores.deallocate() }
    let scoresBox = UncheckedSendable(scores)
    return Tensor(uninitializedShape: query.shape) { out in
        query.scalars.withUnsafeBufferPointer { qp in
            key.scalars.withUnsafeBufferPointer { kp in
                value.scalars.withUnsafeBufferPointer { vp in
                    for job in 0..<(b * heads * blocksPerHead) {
                        let bh = job / blocksPerHead, qb = job % blocksPerHead
                        let batch = bh / heads, head = bh % heads
                        let q0 = qb * block, rows = min(block, nq - q0)
                        let qBase = qp.baseAddress! + (batch * nq + q0) * width + head * d
                        let kBase = kp.baseAddress! + batch * nk * width + head * d
                        let vBase = vp.baseAddress! + batch * nk * width + head * d
                        // [rows, D] · [nk, D]ᵀ → [rows, nk]
                        sgemm(transposeA: false, transposeB: true, m: rows, n: nk, k: d, alpha: alpha,
                              a: qBase, lda: width, b: kBase, ldb: width, c: scores, ldc: nk)
                        parallelRanges(rows, grain: 16) { range in
                            let base = scoresBox.value
                            if causal {
                                for r in range {
                                    let row = base + r * nk
                                    let visible = min(nk, q0 + r + 1)
                                    latent_softmax_rows(row, 1, nk, visible)
                                    if visible < nk { (row + visible).update(repeating: 0, count: nk - visible) }
                                }
                            } else {
                                latent_softmax_rows(base + range.lowerBound * nk, range.count, nk, nk)
                            }
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
