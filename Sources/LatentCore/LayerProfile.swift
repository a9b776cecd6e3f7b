import Foundation

/// Wall-clock time per kind of layer, for `docs/performance.md`'s per-layer tables (`LATENT_PROFILE=1`).
///
/// Off by default: then `measure` is one branch. When on, every measured call adds its *exclusive* time (its
/// own time minus that of measured calls nested inside it, on the same thread) to its label, so the rows of
/// `report()` add up to the measured share of the phase. Labels carry the shape class (e.g. a convolution's
/// kernel and output size) because one op costs very differently per UNet level.
public enum LayerProfile {
    /// Whether profiling is on (read once from `LATENT_PROFILE`).
    public static let isEnabled: Bool = {
        let value = ProcessInfo.processInfo.environment["LATENT_PROFILE"] ?? ""
        return !value.isEmpty && value != "0"
    }()

    private struct Entry { var calls = 0; var seconds = 0.0 }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var entries: [String: Entry] = [:]
    /// Per thread: time spent in measured calls nested inside the current one.
    nonisolated(unsafe) private static var nested: [pthread_t: [Double]] = [:]

    /// Runs `body`, adding its exclusive wall time to `label` when profiling is on.
    @inline(__always)
    public static func measure<R>(_ label: @autoclosure () -> String, _ body: () throws -> R) rethrows -> R {
        guard isEnabled else { return try body() }
        let thread = pthread_self()
        lock.withLock { nested[thread, default: []].append(0) }
        let start = now()
        defer {
            let elapsed = now() - start
            let key = label()
            lock.withLock {
                let inner = nested[thread]?.popLast() ?? 0
                entries[key, default: Entry()].calls += 1
                entries[key, default: Entry()].seconds += elapsed - inner
                if var stack = nested[thread], !stack.isEmpty {
                    stack[stack.count - 1] += elapsed
                    nested[thread] = stack
                }
            }
        }
        return try body()
    }

    /// Clears the totals (e.g. between the phases of a benchmark).
    public static func reset() {
        lock.withLock { entries.removeAll() }
    }

    /// The totals as a table, slowest first, with each label's share of `total` seconds when given.
    public static func report(total: Double? = nil) -> String {
        let rows = lock.withLock { entries.sorted { $0.value.seconds > $1.value.seconds } }
        let measured = rows.reduce(0) { $0 + $1.value.seconds }
        let whole = total ?? measured
        var lines = ["| layer | calls | seconds | share |", "|---|---|---|---|"]
        for (label, entry) in rows {
            lines.append(String(format: "| %@ | %d | %.3f | %.1f %% |", label, entry.calls, entry.seconds,
                                100 * entry.seconds / max(whole, 1e-9)))
        }
        if let total {
            lines.append(String(format: "| (not measured) | | %.3f | %.1f %% |", total - measured,
                                100 * (total - measured) / max(total, 1e-9)))
        }
        return lines.joined(separator: "\n")
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
