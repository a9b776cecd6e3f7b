import CLatentKernels
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
                        let firstChannel = (job % groups) * channelsPerGroup
                        latent_group_norm_group(
                            xp.baseAddress! + job * groupSize, out.baseAddress! + job * groupSize, channelsPerGroup,
                            spatial, wp.baseAddress! + firstChannel, bp.baseAddress! + firstChannel, epsilon,
                            applySiLU ? 1 : 0)
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
                    parallelRanges(rows, grain: 64) { range in
                        latent_layer_norm_rows(
                            xp.baseAddress! + range.lowerBound * d, out.baseAddress! + range.lowerBound * d, range.count,
                            d, wp.baseAddress!, bp.baseAddress!, epsilon)
                    }
                }
            }
        }
    }
}

/// Per-(sample, group) statistics of a GroupNorm input, computed once over the whole image so that a
/// tiled computation normalises every tile alike (per-tile statistics are what causes seams).
public struct GroupNormStatistics: Sendable {
    /// `[N · groups]`
    public let mean: [Float]
    /// `1 / sqrt(var + ε)`, `[N · groups]`
    public let inverseStd: [Float]
    /// The group count they were computed for.
    public let groups: Int

    /// Computes the statistics of `x` `[N, C, ...]` exactly as `groupNorm` does.
    public init(_ x: Tensor, groups: Int, epsilon: Float) {
        var accumulator = Accumulator(groups: groups, epsilon: epsilon)
        accumulator.add(x)
        self = accumulator.statistics
    }

    init(mean: [Float], inverseStd: [Float], groups: Int) {
        self.mean = mean
        self.inverseStd = inverseStd
        self.groups = groups
    }

    /// Statistics gathered band by band, for an image that never exists whole: each `[N, C, rows, W]` band
    /// adds its sums (in double, like `init(_:groups:epsilon:)`), and `statistics` gives what that
    /// initialiser would have given for the whole image, up to the order of the double additions.
    public struct Accumulator: Sendable {
        let groups: Int
        let epsilon: Float
        private var sums: [Double] = []
        private var squares: [Double] = []
        private var count = 0

        public init(groups: Int, epsilon: Float) {
            self.groups = groups
            self.epsilon = epsilon
        }

        /// Adds the values of `band` `[N, C, ...]`; every band must have the same N and C.
        public mutating func add(_ band: Tensor) {
            let n = band.shape[0], c = band.shape[1]
            precondition(c % groups == 0, "groupNorm: \(groups) groups do not divide \(c) channels")
            if sums.isEmpty {
                sums = [Double](repeating: 0, count: n * groups)
                squares = sums
            }
            precondition(sums.count == n * groups, "band \(band.shape) does not match the earlier bands")
            let groupSize = band.count / (n * groups)
            var bandSums = [Double](repeating: 0, count: n * groups), bandSquares = bandSums
            bandSums.withUnsafeMutableBufferPointer { sp in
                bandSquares.withUnsafeMutableBufferPointer { qp in
                    band.scalars.withUnsafeBufferPointer { xp in
                        let s = UncheckedSendable(sp.baseAddress!), q = UncheckedSendable(qp.baseAddress!)
                        parallelFor(n * groups) { job in
                            latent_group_moments(xp.baseAddress! + job * groupSize, groupSize, s.value + job, q.value + job)
                        }
                    }
                }
            }
            for job in 0..<(n * groups) {
                sums[job] += bandSums[job]
                squares[job] += bandSquares[job]
            }
            count += groupSize
        }

        /// The statistics of all bands added so far.
        public var statistics: GroupNormStatistics {
            var mean = [Float](repeating: 0, count: sums.count), inv = mean
            for job in sums.indices {
                latent_group_statistics_from_moments(sums[job], squares[job], Double(count), epsilon, &mean[job], &inv[job])
            }
            return GroupNormStatistics(mean: mean, inverseStd: inv, groups: groups)
        }
    }
}

/// GroupNorm of `x` `[N, C, ...]` (any spatial part of an image) with statistics of the whole image.
public func groupNorm(
    _ x: Tensor, statistics: GroupNormStatistics, weight: Tensor, bias: Tensor, applySiLU: Bool = false
) -> Tensor {
    let n = x.shape[0], c = x.shape[1], groups = statistics.groups
    precondition(statistics.mean.count == n * groups, "statistics for \(statistics.mean.count) groups, input \(x.shape)")
    let channelsPerGroup = c / groups
    let groupSize = channelsPerGroup * (x.count / max(1, n * c))
    return Tensor(uninitializedShape: x.shape) { out in
        x.scalars.withUnsafeBufferPointer { xp in
            weight.scalars.withUnsafeBufferPointer { wp in
                bias.scalars.withUnsafeBufferPointer { bp in
                    parallelFor(n * groups) { job in
                        let firstChannel = (job % groups) * channelsPerGroup
                        latent_group_norm_apply(
                            xp.baseAddress! + job * groupSize, out.baseAddress! + job * groupSize, channelsPerGroup,
                            groupSize / max(1, channelsPerGroup), wp.baseAddress! + firstChannel,
                            bp.baseAddress! + firstChannel, statistics.mean[job], statistics.inverseStd[job],
                            applySiLU ? 1 : 0)
                    }
                }
            }
        }
    }
}
