import CLatentKernels
import COpenBLAS

/// Multiply-adds from which `sgemm` runs on oneDNN's GEMM rather than OpenBLAS's. oneDNN's AVX-512 kernels
/// are 1.3–1.7× OpenBLAS's on the UNet's shapes, and its threads are the OpenMP pool the convolutions
/// already use, so a step no longer has two thread pools spinning against each other on the same cores
/// (docs/performance.md, wave 7). Small products (test-size models, a text encoder's single prompt) stay on
/// OpenBLAS, whose summation order the tiny parity fixtures were first matched with.
let oneDNNGEMMMinimumWork = 1 << 24

/// Whether large products use oneDNN (read once from `LATENT_KERNELS`; `gemm-openblas` disables it).
let oneDNNGEMMEnabled = !KernelSwitches.isSet("gemm-openblas")

/// OpenBLAS on one thread while it serves only the small products: a second thread pool's workers,
/// yielding in a loop after each call, took the cores from the OpenMP team the rest of a step runs on
/// (the 256-token attention ran 3–7× slower beside it; docs/performance.md, wave 10).
let openBLASThreadsConfigured: Void = {
    if oneDNNGEMMEnabled { openblas_set_num_threads(1) }
}()

/// Row-major single-precision GEMM: `C = alpha · op(A) · op(B) + beta · C`.
///
/// A thin wrapper over oneDNN's and OpenBLAS's GEMMs so that layer code never names the backend.
@inline(__always)
public func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if oneDNNGEMMEnabled && m * n * k >= oneDNNGEMMMinimumWork
        && latent_dnnl_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a,
                             Int64(lda), b, Int64(ldb), beta, c, Int64(ldc)) != 0 {
        return
    }
    _ = openBLASThreadsConfigured
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// A fully connected layer: `x · Wᵀ + b` over the last dimension.
/// - Parameters:
///   - x: `[..., in]`
///   - weight: `[out, in]` (PyTorch `nn.Linear` layout)
///   - bias: `[out]` or `nil`
/// - Returns: `[..., out]`
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(weight.rank == 2, "linear weight must be 2-D, got \(weight.shape)")
    return weight.scalars.withUnsafeBufferPointer { wp in
        linear(x, weight: wp.baseAddress!, outFeatures: weight.shape[0], inFeatures: weight.shape[1], bias: bias)
    }
}

/// `x · Wᵀ + b` with `W` `[outFeatures, inFeatures]` given as a pointer (e.g. weights widened just before use).
func linear(_ x: Tensor, weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int, bias: Tensor?) -> Tensor {
    precondition(x.shape.last == inFeatures, "linear input \(x.shape) does not end in \(inFeatures)")
    let rows = x.count / inFeatures
    var outShape = x.shape
    outShape[outShape.count - 1] = outFeatures
    return Tensor(uninitializedShape: outShape) { out in
        let o = out.baseAddress!
        if let bias {
            precondition(bias.count == outFeatures, "linear bias \(bias.shape) does not match \(outFeatures)")
            // On all cores: this first touch of a fresh output also takes its page faults (≈ 2 % of a step serial).
            let out = UncheckedSendable(o)
            bias.scalars.withUnsafeBufferPointer { b in
                let from = UncheckedSendable(b.baseAddress!)
                parallelRanges(rows, grain: max(1, (1 << 16) / outFeatures)) { range in
                    for r in range { (out.value + r * outFeatures).update(from: from.value, count: outFeatures) }
                }
            }
        }
        x.scalars.withUnsafeBufferPointer { xp in
            sgemm(
                transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                a: xp.baseAddress!, lda: inFeatures, b: weight, ldb: inFeatures,
                beta: bias == nil ? 0 : 1, c: o, ldc: outFeatures)
        }
    }
}

/// Batched matrix product over the last two dimensions: `[..., m, k] · [..., k, n] → [..., m, n]`.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 2 && b.rank == a.rank, "matmul ranks \(a.shape) × \(b.shape)")
    let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
    precondition(b.shape[b.rank - 2] == k && a.shape.dropLast(2) == b.shape.dropLast(2),
                 "matmul shapes \(a.shape) × \(b.shape)")
    let batch = a.count / (m * k)
    return Tensor(uninitializedShape: Array(a.shape.dropLast()) + [n]) { out in
        a.scalars.withUnsafeBufferPointer { ap in
            b.scalars.withUnsafeBufferPointer { bp in
                for i in 0..<batch {
                    sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k,
                          a: ap.baseAddress! + i * m * k, lda: k, b: bp.baseAddress! + i * k * n, ldb: n,
                          c: out.baseAddress! + i * m * n, ldc: n)
                }
            }
        }
    }
}
