import Foundation

/// Group normalisation (PyTorch `nn.GroupNorm`), optionally followed by SiLU.
///
/// Statistics are accumulated in double so large groups (a 512² VAE plane) lose no precision.
/// - Parameters:
///   - x: `[N, C, ...]`
///   - groups: The number of channel groups; must divide `C`.
///   - weight: `[C]` scale.
///   - bias: `[C]` shift.
///   - epsilon: Added to the variance.
///   - applySiLU: Fuse `x · sigmoid(x)` into the output pass.
/// - Returns: The same shape as `x`.
public func groupNorm(
    _ x: Tensor, groups: Int, weight: Tensor, bias: Tensor, epsilon: Float, applySiLU: Bool = false
) -> Tensor {
    precondition(x.rank >= 2, "groupNorm input must have a channel dimension, got \(x.shape)")
    let n = x.shape[0], c = x.shape[1]
    precondition(c % groups == 0, "groupNorm: \(groups) groups do not divide \(c) channels")
    precondition(weight.count == c && bias.count == c, "groupNorm affine parameters must have \(c) elements")
    let spatial = x.count / (n * c)
    let channelsPerGroup = c / groups
    let groupSize = channelsPerGroup * spatial
    return Tensor(uninitializedShape: x.shape) { out in
        x.scalars.withUnsafeBufferPointer { xp in
            weight.scalars.withUnsafeBufferPointer { wp in
                bias.scalars.withUnsafeBufferPointer { bp in
                    parallelFor(n * groups) { job in
                        let base = job * groupSize
                        let src = xp.baseAddress! + base
                        var sum = 0.0, sumSq = 0.0
                        for i in 0..<groupSize {
                            let v = Double(src[i])
                            sum += v
                            sumSq += v * v
                        }
                        let mean = sum / Double(groupSize)
                        let variance = max(0, sumSq / Double(groupSize) - mean * mean)
                        let invStd = Float(1 / (variance + Double(epsilon)).squareRoot())
                        let meanF = Float(mean)
                        let firstChannel = (job % groups) * channelsPerGroup
                        for cc in 0..<channelsPerGroup {
                            let scale = wp[firstChannel + cc] * invStd
                            let shift = bp[firstChannel + cc] - meanF * scale
                            let s = src + cc * spatial
                            let d = out.baseAddress! + base + cc * spatial
                            if applySiLU {
                                for i in 0..<spatial {
                                    let v = s[i] * scale + shift
                                    d[i] = v / (1 + expf(-v))
                                }
                            } else {
                                for i in 0..<spatial { d[i] = s[i] * scale + shift }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Layer normalisation over the last dimension (PyTorch `nn.LayerNorm`).
/// - Parameters:
///   - x: `[..., D]`
///   - weight: `[D]`
///   - bias: `[D]`
///   - epsilon: Added to the variance.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, epsilon: Float) -> Tensor {
    guard let d = x.shape.last else { preconditionFailure("layerNorm of a scalar") }
    precondition(weight.count == d && bias.count == d, "layerNorm parameters must have \(d) elements")
    let rows = x.count / d
    return Tensor(uninitializedShape: x.shape) { out in
        x.scalars.withUnsafeBufferPointer { xp in
            weight.scalars.withUnsafeBufferPointer { wp in
                bias.scalars.withUnsafeBufferPointer { bp in
                    for r in 0..<rows {
                        let s = xp.baseAddress! + r * d
                        let o = out.baseAddress! + r * d
                        var sum = 0.0
                        for i in 0..<d { sum += Double(s[i]) }
                        let mean = sum / Double(d)
                        var sq = 0.0
                        for i in 0..<d {
                            let t = Double(s[i]) - mean
                            sq += t * t
                        }
                        let invStd = Float(1 / (sq / Double(d) + Double(epsilon)).squareRoot())
                        let meanF = Float(mean)
                        for i in 0..<d { o[i] = (s[i] - meanF) * invStd * wp[i] + bp[i] }
                    }
                }
            }
        }
    }
}
