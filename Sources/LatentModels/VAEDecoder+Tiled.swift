import LatentCore

/// Tiled decoding: every layer after the mid block runs over full-width row bands (tiles) of the image,
/// so the large per-layer temporaries (normalised copies, convolution scratch) exist for one band at a time.
///
/// Seams cannot appear: each band carries one halo row above and below per 3×3 convolution (rows beyond
/// the image are zeros, exactly the convolution's own padding), and every GroupNorm uses statistics of the
/// whole image instead of the band's. Bands all have the same height so each convolution needs one oneDNN
/// plan per level. The mid block (with its attention) runs untiled at latent resolution, where it is small.
///
/// Between layers only whole-image activations remain: a block's input and its hidden state, into which its
/// output is then written. When those exceed the activation budget (2048² images) they are kept in fp16
/// (`ActivationStore`), and an upsampler whose 4× larger output would still not fit is not run on its own:
/// the next block recomputes its output band by band from the smaller input, once per pass.
extension VAEDecoder {
    /// `[B, L, h, w] → [B, 3, 8h, 8w]`, banded so that one band holds about `bandElements` floats, with
    /// whole-image activations kept within about `activationBudget` bytes when that is possible.
    func decodeTiled(_ z: Tensor, bandElements: Int, activationBudget: Int) -> Tensor {
        let channels = levels.compactMap { $0.resnets.last?.conv2.outChannels }
        let plan = TiledDecodePlan(levelChannels: channels, latent: (z.shape[0], z.shape[2], z.shape[3]), budget: activationBudget)
        return decodeTiled(z, bandElements: bandElements, plan: plan)
    }

    /// `decodeTiled` with a given plan (tests force each precision and fusion).
    func decodeTiled(_ z: Tensor, bandElements: Int, plan: TiledDecodePlan) -> Tensor {
        var h = ActivationStore(mid(convIn(z)), precision: plan.precision)  // [B, C, h, w]
        ProcessMemory.trace("vae mid (tiled, \(plan.precision), fused upsamplers \(plan.fusedLevels.sorted()))")
        var pending: Upsample2D?
        for (i, level) in levels.enumerated() {
            for resnet in level.resnets {
                let source = pending.map { BandSource.upsampled($0, h) } ?? .stored(h)
                pending = nil
                h = resnetInBands(resnet, source, bandElements: bandElements)
            }
            if let upsampler = level.upsampler {
                if plan.fusedLevels.contains(i) {
                    pending = upsampler
                } else {
                    h = materialize(.upsampled(upsampler, h), bandElements: bandElements)
                }
            }
            // Band temporaries are served from the heap; give the level's back before the next, larger
            // level allocates its whole-image activations.
            ProcessMemory.releaseFreedMemory()
            ProcessMemory.trace("vae up \(i) (tiled)")
        }
        if let pending { h = materialize(.upsampled(pending, h), bandElements: bandElements) }
        let source = BandSource.stored(h)
        let (height, rows) = (h.shape[2], bandHeight(h.shape, bandElements))
        let statistics = source.statistics(groups: normOut.groups, epsilon: normOut.epsilon, rows: rows)
        var out = Tensor(zeros: [h.shape[0], convOut.outChannels, height, h.shape[3]])
        for start in stride(from: 0, to: height, by: rows) {
            var normalised = groupNorm(
                source.rows(start: start - 1, count: rows + 2), statistics: statistics, weight: normOut.weight,
                bias: normOut.bias, applySiLU: true)
            zeroRowsOutside(&normalised, start: start - 1, height: height)
            writeRows(rowBand(convOut(normalised), start: 1, count: min(rows, height - start)), into: &out, at: start)
        }
        return out
    }

