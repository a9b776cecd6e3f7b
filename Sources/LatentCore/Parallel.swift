import Foundation

/// Carries a value into a concurrent closure.
/// Invariant: used only for closures and pointers whose iterations touch disjoint memory.
@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

/// Runs `body(i)` for `i in 0..<count` across all cores and returns when every call has finished.
///
/// Each iteration must write memory no other iteration touches.
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count == 1 {
        body(0)
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
    }
}

/// The number of cores work is split over.
public let coreCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

/// Splits `0..<count` into at most one contiguous range per core (none shorter than `grain`) and runs
/// `body` on each concurrently. Ranges are disjoint, so each call may write its own part of an output.
public func parallelRanges(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let parts = max(1, min(coreCount, count / max(1, grain)))
    if parts == 1 {
        body(0..<count)
        return
    }
    let step = (count + parts - 1) / parts
    parallelFor(parts) { p in
        let lo = p * step, hi = min(count, lo + step)
        if lo < hi { body(lo..<hi) }
    }
}
