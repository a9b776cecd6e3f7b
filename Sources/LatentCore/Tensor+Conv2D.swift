import CLatentKernels
/// Zero padding around a 2-D input, in pixels per side.
public struct Padding2D: Sendable, Equatable {
    public var top: Int, left: Int, bottom: Int, right: Int

    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }

    /// The same padding on every side.
    public static func uniform(_ p: Int) -> Padding2D { Padding2D(top: p, left: p, bottom: p, right: p) }
}

/// Upper bound on the im2col scratch buffer, in floats (64 MiB), so large images stay linear in memory.
private let im2colBudget = 16 << 20

/// 2-D convolution, PyTorch `nn.Conv2d` semantics (cross-correlation, no dilation, one group).
/// - Parameters:
///   - x: `[N, C, H, W]`
///   - weight: `[O, C, kh, kw]`
///   - bias: `[O]` or `nil`
///   - stride: The step in both directions.
///   - padding: Zero padding per side.
/// - Returns: `[N, O, Ho, Wo]`
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding2D = .uniform(0)) -> Tensor {
    precondition(weight.rank == 4, "conv2d expects a 4-D weight, got \(weight.shape)")
    return weight.scalars.withUnsafeBufferPointer {
        conv2d(x, weight: $0.baseAddress!, weightShape: weight.shape, bias: bias, stride: stride, padding: padding)
    }
}

/// ``conv2d(_:weight:bias:stride:padding:)`` with the `[O, C, kh, kw]` weights given as a pointer (e.g. weights
/// widened just before use into a pooled buffer).
func conv2d(
    _ x: Tensor, weight: UnsafePointer<Float>, weightShape: [Int], bias: Tensor?, stride: Int, padding: Padding2D
) -> Tensor {
    precondition(x.rank == 4 && weightShape.count == 4, "conv2d expects 4-D input and weight, got \(x.shape), \(weightShape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (weightShape[0], weightShape[2], weightShape[3])
    precondition(weightShape[1] == c, "conv2d weight \(weightShape) does not take \(c) input channels")
    let ho = (h + padding.top + padding.bottom - kh) / stride + 1
    let wo = (w + padding.left + padding.right - kw) / stride + 1
    precondition(ho > 0 && wo > 0, "conv2d output would be empty for input \(x.shape)")
    let k = c * kh * kw
    let pointwise = kh == 1 && kw == 1 && stride == 1 && padding == .uniform(0)
    // Output rows per GEMM so that the column buffer stays within budget.
    let rowsPerChunk = pointwise ? ho : max(1, min(ho, im2colBudget / max(1, k * wo)))
    var columns = [Float](repeating: 0, count: pointwise ? 0 : k * rowsPerChunk * wo)

    return Tensor(uninitializedShape: [n, o, ho, wo]) { out in
        x.scalars.withUnsafeBufferPointer { xp in
            columns.withUnsafeMutableBufferPointer { colp in
                for b in 0..<n {
                    let src = xp.baseAddress! + b * c * h * w
                    let dst = out.baseAddress! + b * o * ho * wo
                    var row0 = 0
                    while row0 < ho {
                        let rows = min(rowsPerChunk, ho - row0)
                        let cols = rows * wo
                        let bmat: UnsafePointer<Float>
                        if pointwise {
                            bmat = src
                        } else {
                            // Channels unfold into disjoint column rows, so they split over the cores.
                            let col = UncheckedSendable(colp.baseAddress!)
                            let pad: [Int64] = [padding.top, padding.left, padding.bottom, padding.right].map(Int64.init)
                            parallelRanges(c, grain: 8) { range in
                                latent_im2col(src + range.lowerBound * h * w, Int64(range.count), Int64(h), Int64(w), Int64(kh),
                                              Int64(kw), Int64(stride), pad, Int64(wo), Int64(row0), Int64(row0 + rows),
                                              col.value + range.lowerBound * kh * kw * rows * wo, Int64(rows * wo))
                            }
                            bmat = UnsafePointer(colp.baseAddress!)
                        }
                        // [O, k] · [k, rows·Wo] → dst[:, row0·Wo ..< (row0+rows)·Wo]
                        sgemm(transposeA: false, transposeB: false, m: o, n: cols, k: k,
                              a: weight, lda: k, b: bmat, ldb: cols,
                              c: dst + row0 * wo, ldc: ho * wo)
                        row0 += rows
                    }
                    if let bias {
                        bias.scalars.withUnsafeBufferPointer { bp in
                            parallelRanges(o, grain: max(1, (1 << 16) / (ho * wo))) { range in
                                for oc in range { latent_add_scalar(dst + oc * ho * wo, bp[oc], ho * wo) }
                            }
                        }
                    }
                }
            }
        }
    }
}
