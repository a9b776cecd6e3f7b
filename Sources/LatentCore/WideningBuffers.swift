import CLatentKernels
import Foundation

/// Reusable fp32 buffers into which narrow (fp16/bf16) weights are widened just before a layer uses them.
///
/// Why a pool: a fresh weight-sized allocation per call is served by `mmap` and page-faulted in on every
/// call (for the UNet's largest convolution, 118 MB per call), which cost more than the widening itself.
/// A buffer taken from the pool is already resident. Buffers only grow; at most `retained` are kept, so
/// the pool holds about one largest-layer's fp32 weights per concurrently running layer.
///
/// Invariant (why `@unchecked Sendable` is sound): `free` is read and written only while `lock` is held;
/// a buffer is owned by exactly one caller between `take` and `give`.
public final class WideningBuffers: @unchecked Sendable {
    /// The process-wide pool.
    public static let shared = WideningBuffers()

    private let lock = NSLock()
    private var free: [UnsafeMutableBufferPointer<Float>] = []
    private let retained = 2

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
