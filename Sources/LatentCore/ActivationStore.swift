import CLatentKernels

/// A whole-image activation `[N, C, H, W]` that a banded computation writes and reads by rows.
///
/// In fp32 it is exact. In fp16 every row of every plane is scaled by its own power of two before it is
/// narrowed (`latent_f32_to_f16_scaled`): nothing overflows whatever the activation's range, and each value
/// keeps half precision's 11 significant bits relative to its row's largest magnitude, in half the memory.
/// Large decodes keep their whole-image activations this way (`VAEDecoder.decodeTiled`).
public struct ActivationStore: Sendable {
    /// How the values are kept.
    public enum Precision: Sendable, Equatable {
        case float32
        /// Half precision with a power-of-two factor per row (relative rounding ≤ 2⁻¹¹ of the row's peak).
        case float16

        /// Bytes per stored value.
        public var byteCount: Int { self == .float32 ? 4 : 2 }
    }

    /// `[N, C, H, W]`
    public let shape: [Int]
    public let precision: Precision
    private var floats: Tensor
    private var halves: [UInt16]
    /// Per stored row (`[N · C · H]`): the factor that restores its half values.
    private var factors: [Float]

    /// An all-zero activation of `shape` `[N, C, H, W]`.
    public init(zeros shape: [Int], precision: Precision) {
        precondition(shape.count == 4, "ActivationStore holds [N, C, H, W], not \(shape)")
        self.shape = shape
        self.precision = precision
        let count = shape.reduce(1, *)
        switch precision {
        case .float32:
            floats = zeroedOnAllCores(shape)
            halves = []
            factors = []
        case .float16:
            floats = Tensor(shape: [0], scalars: [])
            halves = [UInt16](repeating: 0, count: count)
            factors = [Float](repeating: 1, count: count / shape[3])
        }
    }

    /// Keeps `x` `[N, C, H, W]` (fp32: shares its storage; fp16: narrows it).
    public init(_ x: Tensor, precision: Precision) {
        if precision == .float32 {
            precondition(x.shape.count == 4, "ActivationStore holds [N, C, H, W], not \(x.shape)")
            self = ActivationStore(shape: x.shape, floats: x)
        } else {
            self.init(zeros: x.shape, precision: precision)
            write(x, at: 0)
        }
    }

    private init(shape: [Int], floats: Tensor) {
        self.shape = shape
        precision = .float32
        self.floats = floats
        halves = []
        factors = []
    }

    /// Bytes held.
    public var byteCount: Int { shape.reduce(1, *) * precision.byteCount }

    /// The whole activation as an fp32 tensor.
    public func tensor() -> Tensor {
        precision == .float32 ? floats : rows(start: 0, count: shape[2])
    }

    /// Rows `start ..< start+count` as `[N, C, count, W]`; rows outside the image are zeros.
    public func rows(start: Int, count: Int) -> Tensor {
        if precision == .float32 { return rowBand(floats, start: start, count: count) }
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        let lo = max(start, 0), hi = min(start + count, h)
        var band = zeroedOnAllCores([shape[0], shape[1], count, w])
        guard hi > lo else { return band }
        halves.withUnsafeBufferPointer { src in
            factors.withUnsafeBufferPointer { factor in
                band.scalars.withUnsafeMutableBufferPointer { dst in
                    let out = UncheckedSendable(dst.baseAddress!)
                    parallelFor(planes) { plane in
                        for row in lo..<hi {
                            latent_f16_to_f32_scaled(
                                src.baseAddress! + (plane * h + row) * w, out.value + (plane * count + row - start) * w, w,
                                factor[plane * h + row])
                        }
                    }
                }
            }
        }
        return band
    }

