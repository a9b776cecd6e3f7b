import Foundation
import Testing
@testable import LatentCore

/// The thread team's loops (`parallel.c`): every index exactly once, disjoint ranges that cover the count,
/// nesting, callers on many threads at once, and a thread cap.
@Suite("Parallel loops")
struct ParallelTests {
    /// Counts visits per index; each slot is written by the one iteration that owns it.
    private final class Visits: @unchecked Sendable {
        let counts: UnsafeMutableBufferPointer<Int>
        init(_ n: Int) { counts = .allocate(capacity: n); counts.initialize(repeating: 0) }
        deinit { counts.deallocate() }
        var all: [Int] { Array(counts) }
    }

    @Test(arguments: [1, 2, 3, 17, 1000, 100_003])
    func everyIndexOnce(count: Int) {
        let items = Visits(count), ranges = Visits(count)
        parallelFor(count) { items.counts[$0] += 1 }
        parallelRanges(count, grain: 7) { range in for i in range { ranges.counts[i] += 1 } }
        #expect(items.all.allSatisfy { $0 == 1 })
        #expect(ranges.all.allSatisfy { $0 == 1 })
    }

    /// A loop inside a loop runs on its caller's thread and still covers everything; loops started from many
    /// threads at once each get their own team.
    @Test func nestedAndConcurrentLoops() {
        let outer = 8, inner = 5000
        let visits = Visits(outer * inner)
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            parallelFor(outer / 2) { o in
                let row = half * outer / 2 + o
                parallelRanges(inner, grain: 1) { range in for i in range { visits.counts[row * inner + i] += 1 } }
            }
        }
        #expect(visits.all.allSatisfy { $0 == 1 })
    }

    /// `setThreadCount` caps how many ranges a loop splits into.
    @Test func threadCap() {
        let before = coreCount
        setThreadCount(1)
        #expect(coreCount == 1)
        var parts = 0
        parallelRanges(1 << 20, grain: 1) { _ in parts += 1 }
        #expect(parts == 1)
        setThreadCount(before)
        #expect(coreCount == before)
    }
}
