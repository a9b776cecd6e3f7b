import CLatentKernels
import Foundation

extension Tensor {
    /// Applies `f` to every element.
    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor {
        Tensor(uninitializedShape: shape) { out in
            scalars.withUnsafeBufferPointer { src in
                for i in 0..<src.count { out[i] = f(src[i]) }
            }
        }
    }

    /// Combines two tensors of the same shape element by element.
    @inlinable
    public func zip(_ other: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "elementwise shapes \(shape) and \(other.shape) differ")
        return Tensor(uninitializedShape: shape) { out in
            scalars.withUnsafeBufferPointer { a in
                other.scalars.withUnsafeBufferPointer { b in
                    for i in 0..<a.count { out[i] = f(a[i], b[i]) }
                }
            }
        }
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zip(rhs, +) }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zip(rhs, -) }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zip(rhs, *) }
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 * rhs } }
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.map { lhs * $0 } }
    public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 / rhs } }

    /// Adds `other` in place (same shape).
    public mutating func add(_ other: Tensor) {
        precondition(shape == other.shape, "elementwise shapes \(shape) and \(other.shape) differ")
        LayerProfile.measure("add") {
            other.scalars.withUnsafeBufferPointer { b in
                scalars.withUnsafeMutableBufferPointer { a in
                    let (ab, bb) = (UncheckedSendable(a.baseAddress!), UncheckedSendable(b.baseAddress!))
                    parallelRanges(a.count, grain: 1 << 16) { r in
                        latent_add(ab.value + r.lowerBound, bb.value + r.lowerBound, r.count)
                    }
                }
            }
        }
    }

    /// Adds a per-channel vector to `[N, C, ...]` in place.
    public mutating func addChannelBias(_ bias: Tensor) {
        let n = shape[0], c = shape[1]
        precondition(bias.count == c, "channel bias of \(bias.count) for \(c) channels")
        addPlaneValues(count: n * c) { bias.scalars[$0 % c] }
    }

    /// Adds `value(i)` to every element of plane `i`, the tensor viewed as `planes` equal contiguous planes
    /// (e.g. `[N·C, H·W]` for a per-sample, per-channel bias).
    public mutating func addPlaneValues(count planes: Int, _ value: (Int) -> Float) {
        let spatial = count / planes
        let values = (0..<planes).map(value)
        scalars.withUnsafeMutableBufferPointer { a in
            let base = UncheckedSendable(a.baseAddress!)
            parallelRanges(planes, grain: max(1, (1 << 16) / max(1, spatial))) { r in
                for i in r { latent_add_scalar(base.value + i * spatial, values[i], spatial) }
            }
        }
    }

    /// Sums over the outermost dimension `[B, ...] → [...]` is not needed; this returns one batch item.
    /// - Returns: item `index` of `[B, ...]` as `[1, ...]`.
    public func batchItem(_ index: Int) -> Tensor {
        let per = count / shape[0]
        return Tensor(shape: [1] + shape.dropFirst(), scalars: Array(scalars[(index * per)..<((index + 1) * per)]))
    }
}

/// SiLU, `x · sigmoid(x)`.
public func silu(_ x: Tensor) -> Tensor {
    Tensor(uninitializedShape: x.shape) { out in
        x.scalars.withUnsafeBufferPointer { src in
            parallelRanges(src.count, grain: 1 << 15) { r in
                latent_silu(src.baseAddress! + r.lowerBound, out.baseAddress! + r.lowerBound, r.count)
            }
        }
    }
}

/// GELU with the exact erf form (PyTorch's default `approximate="none"`).
public func gelu(_ x: Tensor) -> Tensor { x.map { 0.5 * $0 * (1 + erff($0 * 0.70710678118654752)) } }

/// CLIP's quick GELU, `x · sigmoid(1.702 x)`.
public func quickGelu(_ x: Tensor) -> Tensor { x.map { $0 / (1 + expf(-1.702 * $0)) } }

/// GEGLU gate: splits `[..., 2F]` into value and gate halves and returns `value · gelu(gate)` `[..., F]`.
public func geglu(_ x: Tensor) -> Tensor {
    guard let width = x.shape.last, width % 2 == 0 else { preconditionFailure("geglu needs an even last dimension, got \(x.shape)") }
    let f = width / 2, rows = x.count / width
    var shape = x.shape
    shape[shape.count - 1] = f
    return LayerProfile.measure("geglu") {
        Tensor(uninitializedShape: shape) { out in
            x.scalars.withUnsafeBufferPointer { src in
                parallelRanges(rows, grain: 16) { r in
                    latent_geglu_rows(src.baseAddress! + r.lowerBound * width, out.baseAddress! + r.lowerBound * f, r.count, f)
                }
            }
        }
    }
}

