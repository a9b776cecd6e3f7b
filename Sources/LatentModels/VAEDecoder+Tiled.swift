import LatentCore

/// Tiled decoding: every layer after the mid block runs over full-width row bands (tiles) of the image,
/// so the large per-layer temporaries (normalised copies, convolution scratch) exist for one band at a time.
///
/// Seams cannot appear: each band carries one halo row above and below per 3×3 convolution (rows beyond
/// the image are zeros, exactly the convolution's own padding), and every GroupNorm uses statistics of the
/// whole image (`GroupNormStatistics`) instead of the band's. Bands all have the same height so each
/// convolution needs one oneDNN plan per level. The mid block (with its attention) runs untiled at latent
/// resolution, where it is small.
extension VAEDecoder {
    /// `[B, L, h, w] → [B, 3, 8h, 8w]`, banded so that one band holds about `bandElements` floats.
    func decodeTiled(_ z: Tensor, bandElements: Int) -> Tensor {
        var h = mid(convIn(z))  // [B, C, h, w]
        ProcessMemory.trace("vae mid (tiled)")
        for (i, level) in levels.enumerated() {
            for resnet in level.resnets { resnetInBands(resnet, &h, bandElements: bandElements) }
            if let upsampler = level.upsampler { h = upsampleInBands(upsampler, h, bandElements: bandElements) }
            // Band temporaries (≈ 16 MiB each) are served from the heap; give the level's back before the
            // next, larger level allocates its whole-image activations.
            ProcessMemory.releaseFreedMemory()
            ProcessMemory.trace("vae up \(i) (tiled)")
        }
        let statistics = GroupNormStatistics(h, groups: normOut.groups, epsilon: normOut.epsilon)
        return convolveInBands(h, outChannels: convOut.outChannels, bandElements: bandElements) { band, start, height in
            var normalised = groupNorm(band, statistics: statistics, weight: normOut.weight, bias: normOut.bias, applySiLU: true)
            zeroRowsOutside(&normalised, start: start, height: height)
            return convOut(normalised)
        }
    }

    /// A VAE `ResnetBlock2D` over row bands; `x` is replaced by the block's output (in place when the
    /// channel count is unchanged).
    private func resnetInBands(_ block: ResnetBlock2D, _ x: inout Tensor, bandElements: Int) {
        let first = GroupNormStatistics(x, groups: block.norm1.groups, epsilon: block.norm1.epsilon)
        var hidden = convolveInBands(x, outChannels: block.conv1.outChannels, bandElements: bandElements) { band, start, height in
            var normalised = groupNorm(band, statistics: first, weight: block.norm1.weight, bias: block.norm1.bias, applySiLU: true)
            zeroRowsOutside(&normalised, start: start, height: height)
            return block.conv1(normalised)
        }  // [B, Cout, H, W]
        let second = GroupNormStatistics(hidden, groups: block.norm2.groups, epsilon: block.norm2.epsilon)
        let rows = bandHeight(hidden, bandElements: bandElements)
        let height = hidden.shape[2]
        let outputShape = hidden.shape
        let sameShape = x.shape == hidden.shape && block.shortcut == nil
        // A block that narrows the channels (256 → 128 at the last level) writes its output into the front of
        // x's storage: output plane p, rows r…, sits at the offsets of x's plane p, rows r…, which this band's
        // residual has already copied and no later band reads (the decode's peak is this block: −¼ of it).
        let narrowing = !sameShape && hidden.count <= x.count
        var out = sameShape || narrowing ? Tensor(shape: [0], scalars: []) : Tensor(zeros: hidden.shape)
        var start = 0
        while start < height {
            var normalised = groupNorm(
                rowBand(hidden, start: start - 1, count: rows + 2), statistics: second, weight: block.norm2.weight,
                bias: block.norm2.bias, applySiLU: true)
            zeroRowsOutside(&normalised, start: start - 1, height: height)
            let valid = min(rows, height - start)
            var y = rowBand(block.conv2(normalised), start: 1, count: valid)  // [B, Cout, valid, W]
            let residual = rowBand(x, start: start, count: valid)
            y.add(block.shortcut.map { $0(residual) } ?? residual)
            // Band `start` of x is read only by this band's residual, so it may be overwritten now.
            if sameShape {
                writeRows(y, into: &x, at: start)
            } else if narrowing {
                writeRows(y, intoStorageOf: &x, height: height, at: start)
            } else {
                writeRows(y, into: &out, at: start)
            }
            start += rows
        }
        if narrowing {
            hidden = Tensor(shape: [0], scalars: [])  // free it before the copy below
            x = Tensor(shape: outputShape, scalars: Array(x.scalars.prefix(outputShape.reduce(1, *))))
        } else if !sameShape {
            x = out
        }
    }