    /// A VAE `ResnetBlock2D` over row bands: the hidden state is stored whole (its GroupNorm needs the
    /// whole image's statistics), and the block's output is written over it one band behind the reads.
    private func resnetInBands(_ block: ResnetBlock2D, _ source: BandSource, bandElements: Int) -> ActivationStore {
        // The previous block's pooled convolution buffers must not sit next to this block's new activation.
        ProcessMemory.releaseScratchBuffers()
        let (n, height, width) = (source.shape[0], source.shape[2], source.shape[3])
        let rows = bandHeight([n, max(source.shape[1], block.conv1.outChannels), height, width], bandElements)
        let first = source.statistics(groups: block.norm1.groups, epsilon: block.norm1.epsilon, rows: rows)
        var hidden = ActivationStore(zeros: [n, block.conv1.outChannels, height, width], precision: source.precision)
        var second = GroupNormStatistics.Accumulator(groups: block.norm2.groups, epsilon: block.norm2.epsilon)
        for start in stride(from: 0, to: height, by: rows) {
            var normalised = groupNorm(
                source.rows(start: start - 1, count: rows + 2), statistics: first, weight: block.norm1.weight,
                bias: block.norm1.bias, applySiLU: true)
            zeroRowsOutside(&normalised, start: start - 1, height: height)
            let y = rowBand(block.conv1(normalised), start: 1, count: min(rows, height - start))  // [B, Cout, ≤rows, W]
            second.add(y)  // from the fp32 values, before any fp16 rounding
            hidden.write(y, at: start)
        }
        let statistics = second.statistics
        var pending: (band: Tensor, start: Int)?
        for start in stride(from: 0, to: height, by: rows) {
            let band = hidden.rows(start: start - 1, count: rows + 2)
            // The previous band's output may replace its hidden rows only now: this band's halo read the last one.
            if let pending { hidden.write(pending.band, at: pending.start) }
            var normalised = groupNorm(band, statistics: statistics, weight: block.norm2.weight, bias: block.norm2.bias, applySiLU: true)
            zeroRowsOutside(&normalised, start: start - 1, height: height)
            let valid = min(rows, height - start)
            var y = rowBand(block.conv2(normalised), start: 1, count: valid)
            let residual = source.rows(start: start, count: rows)  // whole bands: one shortcut plan
            y.add(leadingRows(block.shortcut.map { $0(residual) } ?? residual, valid))
            pending = (y, start)
        }
        if let pending { hidden.write(pending.band, at: pending.start) }
        return hidden
    }

    /// Stores `source` whole (an upsampler's output when it fits the budget).
    private func materialize(_ source: BandSource, bandElements: Int) -> ActivationStore {
        ProcessMemory.releaseScratchBuffers()
        let height = source.shape[2], rows = bandHeight(source.shape, bandElements)
        var out = ActivationStore(zeros: source.shape, precision: source.precision)
        for start in stride(from: 0, to: height, by: rows) {
            out.write(leadingRows(source.rows(start: start, count: rows), min(rows, height - start)), at: start)
        }
        return out
    }

    /// Band height for an activation of `shape` `[N, C, H, W]`: equal bands of about `bandElements` floats,
    /// at least 8 rows, even (so an upsampled source always starts on the same row parity: one plan).
    private func bandHeight(_ shape: [Int], _ bandElements: Int) -> Int {
        let height = shape[2], rowSize = shape[0] * shape[1] * shape[3]
        let target = max(8, bandElements / max(1, rowSize))
        let bands = max(1, (height + target - 1) / target)
        let rows = (height + bands - 1) / bands
        return rows + rows % 2
    }
}

/// Where a banded layer's input rows come from.
enum BandSource {
    /// A stored whole-image activation.
    case stored(ActivationStore)
    /// `upsampler(x)` for the stored `x`, recomputed for each band requested (`[N, C, 2H, 2W]`).
    case upsampled(Upsample2D, ActivationStore)

    /// `[N, C, H, W]` of the rows served.
    var shape: [Int] {
        switch self {
        case .stored(let x): x.shape
        case .upsampled(let upsampler, let x): [x.shape[0], upsampler.conv.outChannels, 2 * x.shape[2], 2 * x.shape[3]]
        }
    }

    var precision: ActivationStore.Precision {
        switch self {
        case .stored(let x), .upsampled(_, let x): x.precision
        }
    }

    /// Rows `start ..< start+count` `[N, C, count, W]`, zeros outside the image.
    func rows(start: Int, count: Int) -> Tensor {
        switch self {
        case .stored(let x):
            return x.rows(start: start, count: count)
        case .upsampled(let upsampler, let x):
            // Output rows start ..< start+count need upsampled rows start-1 ... start+count (3×3, padding 1),
            // which repeat source rows ⌊(start-1)/2⌋ ... ⌊(start+count)/2⌋; rows beyond the source are zeros,
            // so upsampled rows beyond the image are the convolution's zero padding.
            let first = floorHalf(start - 1), last = floorHalf(start + count)
            let source = x.rows(start: first, count: last - first + 1)  // [N, C, s, W/2]
            let input = upsampleRows(source, firstRow: first, start: start - 1, count: count + 2)  // [N, C, count+2, W]
            var band = rowBand(upsampler.conv(input), start: 1, count: count)
            zeroRowsOutside(&band, start: start, height: 2 * x.shape[2])
            return band
        }
    }

