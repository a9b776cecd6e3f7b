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

/// Whether `A·Bᵀ` products (a linear layer's form) may run on oneDNN's matmul primitive (read once from
/// `LATENT_KERNELS`; `gemm-no-matmul` disables it).
let oneDNNMatmulEnabled = oneDNNGEMMEnabled && !KernelSwitches.isSet("gemm-no-matmul")

/// Whether oneDNN's matmul primitive beats its GEMM on an `[m, k]·[n, k]ᵀ` product. Measured on the UNet's
/// shapes (docs/performance.md, wave 12): 0.80–0.82× the GEMM's time at K = 2560 and 5120, 0.88–0.97× at
/// K = 1280, 0.83–0.87× with 128–154 rows; but 1.03–1.09× at K = 320 and up to 1.07× at K = 640. A fixed rule,
/// not a per-run timing, so that a seed gives the same image on every run.
@inline(__always)
func matmulPrimitivePreferred(m: Int, k: Int) -> Bool { k >= 1024 || m <= 256 }

/// Row-major single-precision GEMM: `C = alpha · op(A) · op(B) + beta · C`.
///
/// A thin wrapper over oneDNN's and OpenBLAS's GEMMs so that layer code never names the backend.
@inline(__always)
public func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if oneDNNMatmulEnabled && !transposeA && transposeB && alpha == 1 && (beta == 0 || beta == 1)
        && m * n * k >= oneDNNGEMMMinimumWork && matmulPrimitivePreferred(m: m, k: k)
        && latent_dnnl_matmul_nt(Int64(m), Int64(n), Int64(k), a, Int64(lda), b, Int64(ldb), beta == 1 ? 1 : 0,
                                 c, Int64(ldc)) != 0 {
        return
    }
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
        if let bias { fillRows(o, rows: rows, width: outFeatures, bias: bias) }
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

/// A projection over channels (a 1×1 convolution, or a linear layer applied to every pixel) that reads
/// channels-first and writes tokens: `channelsToTokens(conv1×1(x))` as one GEMM per image.
///
/// Why: the spatial transformer's `proj_in` ran as a 1×1 convolution and then a transpose, two passes over a
/// 10 MB activation at the UNet's 64×64 level; the GEMM reads `x` transposed at no extra cost.
/// - Parameters:
///   - x: `[B, C, H, W]`
///   - weights: `[O, C]` or `[O, C, 1, 1]`
///   - bias: `[O]` or `nil`
/// - Returns: `[B, H·W, O]`
public func projectChannelsToTokens(_ x: Tensor, weights: CompactWeights, bias: Tensor?) -> Tensor {
    precondition(x.rank == 4, "projectChannelsToTokens expects [B, C, H, W], got \(x.shape)")
    let (n, c, pixels) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    let o = checkedProjectionOutputs(weights, inputs: c)
    return LayerProfile.measure("projection \(c)→\(o) channels→tokens at \(n)×\(x.shape[2])×\(x.shape[3])") {
        Tensor(uninitializedShape: [n, pixels, o]) { out in
            if let bias { fillRows(out.baseAddress!, rows: n * pixels, width: o, bias: bias) }
            weights.withFloats { wp in
                x.scalars.withUnsafeBufferPointer { xp in
                    for b in 0..<n {
                        // [HW, C] (x's [C, HW] read transposed) · [O, C]ᵀ → [HW, O]
                        sgemm(transposeA: true, transposeB: true, m: pixels, n: o, k: c,
                              a: xp.baseAddress! + b * c * pixels, lda: pixels, b: wp.baseAddress!, ldb: c,
                              beta: bias == nil ? 0 : 1, c: out.baseAddress! + b * pixels * o, ldc: o)
                    }
                }
            }
        }
    }
}

/// The inverse direction of ``projectChannelsToTokens(_:weights:bias:)`` with the residual folded in:
/// `conv1×1(tokensToChannels(tokens)) + residual` as one GEMM per image onto a copy of the residual.
/// - Parameters:
///   - tokens: `[B, H·W, C]`
///   - height: `H`
///   - width: `W`
///   - weights: `[O, C]` or `[O, C, 1, 1]`
///   - bias: `[O]` or `nil`
///   - residual: `[B, O, H, W]`, added to the result.
/// - Returns: `[B, O, H, W]`
public func projectTokensToChannels(
    _ tokens: Tensor, height: Int, width: Int, weights: CompactWeights, bias: Tensor?, residual: Tensor
) -> Tensor {
    precondition(tokens.rank == 3 && tokens.shape[1] == height * width,
                 "projectTokensToChannels: tokens \(tokens.shape) for \(height)×\(width)")
    let (n, pixels, c) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
    let o = checkedProjectionOutputs(weights, inputs: c)
    precondition(residual.shape == [n, o, height, width],
                 "projectTokensToChannels: residual \(residual.shape) is not [\(n), \(o), \(height), \(width)]")
    return LayerProfile.measure("projection \(c)→\(o) tokens→channels at \(n)×\(height)×\(width)") {
        Tensor(uninitializedShape: [n, o, height, width]) { out in
            let target = UncheckedSendable(out.baseAddress!)
            residual.scalars.withUnsafeBufferPointer { rp in
                let source = UncheckedSendable(rp.baseAddress!)
                let biasValues = bias?.scalars
                // Residual plus bias, a channel plane at a time, on all cores (this first touch of the fresh
                // output also takes its page faults).
                parallelRanges(n * o, grain: max(1, (1 << 15) / pixels)) { range in
                    for plane in range {
                        let d = target.value + plane * pixels, s = source.value + plane * pixels
                        if let biasValues {
                            let value = biasValues[plane % o]
                            for p in 0..<pixels { d[p] = s[p] + value }
                        } else {
                            d.update(from: s, count: pixels)
                        }
                    }
                }
            }
            weights.withFloats { wp in
                tokens.scalars.withUnsafeBufferPointer { tp in
                    for b in 0..<n {
                        // [O, C] · [HW, C]ᵀ → [O, HW]
                        sgemm(transposeA: false, transposeB: true, m: o, n: pixels, k: c,
                              a: wp.baseAddress!, lda: c, b: tp.baseAddress! + b * pixels * c, ldb: c,
                              beta: 1, c: out.baseAddress! + b * o * pixels, ldc: pixels)
                    }
                }
            }
        }
    }
}

/// The output width of a channel projection's `[O, C]` or `[O, C, 1, 1]` weights, checked against `inputs`.
private func checkedProjectionOutputs(_ weights: CompactWeights, inputs: Int) -> Int {
    let shape = weights.shape
    precondition((shape.count == 2 || (shape.count == 4 && shape[2] == 1 && shape[3] == 1)) && shape[1] == inputs,
                 "channel projection weights \(shape) do not take \(inputs) channels")
    return shape[0]
}

/// Rows of `width` set to `bias`, on all cores: this first touch of a fresh output also takes its page faults
/// (≈ 2 % of a step when it ran serially).
private func fillRows(_ out: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: Tensor) {
    precondition(bias.count == width, "bias \(bias.shape) does not match \(width) outputs")
    let target = UncheckedSendable(out)
    bias.scalars.withUnsafeBufferPointer { b in
        let from = UncheckedSendable(b.baseAddress!)
        parallelRanges(rows, grain: max(1, (1 << 16) / width)) { range in
            for r in range { (target.value + r * width).update(from: from.value, count: width) }
        }
    }
}
