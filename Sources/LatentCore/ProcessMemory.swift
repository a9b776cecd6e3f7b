import CLatentKernels
import Foundation

/// The process's resident memory: probes at phase boundaries and glibc heap controls.
///
/// With `LATENT_TRACE_MEMORY=1` in the environment every `trace` writes one line to standard error:
/// the label, the current resident set (`VmRSS`) and the process's peak so far (`VmHWM`), in MiB.
/// Without it `trace` costs one branch.
public enum ProcessMemory {
    /// Whether tracing is on (read once from `LATENT_TRACE_MEMORY`).
    public static let enabled: Bool = {
        let value = ProcessInfo.processInfo.environment["LATENT_TRACE_MEMORY"] ?? ""
        return !value.isEmpty && value != "0"
    }()

    /// Writes `label`, VmRSS and VmHWM to standard error when tracing is enabled.
    /// - Parameter label: What just finished, e.g. `"unet down 2"`.
    public static func trace(_ label: @autoclosure () -> String) {
        guard enabled else { return }
        let (rss, peak) = residentBytes()
        let line = String(format: "[memory] %@: rss %.0f MiB, peak %.0f MiB\n", label(), Double(rss) / 1_048_576, Double(peak) / 1_048_576)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// The current and peak resident set of this process in bytes, from /proc/self/status (0 when unavailable).
    public static func residentBytes() -> (current: Int, peak: Int) {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        var current = 0, peak = 0
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") || line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kib = Int(fields[1]) else { continue }
            if line.hasPrefix("VmRSS:") { current = kib * 1024 } else { peak = kib * 1024 }
        }
        return (current, peak)
    }

    /// Returns freed heap memory to the system (glibc `malloc_trim`): freed small blocks otherwise stay
    /// in the process's resident set, and a phase boundary (after loading, after the denoising loop) is
    /// where that memory will not be reused by the same sizes.
    public static func releaseFreedMemory() {
        _ = latent_malloc_trim()
    }

    /// Frees the convolutions' pooled per-call buffers (blocked copies, scratchpads; tens of MB each for
    /// large images), which are otherwise kept between calls so that they are not page-faulted in every time.
    /// `releaseFreedMemory` does this too.
    public static func releaseScratchBuffers() {
        latent_scratch_trim()
    }

    /// Caps glibc's heap arenas: by default each thread that allocates may get its own, and memory freed in
    /// one (a dropped model's weights) is not reused by allocations in the others.
    public static func limitHeapArenas(_ arenas: Int) {
        latent_malloc_arenas(Int32(arenas))
    }

    /// Serves every allocation of at least `bytes` by its own mapping, returned to the system on free, and
    /// keeps glibc from raising that threshold by itself (it does after each large free, after which
    /// long-lived weights and short-lived temporaries share heap pages that are never given back).
    public static func setMappedAllocationThreshold(_ bytes: Int) {
        latent_malloc_tune(bytes)
    }
}
