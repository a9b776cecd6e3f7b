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
