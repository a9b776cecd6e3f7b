import Foundation

/// Byte-level BPE with a `</w>` word-end marker, on token ids, with a cache of encoded words.
///
/// Matches: `tokenizers` `BPE` model (0.23, as configured by transformers `CLIPTokenizer`): each UTF-8 byte of a
/// word becomes its byte symbol (the last one with `</w>`), then the adjacent pair of lowest merge rank is merged,
/// leftmost first, until no pair has a merge.
final class BytePairEncoder: @unchecked Sendable {
    /// Merge result of one adjacent pair.
    struct Merge {
        var rank: Int32
        var result: Int32
    }

    /// `byteIDs[b]`: id of byte `b`'s symbol; `wordEndByteIDs[b]`: the same with `</w>`.
    private let byteIDs: [Int32]
    private let wordEndByteIDs: [Int32]
    /// Keyed by `left << 32 | right`.
    private let merges: [UInt64: Merge]
    private let lock = NSLock()
    private var cache: [[UInt8]: [Int]] = [:]
    private static let cacheLimit = 20_000

    init(byteIDs: [Int32], wordEndByteIDs: [Int32], merges: [UInt64: Merge]) {
        self.byteIDs = byteIDs
        self.wordEndByteIDs = wordEndByteIDs
        self.merges = merges
    }

    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// The ids of one pre-tokenized word.
    func encode(word: [UInt8]) -> [Int] {
        guard !word.isEmpty else { return [] }
        lock.lock()
        let cached = cache[word]
        lock.unlock()
        if let cached { return cached }
        let ids = merge(word)
        lock.lock()
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[word] = ids
        lock.unlock()
        return ids
    }

    /// Symbols form a doubly linked list; a min-heap of candidate merges ordered by (rank, position) replaces
    /// the quadratic rescan, so very long words stay fast.
    private func merge(_ word: [UInt8]) -> [Int] {
        let count = word.count
        var symbols = [Int32](repeating: 0, count: count)
        for (index, byte) in word.enumerated() {
            symbols[index] = index == count - 1 ? wordEndByteIDs[Int(byte)] : byteIDs[Int(byte)]
        }
        var previous = (0 ..< count).map { $0 - 1 }
        var next = (0 ..< count).map { $0 + 1 < count ? $0 + 1 : -1 }
        var alive = [Bool](repeating: true, count: count)
        var heap = CandidateHeap()
        for index in 0 ..< count - 1 {
            if let merge = merges[Self.key(symbols[index], symbols[index + 1])] {
                heap.push(.init(rank: merge.rank, position: index, result: merge.result))
            }
        }
        while let candidate = heap.pop() {
            let left = candidate.position
            let right = next[left]
            // Stale candidates: the left symbol was absorbed, or either side changed since the push.
            guard alive[left], right >= 0,
                  let merge = merges[Self.key(symbols[left], symbols[right])], merge.result == candidate.result
            else { continue }
            symbols[left] = merge.result
            alive[right] = false
            next[left] = next[right]
            if next[right] >= 0 { previous[next[right]] = left }
            if previous[left] >= 0, let before = merges[Self.key(symbols[previous[left]], symbols[left])] {
                heap.push(.init(rank: before.rank, position: previous[left], result: before.result))
            }
            if next[left] >= 0, let after = merges[Self.key(symbols[left], symbols[next[left]])] {
                heap.push(.init(rank: after.rank, position: left, result: after.result))
            }
        }
        var ids: [Int] = []
        var index = 0
        while index >= 0 {
            ids.append(Int(symbols[index]))
            index = next[index]
        }
        return ids
    }
}

/// Binary min-heap of merge candidates ordered by rank, then position.
private struct CandidateHeap {
    struct Candidate {
        var rank: Int32
        var position: Int
        var result: Int32

        func precedes(_ other: Candidate) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    private var items: [Candidate] = []

    mutating func push(_ candidate: Candidate) {
        items.append(candidate)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var best = parent
                if left < items.count, items[left].precedes(items[best]) { best = left }
                if right < items.count, items[right].precedes(items[best]) { best = right }
                if best == parent { break }
                items.swapAt(parent, best)
                parent = best
            }
        }
        return top
    }
}
