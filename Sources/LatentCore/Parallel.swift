import CLatentKernels
import COpenBLAS

/// Carries a value into a concurrent closure.
/// Invariant: used only for closures and pointers whose iterations touch disjoint memory.
@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

/// Runs `body(i)` for `i in 0..<count` across all cores and returns when every call has finished.
///
/// Each iteration must write memory no other iteration touches. The work runs on the process's one thread
/// team, the OpenMP team oneDNN's kernels use (`parallel.c` says why not Dispatch); iterations are handed
/// out one at a time.
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    guard count > 0 else { return }
    if count == 1 {
        body(0)
        return
    }
    withoutActuallyEscaping(body) { escapable in
        var closure = escapable
        withUnsafeMutablePointer(to: &closure) { pointer in
            latent_parallel_for(Int64(count), { context, index in
                context.unsafelyUnwrapped.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
            }, pointer)
        }
    }
}

/// The number of threads work is split over (`OMP_NUM_THREADS` or `setThreadCount`, by default one per core).
public var coreCount: Int { Int(latent_thread_count()) }

/// Caps the threads work is split over at `count` (`latent bench --threads`): Latent's own loops on every
/// thread, oneDNN's kernels on the calling one, and OpenBLAS when it serves large products
/// (`LATENT_KERNELS=gemm-openblas`). The native libraries read their environment variables when they load,
/// before a command line can set them.
public func setThreadCount(_ count: Int) {
    precondition(count > 0, "thread count must be positive, got \(count)")
    latent_set_thread_count(Int32(count))
    _ = openBLASThreadsConfigured
    if !oneDNNGEMMEnabled { openblas_set_num_threads(Int32(count)) }
}

/// Splits `0..<count` into at most one contiguous range per core (none shorter than `grain`) and runs
/// `body` on each concurrently. Ranges are disjoint, so each call may write its own part of an output.
public func parallelRanges(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let parts = latent_parallel_parts(Int64(count), Int64(max(1, grain)))
    if parts <= 1 {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { escapable in
        var closure = escapable
        withUnsafeMutablePointer(to: &closure) { pointer in
            latent_parallel_parts_run(Int64(count), parts, { context, lo, hi, _ in
                context.unsafelyUnwrapped.assumingMemoryBound(to: ((Range<Int>) -> Void).self).pointee(Int(lo)..<Int(hi))
            }, pointer)
        }
    }
}
