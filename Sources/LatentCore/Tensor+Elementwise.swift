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
        other.scalars.withUnsafeBufferPointer { b in
            scalars.withUnsafeMutableBufferPointer { a in
                for i in 0..<a.count { a[i] += b[i] }
            }
        }
    }

    /// Adds a per-channel vector to `[N, C, ...]` in place.
    public mutating func addChannelBias(_ bias: Tensor) {
        let n = shape[0], c = shape[1]
        precondition(bias.count == c, "channel bias of \(bias.count) for \(c) channels")
        let spatial = count / (n * c)
        bias.scalars.withUnsafeBufferPointer { b in
            scalars.withUnsafeMutableBufferPointer { a in
                for i in 0..<(n * c) {
                    let v = b[i % c]
                    for j in 0..<spatial { a[i * spatial + j] += v }
                }
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
public func silu(_ x: Tensor) -> Tensor { x.map { $0 / (1 + expf(-$0)) } }

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
    return Tensor(uninitializedShape: shape) { out in
        x.scalars.withUnsafeBufferPointer { src in
            for r in 0..<rows {
                let s = src.baseAddress! + r * width
                let o = out.baseAddress! + r * f
                for i in 0..<f {
                    let g = s[f + i]
                    o[i] = s[i] * (0.5 * g * (1 + erff(g * 0.70710678118654752)))
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
    return Tensor(uninitializedShape: shape) { out in
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
    }
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
    return Tensor(uninitializedShape: [n, hw, c]) { out in
        x.scalars.withUnsafeBufferPointer { src in
            for b in 0..<n {
                let s = src.baseAddress! + b * c * hw, d = out.baseAddress! + b * c * hw
                for ch in 0..<c { for p in 0..<hw { d[p * c + ch] = s[ch * hw + p] } }
            }
        }
    }
}

/// `[N, H·W, C] → [N, C, H, W]`, the inverse of `channelsToTokens`.
public func tokensToChannels(_ x: Tensor, height h: Int, width w: Int) -> Tensor {
    let (n, hw, c) = (x.shape[0], x.shape[1], x.shape[2])
    precondition(hw == h * w, "tokensToChannels: \(hw) tokens for \(h)×\(w)")
    return Tensor(uninitializedShape: [n, c, h, w]) { out in
        x.scalars.withUnsafeBufferPointer { src in
            for b in 0..<n {
                let s = src.baseAddress! + b * c * hw, d = out.baseAddress! + b * c * hw
                for p in 0..<hw { for ch in 0..<c { d[ch * hw + p] = s[p * c + ch] } }
            }
        }
    }
}