    /// Stores `band` `[N, C, r, W]` as rows `start ..< start+r`.
    public mutating func write(_ band: Tensor, at start: Int) {
        if precision == .float32 { return writeRows(band, into: &floats, at: start) }
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        let rows = band.shape[2]
        precondition(
            band.shape == [shape[0], shape[1], rows, w] && start >= 0 && start + rows <= h,
            "band \(band.shape) does not fit \(shape) at \(start)")
        band.scalars.withUnsafeBufferPointer { src in
            halves.withUnsafeMutableBufferPointer { dst in
                factors.withUnsafeMutableBufferPointer { factor in
                    let out = UncheckedSendable(dst.baseAddress!), scales = UncheckedSendable(factor.baseAddress!)
                    parallelFor(planes) { plane in
                        for row in 0..<rows {
                            scales.value[plane * h + start + row] = latent_f32_to_f16_scaled(
                                src.baseAddress! + (plane * rows + row) * w, out.value + (plane * h + start + row) * w, w)
                        }
                    }
                }
            }
        }
    }
}

/// A zero-filled tensor, written on all cores (whole-image activations of a decode are hundreds of MB; the
/// first write also takes their page faults).
func zeroedOnAllCores(_ shape: [Int]) -> Tensor {
    Tensor(uninitializedShape: shape) { out in
        let base = UncheckedSendable(out.baseAddress!)
        parallelRanges(out.count, grain: 1 << 18) { range in (base.value + range.lowerBound).update(repeating: 0, count: range.count) }
    }
}

/// Rows `start ..< start+count` of `x` `[N, C, H, W]`; rows outside the image are zeros.
public func rowBand(_ x: Tensor, start: Int, count: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let lo = max(start, 0), hi = min(start + count, h)
    return Tensor(uninitializedShape: [n, c, count, w]) { dst in
        x.scalars.withUnsafeBufferPointer { src in
            let (from, to) = (UncheckedSendable(src.baseAddress!), UncheckedSendable(dst.baseAddress!))
            // Planes split over the cores: a band of a 512² level is tens of MB.
            parallelRanges(n * c, grain: max(1, (1 << 16) / max(1, count * w))) { planes in
                for plane in planes {
                    let band = to.value + plane * count * w
                    guard hi > lo else {
                        band.update(repeating: 0, count: count * w)
                        continue
                    }
                    if lo > start { band.update(repeating: 0, count: (lo - start) * w) }
                    (band + (lo - start) * w).update(from: from.value + (plane * h + lo) * w, count: (hi - lo) * w)
                    if start + count > hi { (band + (hi - start) * w).update(repeating: 0, count: (start + count - hi) * w) }
                }
            }
        }
    }
}

/// Copies `band` `[N, C, r, W]` into rows `start ..< start+r` of `x`.
public func writeRows(_ band: Tensor, into x: inout Tensor, at start: Int) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let rows = band.shape[2]
    precondition(band.shape == [n, c, rows, w] && start >= 0 && start + rows <= h, "band \(band.shape) does not fit \(x.shape) at \(start)")
    band.scalars.withUnsafeBufferPointer { src in
        x.scalars.withUnsafeMutableBufferPointer { dst in
            let (from, to) = (UncheckedSendable(src.baseAddress!), UncheckedSendable(dst.baseAddress!))
            parallelRanges(n * c, grain: max(1, (1 << 16) / max(1, rows * w))) { planes in
                for plane in planes {
                    (to.value + (plane * h + start) * w).update(from: from.value + plane * rows * w, count: rows * w)
                }
            }
        }
    }
}

/// Zeroes the rows of a band (first row at image row `start`) that lie outside `0 ..< height`: after a
/// GroupNorm they must again equal the convolution's zero padding.
public func zeroRowsOutside(_ band: inout Tensor, start: Int, height: Int) {
    let (planes, rows, w) = (band.shape[0] * band.shape[1], band.shape[2], band.shape[3])
    let above = min(rows, max(0, -start)), below = min(rows, max(0, start + rows - height))
    guard above > 0 || below > 0 else { return }
    band.scalars.withUnsafeMutableBufferPointer { p in
        for plane in 0..<planes {
            let base = p.baseAddress! + plane * rows * w
            if above > 0 { base.update(repeating: 0, count: above * w) }
            if below > 0 { (base + (rows - below) * w).update(repeating: 0, count: below * w) }
        }
    }
}
