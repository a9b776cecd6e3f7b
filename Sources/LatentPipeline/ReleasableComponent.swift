import Foundation

/// A pipeline component that can be dropped from memory after use and loaded again on next use.
///
/// Why: a single generation needs the text encoder only for its first moments; holding its weights through
/// the denoising loop and the VAE decode raises peak memory by its whole size. A long-lived server instead
/// keeps it loaded (release disabled), so consecutive jobs do not reload it.
///
/// Invariant (why `@unchecked Sendable` is sound): `model` is read and written only while `lock` is held;
/// `load` is immutable and `@Sendable`.
final class ReleasableComponent<Model: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var model: Model?
    private let load: @Sendable () throws -> Model
    private let releasable: Bool

    /// A component that is already loaded and, when `load` is given, can be reloaded by it after a release.
    init(_ model: Model, reload load: (@Sendable () throws -> Model)?) {
        self.model = model
        releasable = load != nil
        // Without a loader `release()` never drops the model; the fallback only keeps `get` total.
        self.load = load ?? { model }
    }

    /// The loaded component, loading it again if it was released.
    /// - Throws: What `load` throws.
    func get() throws -> Model {
        lock.lock()
        defer { lock.unlock() }
        if let model { return model }
        let loaded = try load()
        model = loaded
        return loaded
    }

    /// Drops the component when it can be loaded again; returns whether it was dropped.
    @discardableResult
    func release() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard releasable else { return false }
        model = nil
        return true
    }

    /// Whether the component is currently in memory.
    var isLoaded: Bool {
        lock.lock()
        defer { lock.unlock() }
        return model != nil
    }
}
