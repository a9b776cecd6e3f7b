import CLatentKernels
import Foundation

/// Reusable fp32 buffers into which narrow (fp16/bf16) weights are widened just before a layer uses them.
///
/// Why a pool: a fresh weight-sized allocation per call is served by `mmap` and page-faulted in on every
/// call (for the UNet's largest convolution, 118 MB per call), which cost more than the widening itself.
/// A buffer taken from the pool is already resident. Buffers grow and are kept until `releaseAll` (a phase
/// boundary) unless far larger than a request: freeing them whenever a 4× smaller layer ran (wave 4) and
/// faulting them in again a few layers later was 80 % of a step's page faults (wave 7). At most `retained`
/// are kept: one layer runs at a time in a generation, and a second, nested buffer (streamed weights) is freed.
///
/// Invariant (why `@unchecked Sendable` is sound): `free` is read and written only while `lock` is held;
/// a buffer is owned by exactly one caller between `take` and `give`.
public final class WideningBuffers: @unchecked Sendable {
    /// The process-wide pool.
    public static let shared = WideningBuffers()

    private let lock = NSLock()
    private var free: [UnsafeMutableBufferPointer<Float>] = []
    private let retained = 1
    /// Floats (64 MiB) up to which a pooled buffer is kept whatever the request size.
    private static let oversizedMinimum = 1 << 24

    /// Calls `body` with a buffer of exactly `count` floats (uninitialised), owned by the caller until
    /// `body` returns.
    public func withBuffer<R>(count: Int, _ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        let buffer = take(count)
        defer { give(buffer) }
        return try body(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
    }

    /// Frees every pooled buffer (at a phase boundary, e.g. before the VAE decode, whose layers are far
    /// smaller than the UNet's largest one).
    public func releaseAll() {
        lock.lock()
        defer { lock.unlock() }
        for buffer in free { buffer.deallocate() }
        free.removeAll()
    }

    private func take(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        lock.lock()
        defer { lock.unlock() }
        // A buffer over 8× this request and over 64 MiB belongs to a heavier level (the 8×8 and 16×16 levels
        // 118 MB layers against the 64×64 level's ≤ 11 MB ones, where the step's memory peak is): give it back.
        free.removeAll { buffer in
            let oversized = buffer.count > 8 * count && buffer.count > Self.oversizedMinimum
            if oversized { buffer.deallocate() }
            return oversized
        }
        // The smallest free buffer that fits; otherwise grow the largest one (it is replaced).
        if let index = free.indices.filter({ free[$0].count >= count }).min(by: { free[$0].count < free[$1].count }) {
            return free.remove(at: index)
        }
        if let largest = free.indices.max(by: { free[$0].count < free[$1].count }) {
            free.remove(at: largest).deallocate()
        }
        return UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
    }

    private func give(_ buffer: UnsafeMutableBufferPointer<Float>) {
        lock.lock()
        defer { lock.unlock() }
        free.append(buffer)
        if free.count > retained, let smallest = free.indices.min(by: { free[$0].count < free[$1].count }) {
            free.remove(at: smallest).deallocate()
        }
    }
}

/// Widens `count` fp16 (or bf16) bit patterns into `destination` on all cores.
func widenInParallel(_ source: UnsafePointer<UInt16>, into destination: UnsafeMutablePointer<Float>, count: Int, bfloat16: Bool) {
    let s = UncheckedSendable(source), d = UncheckedSendable(destination)
    // Ranges of ≥ 256 Ki elements: smaller layers widen on one core (thread hand-off would cost more).
    parallelRanges(count, grain: 1 << 18) { r in
        if bfloat16 {
            latent_bf16_to_f32(s.value + r.lowerBound, d.value + r.lowerBound, r.count)
        } else {
            latent_f16_to_f32(s.value + r.lowerBound, d.value + r.lowerBound, r.count)
        }
    }
}
