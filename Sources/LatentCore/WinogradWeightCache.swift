import CLatentKernels
import Foundation

/// The most recently used convolution's weights in the Winograd domain.
///
/// Why: Winograd-domain weights are 4× a 3×3 layer's plain fp32 weights (16× its fp16 ones), too large to
/// keep for every layer, so a Winograd plan transforms its plain weights per call. A tiled VAE decode calls
/// each layer once per row band, one band after another; keeping the last layer's transform lets every band
/// after the first skip it. One slot bounds the memory to one layer (≤ 44 MB for SD's layers).
///
/// Invariant (why `@unchecked Sendable` is sound): every stored property is read and written only while
/// `lock` is held, except `slot`'s memory, which only the caller that set `busy` touches until it clears it.
public final class WinogradWeightCache: @unchecked Sendable {
    /// The process-wide slot.
    public static let shared = WinogradWeightCache()

    private let lock = NSLock()
    private var slot: UnsafeMutableBufferPointer<Float>?
    private var owner: ObjectIdentifier?
    private var ownerPlan: OpaquePointer?
    private var busy = false

    /// Calls `body` with `weights` transformed into `plan`'s Winograd layout, reusing the slot's transform
    /// when it holds the same layer's weights in the same layout. Returns `nil` without calling `body` when
    /// another thread holds the slot or the transform fails; the caller then transforms into a buffer of its
    /// own (`latent_conv_plan_execute_streamed`).
    func withTransformed<R>(
        owner layer: ObjectIdentifier, plan: OpaquePointer, weights: CompactWeights, _ body: (UnsafePointer<Float>) -> R
    ) -> R? {
        let count = latent_conv_plan_blocked_weight_count(plan)
        var hit = false
        let claimed = claim(count: count) {
            hit = owner == layer && ownerPlan.map { $0 == plan || latent_conv_plan_same_weight_layout($0, plan) != 0 } == true
            return hit
        }
        guard let buffer = claimed else { return nil }
        defer { unclaim() }
        if !hit {
            let transformed = weights.withFloats { latent_conv_plan_transform_weights(plan, $0.baseAddress!, buffer.baseAddress!) != 0 }
            guard transformed else { return nil }
            lock.lock()
            owner = layer
            ownerPlan = plan
            lock.unlock()
        }
        return body(UnsafePointer(buffer.baseAddress!))
    }

    /// Calls `body` with the slot's memory (at least `count` floats) for a transform that is not kept, e.g.
    /// one output-channel chunk of a layer; `nil` without calling `body` when another thread holds the slot.
    func withScratch<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R? {
        guard let buffer = claim(count: count, keeping: { false }) else { return nil }
        defer { unclaim() }
        return body(buffer.baseAddress!)
    }

    /// Marks the slot busy and returns it with room for `count` floats; `nil` when another thread holds it.
    /// `keeping` (called under the lock) says whether the slot's transform is the one wanted: then it is kept
    /// whatever its size; otherwise the slot forgets its owner.
    private func claim(count: Int, keeping: () -> Bool) -> UnsafeMutableBufferPointer<Float>? {
        lock.lock()
        defer { lock.unlock() }
        if busy { return nil }
        busy = true
        let keep = keeping()
        if !keep {
            owner = nil
            ownerPlan = nil
        }
        // A slot far larger than this transform belongs to a wider level (512 channels against the decode's
        // last 128-channel level, 38 MB against 2.4 MB): give it back rather than carry it to the decode's peak.
        if let current = slot, current.count >= count, keep || current.count <= 4 * count { return current }
        slot?.deallocate()
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        slot = buffer
        return buffer
    }

    /// Ends a `claim`.
    private func unclaim() {
        lock.lock()
        busy = false
        lock.unlock()
    }

    /// Drops the slot's transform if it belongs to `layer` (called when a layer is freed, so that a later
    /// layer at the same address never reads another's weights).
    func forget(_ layer: ObjectIdentifier) {
        lock.lock()
        defer { lock.unlock() }
        if owner == layer {
            owner = nil
            ownerPlan = nil
        }
    }

    /// Frees the slot (at a phase boundary).
    public func releaseAll() {
        lock.lock()
        defer { lock.unlock() }
        guard !busy else { return }
        slot?.deallocate()
        slot = nil
        owner = nil
        ownerPlan = nil
    }
}
