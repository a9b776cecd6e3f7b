import CLatentKernels
import Foundation

/// Query rows processed per block by the GEMM path, so its score matrix stays small at any image size.
private let queryBlock = 512

/// Whether the fused kernel is used for a problem. Measured in bench/attention_bench.c
/// (docs/performance.md, wave 3b): it wins 1.4–2.8× on every problem with ≥ 512 queries and heads up to 80
/// wide (the UNet's top two levels, self and cross, at any image size), where OpenBLAS runs its k = D and
/// k = 77 GEMMs far below peak. Below 512 queries a call costs at most a few milliseconds either way, and wide
/// heads over long key sequences (D = 160 self-attention, the VAE's single 512-wide head) run near peak in
/// OpenBLAS and tie or lose with the fused kernel; those stay on the GEMM path, which also keeps the tiny-model
/// parity fixtures on the arithmetic they were validated with (one sits at its 1e-4 bound).
private func fusedAttentionWins(headDimension d: Int, queries: Int, keys: Int) -> Bool {
    queries >= 512 && (d <= 80 || (d <= 160 && keys <= 128))
}

/// `LATENT_KERNELS=attention-gemm` (comma-separated list) forces the GEMM path for A/B runs; read once.
private let attentionForcesGEMM = KernelSwitches.isSet("attention-gemm")

/// Multi-head scaled dot-product attention, `softmax(Q·Kᵀ·scale [+ causal mask]) · V` per head.
///
/// Heads are read in place from the packed `[B, N, heads·D]` projections (no permute copies). Shapes where it
/// measured faster run the fused kernel (key tiles streamed through an online softmax, memory linear in `N`);
/// the rest, or all with `LATENT_KERNELS=attention-gemm`, run OpenBLAS GEMMs over 512-query blocks (memory
/// also linear in `N`: one 512 × Nk score block).
/// - Parameters:
///   - query: `[B, Nq, heads·D]`
///   - key: `[B, Nk, heads·D]`
///   - value: `[B, Nk, heads·D]`
///   - heads: Number of heads.
///   - causal: Mask keys after each query position (CLIP's text encoder).
///   - scale: Score scale; `1/√D` when `nil`.
/// - Returns: `[B, Nq, heads·D]`
public func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
    let d = checkedHeadDimension(query: query, key: key, value: value, heads: heads)
    return LayerProfile.measure("attention \(query.shape[1])×\(key.shape[1]) d \(d) × \(query.shape[0] * heads)") {
        attention(query: query, key: key, value: value, heads: heads, headDimension: d, causal: causal, scale: scale)
    }
}

private func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int, headDimension d: Int, causal: Bool, scale: Float?) -> Tensor {
    if !attentionForcesGEMM && key.shape[1] > 0 && fusedAttentionWins(headDimension: d, queries: query.shape[1], keys: key.shape[1]) {
        return fusedAttention(query: query, key: key, value: value, heads: heads, causal: causal, scale: scale)
    }
    return gemmAttention(query: query, key: key, value: value, heads: heads, causal: causal, scale: scale)
}

/// Validates the packed shapes and returns the head width `D`.
private func checkedHeadDimension(query: Tensor, key: Tensor, value: Tensor, heads: Int) -> Int {
    precondition(query.rank == 3 && key.rank == 3 && value.rank == 3, "attention expects [B, N, C] tensors")
    let (b, width) = (query.shape[0], query.shape[2])
    let nk = key.shape[1]
    precondition(key.shape == [b, nk, width] && value.shape == key.shape,
                 "attention shapes q \(query.shape) k \(key.shape) v \(value.shape) disagree")
    precondition(heads > 0 && width % heads == 0, "attention width \(width) not divisible by \(heads) heads")
    return width / heads
}

/// The fused kernel (`latent_attention_run`): jobs of (batch, head, query block) split over the cores; each
/// streams key tiles through scores, an online softmax and P·V, so no `N×N` (or `512×N`) matrix exists.
/// Same arguments and result as ``attention(query:key:value:heads:causal:scale:)``.
func fusedAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
    let d = checkedHeadDimension(query: query, key: key, value: value, heads: heads)
    let (b, nq, nk) = (query.shape[0], query.shape[1], key.shape[1])
    let alpha = scale ?? 1 / Float(d).squareRoot()
    return Tensor(uninitializedShape: query.shape) { out in
        query.scalars.withUnsafeBufferPointer { qp in
            key.scalars.withUnsafeBufferPointer { kp in
                value.scalars.withUnsafeBufferPointer { vp in
                    var problem = latent_attention_problem(
                        query: qp.baseAddress!, key: kp.baseAddress!, value: vp.baseAddress!, out: out.baseAddress!,
                        batch: b, heads: heads, head_dim: d, query_count: nq, key_count: nk, scale: alpha,
                        causal: causal ? 1 : 0)
                    let jobs = latent_attention_job_count(&problem)
                    // A few chunks per core, taken dynamically: causal jobs are uneven and the cores are shared.
                    let chunks = min(jobs, coreCount * 4)
                    let shared = problem
                    parallelFor(chunks) { c in
                        withUnsafePointer(to: shared) { latent_attention_run($0, c * jobs / chunks, (c + 1) * jobs / chunks) }
                    }
                }
            }
        }
    }
}

/// The GEMM path: per (batch, head, 512-query block) an sgemm Q·Kᵀ into a score block, softmax rows split over
/// the cores, and an sgemm ·V. Same arguments and result as ``attention(query:key:value:heads:causal:scale:)``.
func gemmAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
    let d = checkedHeadDimension(query: query, key: key, value: value, heads: heads)
    let (b, nq, width) = (query.shape[0], query.shape[1], query.shape[2])
    let nk = key.shape[1]
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