/// Concatenates `[N, C_i, ...]` tensors along the channel dimension.
public func concatChannels(_ parts: [Tensor]) -> Tensor {
    guard let first = parts.first else { preconditionFailure("concatChannels of nothing") }
    let n = first.shape[0]
    let spatial = first.count / (n * first.shape[1])
    let channels = parts.reduce(0) { total, part in
        precondition(part.shape[0] == n && part.shape.dropFirst(2) == first.shape.dropFirst(2),
                     "concatChannels shapes \(part.shape) and \(first.shape) disagree")
        return total + part.shape[1]
    }
    var shape = first.shape
    shape[1] = channels
    return LayerProfile.measure("concat") { Tensor(uninitializedShape: shape) { out in
        var offset = 0
        for b in 0..<n {
            for part in parts {
                let len = part.shape[1] * spatial
                part.scalars.withUnsafeBufferPointer { src in
                    (out.baseAddress! + offset).update(from: src.baseAddress! + b * len, count: len)
                }
                offset += len
            }
        }
    } }
}

/// Concatenates tensors along the batch (outermost) dimension.
public func concatBatch(_ parts: [Tensor]) -> Tensor {
    guard let first = parts.first else { preconditionFailure("concatBatch of nothing") }
    for part in parts { precondition(part.shape.dropFirst() == first.shape.dropFirst(), "concatBatch shapes disagree") }
    return Tensor(shape: [parts.reduce(0) { $0 + $1.shape[0] }] + first.shape.dropFirst(),
                  scalars: parts.flatMap(\.scalars))
}

/// Nearest-neighbour upsampling of `[N, C, H, W]` to `[N, C, outH, outW]` (PyTorch `mode="nearest"`).
public func upsampleNearest(_ x: Tensor, height outH: Int, width outW: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return Tensor(uninitializedShape: [n, c, outH, outW]) { out in
        x.scalars.withUnsafeBufferPointer { src in
            // PyTorch's nearest index: floor(dst · in / out) computed in float.
            let scaleY = Float(h) / Float(outH), scaleX = Float(w) / Float(outW)
            let xs = (0..<outW).map { min(Int(Float($0) * scaleX), w - 1) }
            for plane in 0..<(n * c) {
                let s = src.baseAddress! + plane * h * w
                let d = out.baseAddress! + plane * outH * outW
                for oy in 0..<outH {
                    let row = s + min(Int(Float(oy) * scaleY), h - 1) * w
                    let drow = d + oy * outW
                    for ox in 0..<outW { drow[ox] = row[xs[ox]] }
                }
            }
        }
    }
}

/// `[N, C, H, W] → [N, H·W, C]`, the token layout of attention blocks.
public func channelsToTokens(_ x: Tensor) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let hw = h * w
    return LayerProfile.measure("channels→tokens") { Tensor(uninitializedShape: [n, hw, c]) { out in
        x.scalars.withUnsafeBufferPointer { src in
            // [C, HW] → [HW, C] per item, tiles split over the cores by channel blocks of 32.
            parallelFor(n * ((c + 31) / 32)) { job in
                let b = job / ((c + 31) / 32), c0 = (job % ((c + 31) / 32)) * 32, cs = min(32, c - c0)
                let s = src.baseAddress! + b * c * hw + c0 * hw, d = out.baseAddress! + b * c * hw + c0
                for p0 in stride(from: 0, to: hw, by: 64) {
                    let ps = min(64, hw - p0)
                    for ch in 0..<cs { for p in p0..<(p0 + ps) { d[p * c + ch] = s[ch * hw + p] } }
                }
            }
        }
    } }
}

/// `[N, H·W, C] → [N, C, H, W]`, the inverse of `channelsToTokens`.
public func tokensToChannels(_ x: Tensor, height h: Int, width w: Int) -> Tensor {
    let (n, hw, c) = (x.shape[0], x.shape[1], x.shape[2])
    precondition(hw == h * w, "tokensToChannels: \(hw) tokens for \(h)×\(w)")
    return LayerProfile.measure("tokens→channels") { Tensor(uninitializedShape: [n, c, h, w]) { out in
        x.scalars.withUnsafeBufferPointer { src in
            // [HW, C] → [C, HW] per item, split over the cores by channel blocks of 32.
            parallelFor(n * ((c + 31) / 32)) { job in
                let b = job / ((c + 31) / 32), c0 = (job % ((c + 31) / 32)) * 32, cs = min(32, c - c0)
                let s = src.baseAddress! + b * c * hw + c0, d = out.baseAddress! + b * c * hw + c0 * hw
                for p0 in stride(from: 0, to: hw, by: 64) {
                    let ps = min(64, hw - p0)
                    for ch in 0..<cs { for p in p0..<(p0 + ps) { d[ch * hw + p] = s[p * c + ch] } }
                }
            }
        }
    } }
}