    /// Nearest 2× upsampling and the following 3×3 convolution over row bands.
    private func upsampleInBands(_ upsampler: Upsample2D, _ x: Tensor, bandElements: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let rows = max(1, bandHeight(Tensor(zeros: [n, c, 1, 2 * w]), bandElements: bandElements) / 2)  // source rows
        var out = Tensor(zeros: [n, upsampler.conv.outChannels, 2 * h, 2 * w])
        var start = 0
        while start < h {
            // Source rows start-1 ..< start+rows+1 cover output rows 2·start-2 ..< 2·(start+rows)+2.
            let source = rowBand(x, start: start - 1, count: rows + 2)
            let upsampled = upsampleNearest(source, height: 2 * (rows + 2), width: 2 * w)
            var band = rowBand(upsampled, start: 1, count: 2 * rows + 2)  // output rows 2·start-1 ..< 2·(start+rows)+1
            zeroRowsOutside(&band, start: 2 * start - 1, height: 2 * h)
            writeRows(rowBand(upsampler.conv(band), start: 1, count: min(2 * rows, 2 * (h - start))), into: &out, at: 2 * start)
            start += rows
        }
        return out
    }

    /// Runs `body(band, bandStart, imageHeight)` on bands of `rows + 2` rows starting one row above each
    /// band (zeros beyond the image) and assembles the middle `rows` rows of each result.
    private func convolveInBands(
        _ x: Tensor, outChannels: Int, bandElements: Int, _ body: (Tensor, Int, Int) -> Tensor
    ) -> Tensor {
        let height = x.shape[2]
        let rows = bandHeight(x, bandElements: bandElements)
        var out = Tensor(zeros: [x.shape[0], outChannels, height, x.shape[3]])
        var start = 0
        while start < height {
            let result = body(rowBand(x, start: start - 1, count: rows + 2), start - 1, height)
            writeRows(rowBand(result, start: 1, count: min(rows, height - start)), into: &out, at: start)
            start += rows
        }
        return out
    }

    /// Band height for `x` `[N, C, H, W]`: equal bands of about `bandElements` floats, at least 8 rows.
    private func bandHeight(_ x: Tensor, bandElements: Int) -> Int {
        let height = x.shape[2], rowSize = x.shape[0] * x.shape[1] * x.shape[3]
        let target = max(8, bandElements / max(1, rowSize))
        let bands = max(1, (height + target - 1) / target)
        return (height + bands - 1) / bands
    }
}

/// Rows `start ..< start+count` of `x` `[N, C, H, W]`; rows outside the image are zeros.
func rowBand(_ x: Tensor, start: Int, count: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let lo = max(start, 0), hi = min(start + count, h)
    var band = Tensor(zeros: [n, c, count, w])
    guard hi > lo else { return band }
    x.scalars.withUnsafeBufferPointer { src in
        band.scalars.withUnsafeMutableBufferPointer { dst in
            for plane in 0..<(n * c) {
                (dst.baseAddress! + (plane * count + lo - start) * w)
                    .update(from: src.baseAddress! + (plane * h + lo) * w, count: (hi - lo) * w)
            }
        }
    }
    return band
}

/// Copies `band` `[N, C, r, W]` into rows `start ..< start+r` of `x`.
func writeRows(_ band: Tensor, into x: inout Tensor, at start: Int) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let rows = band.shape[2]
    precondition(band.shape == [n, c, rows, w] && start + rows <= h, "band \(band.shape) does not fit \(x.shape) at \(start)")
    band.scalars.withUnsafeBufferPointer { src in
        x.scalars.withUnsafeMutableBufferPointer { dst in
            for plane in 0..<(n * c) {
                (dst.baseAddress! + (plane * h + start) * w).update(from: src.baseAddress! + plane * rows * w, count: rows * w)
            }
        }
    }
}

/// Copies `band` `[N, C, r, W]` into rows `start ..< start+r` of an `[N, C, height, W]` tensor laid out at the
/// front of `x`'s storage (`x` holds at least that many floats; its shape is left alone).
func writeRows(_ band: Tensor, intoStorageOf x: inout Tensor, height: Int, at start: Int) {
    let (planes, rows, w) = (band.shape[0] * band.shape[1], band.shape[2], band.shape[3])
    precondition(planes * height * w <= x.count && start + rows <= height, "band \(band.shape) does not fit \(x.shape)")
    band.scalars.withUnsafeBufferPointer { src in
        x.scalars.withUnsafeMutableBufferPointer { dst in
            for plane in 0..<planes {
                (dst.baseAddress! + (plane * height + start) * w).update(from: src.baseAddress! + plane * rows * w, count: rows * w)
            }
        }
    }
}

/// Zeroes the rows of a band (first row at image row `start`) that lie outside `0 ..< height`: after a
/// GroupNorm they must again equal the convolution's zero padding.
func zeroRowsOutside(_ band: inout Tensor, start: Int, height: Int) {
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
