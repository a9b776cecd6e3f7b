import Foundation
import LatentCore
import Testing

/// Whole-image activations kept for banded computations, and GroupNorm statistics gathered band by band.
@Suite("Activation store")
struct ActivationStoreTests {
    /// `[1, 3, 10, 37]` random values, each plane row scaled by a different power of ten (1e-6 … 1e7):
    /// past half precision's range at both ends.
    static func wideRangeActivation() -> Tensor {
        var x = TorchCPURandomSource(seed: 11).normal(shape: [1, 3, 10, 37])
        x.scalars.withUnsafeMutableBufferPointer { p in
            for row in 0..<30 {
                let scale = Float(pow(10.0, Double(row % 14) - 6))
                for i in 0..<37 { p[row * 37 + i] *= scale }
            }
        }
        return x
    }

    @Test func float32RowsAreExactAndZeroOutside() {
        let x = Self.wideRangeActivation()
        var store = ActivationStore(zeros: x.shape, precision: .float32)
        store.write(rowBand(x, start: 4, count: 6), at: 4)
        store.write(rowBand(x, start: 0, count: 4), at: 0)
        #expect(store.tensor().scalars == x.scalars)
        let band = store.rows(start: -2, count: 5)  // two rows above the image, then rows 0…2
        #expect(band.shape == [1, 3, 5, 37])
        #expect(band.scalars == rowBand(x, start: -2, count: 5).scalars)
        #expect(rowBand(band, start: 0, count: 2).scalars.allSatisfy { $0 == 0 })
    }

    @Test func float16RowsKeepHalfPrecisionRelativeToTheirPeak() {
        let x = Self.wideRangeActivation()
        let store = ActivationStore(x, precision: .float16)
        #expect(store.byteCount == 2 * x.count)
        let back = store.rows(start: 0, count: 10)
        for row in 0..<30 {
            let original = x.scalars[(row * 37)..<(row * 37 + 37)], restored = back.scalars[(row * 37)..<(row * 37 + 37)]
            let peak = original.map(abs).max() ?? 0
            let worst = zip(original, restored).map { abs($0 - $1) }.max() ?? 0
            let bound = peak * 0x1p-11, finite = restored.allSatisfy { $0.isFinite }
            #expect(worst <= bound, "row \(row): error \(worst) at peak \(peak)")
            #expect(finite)
        }
        let outside = store.rows(start: 9, count: 3)  // row 9, then two rows below the image
        #expect(rowBand(outside, start: 1, count: 2).scalars.allSatisfy { $0 == 0 })
        #expect(rowBand(outside, start: 0, count: 1).scalars == rowBand(back, start: 9, count: 1).scalars)
    }

    @Test func bandedStatisticsEqualWholeImage() {
        let x = TorchCPURandomSource(seed: 12).normal(shape: [2, 8, 13, 9]).map { $0 + 3 }
        let whole = GroupNormStatistics(x, groups: 4, epsilon: 1e-6)
        var accumulator = GroupNormStatistics.Accumulator(groups: 4, epsilon: 1e-6)
        for (start, count) in [(0, 5), (5, 1), (6, 7)] { accumulator.add(rowBand(x, start: start, count: count)) }
        let banded = accumulator.statistics
        #expect(banded.groups == 4)
        for i in 0..<8 {
            #expect(abs(banded.mean[i] - whole.mean[i]) <= 1e-6 * abs(whole.mean[i]))
            #expect(abs(banded.inverseStd[i] - whole.inverseStd[i]) <= 1e-6 * whole.inverseStd[i])
        }
    }
}