    /// Whole-image GroupNorm statistics: directly for an fp32 store, else gathered band by band.
    func statistics(groups: Int, epsilon: Float, rows: Int) -> GroupNormStatistics {
        if case .stored(let x) = self, x.precision == .float32 {
            return GroupNormStatistics(x.tensor(), groups: groups, epsilon: epsilon)
        }
        var accumulator = GroupNormStatistics.Accumulator(groups: groups, epsilon: epsilon)
        let height = shape[2]
        for start in stride(from: 0, to: height, by: rows) {
            accumulator.add(leadingRows(self.rows(start: start, count: rows), min(rows, height - start)))
        }
        return accumulator.statistics
    }

    private func floorHalf(_ value: Int) -> Int { value >= 0 ? value / 2 : -((1 - value) / 2) }

    /// Rows `start ..< start+count` of the nearest 2× upsampling of an image of which `source`
    /// `[N, C, s, w]` holds rows `firstRow ..< firstRow+s`: `[N, C, count, 2w]`.
    private func upsampleRows(_ source: Tensor, firstRow: Int, start: Int, count: Int) -> Tensor {
        let (n, c, s, w) = (source.shape[0], source.shape[1], source.shape[2], source.shape[3])
        precondition(floorHalf(start) >= firstRow && floorHalf(start + count - 1) < firstRow + s, "source rows do not cover the band")
        return Tensor(uninitializedShape: [n, c, count, 2 * w]) { out in
            source.scalars.withUnsafeBufferPointer { src in
                parallelFor(n * c) { plane in
                    for row in 0..<count {
                        let from = src.baseAddress! + (plane * s + floorHalf(start + row) - firstRow) * w
                        let to = out.baseAddress! + (plane * count + row) * 2 * w
                        for i in 0..<w {
                            to[2 * i] = from[i]
                            to[2 * i + 1] = from[i]
                        }
                    }
                }
            }
        }
    }
}

/// The first `count` rows of `band` `[N, C, r, W]` (the band itself when that is all of it).
private func leadingRows(_ band: Tensor, _ count: Int) -> Tensor {
    count == band.shape[2] ? band : rowBand(band, start: 0, count: count)
}

/// Which precision a tiled decode keeps its whole-image activations in, and which upsamplers it fuses into
/// the following block: fp32 and nothing fused when that fits the budget; otherwise fp16, and then the
/// upsamplers whose stored output would still break the budget are recomputed per band instead.
struct TiledDecodePlan {
    let precision: ActivationStore.Precision
    /// Indices of the levels whose upsampler is recomputed by the next level's first block.
    let fusedLevels: Set<Int>

    init(precision: ActivationStore.Precision, fusedLevels: Set<Int>) {
        self.precision = precision
        self.fusedLevels = fusedLevels
    }

    /// The plan for a decoder whose levels output `levelChannels` channels (diffusers' reversed
    /// `block_out_channels`; every level but the last upsamples 2×), for `[B, L, h, w]` latents.
    init(levelChannels: [Int], latent: (batch: Int, height: Int, width: Int), budget: Int) {
        // Per level: elements of its first block's input, of its output, and of its upsampled output (0: none).
        var (channels, h, w) = (levelChannels.first ?? 0, latent.height, latent.width)
        let levels = levelChannels.enumerated().map { i, levelOutput in
            let input = latent.batch * channels * h * w
            channels = levelOutput
            let output = latent.batch * channels * h * w
            guard i < levelChannels.count - 1 else { return (inputElements: input, outputElements: output, upsampledElements: 0) }
            (h, w) = (2 * h, 2 * w)
            return (inputElements: input, outputElements: output, upsampledElements: latent.batch * channels * h * w)
        }
        // Whole-image elements held at once with nothing fused: a block holds its input and its hidden state
        // (later its output); a stored upsampling holds its input and output.
        let peakElements = levels.map { level in
            max(level.inputElements + level.outputElements, 2 * level.outputElements, level.outputElements + level.upsampledElements)
        }.max() ?? 0
        if 4 * peakElements <= budget {
            (precision, fusedLevels) = (.float32, [])
            return
        }
        var fused = Set<Int>()
        for (i, level) in levels.enumerated() where level.upsampledElements > 0 {
            let stored = level.upsampledElements + max(level.outputElements, levels[i + 1].outputElements)
            if 2 * stored > budget { fused.insert(i) }
        }
        (precision, fusedLevels) = (.float16, fused)
    }
}
