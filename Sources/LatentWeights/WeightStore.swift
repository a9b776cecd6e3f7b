import Foundation
import LatentCore

/// Strict, path-scoped access to a model's weights.
///
/// Modules ask for tensors by their diffusers name and expected shape; the store records what was taken so
/// that `verifyAllUsed()` can reject checkpoints carrying tensors no module asked for.
public final class WeightStore: @unchecked Sendable {
    // Invariant: `used` is only touched under `lock`; `source` is immutable and Sendable.
    private let source: any TensorSource
    private let lock = NSLock()
    private var used = Set<String>()
    /// Whether `compactWeights` hands out streamed weights (read from the mapped file on every use).
    public let streamsWeights: Bool
    /// The arithmetic the layers built from this store use for their convolutions and linear layers.
    public let precision: ArithmeticPrecision

    /// Wraps a source.
    /// - Parameters:
    ///   - source: Where the tensors are stored.
    ///   - streamingWeights: Layer weights (`compactWeights`) stay in the memory-mapped file and are read
    ///     on every use instead of being copied into memory (`--low-memory`); sources that cannot stream
    ///     (in-memory tensors) load them as usual.
    ///   - precision: Arithmetic for the convolutions and linear layers built from it (`fp32`: exact).
    public init(_ source: any TensorSource, streamingWeights: Bool = false, precision: ArithmeticPrecision = .fp32) {
        self.source = source
        streamsWeights = streamingWeights
        self.precision = precision
    }

    /// Layer weights for `key`: held in their narrowest exact format, or streamed from the mapped file
    /// when the store streams (see `init(_:streamingWeights:)`).
    /// - Throws: `WeightsError.missingTensor` or `.shapeMismatch` naming the tensor.
    public func compactWeights(_ key: String, shape: [Int]) throws -> CompactWeights {
        guard streamsWeights, let info = source.info(for: key), info.shape == shape,
              let bytes = source.streamedBytes(for: key)
        else { return CompactWeights(try tensor(key, shape: shape)) }
        lock.lock()
        used.insert(key)
        lock.unlock()
        let format: CompactWeights.Format = switch info.dtype {
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        }
        return CompactWeights(streaming: bytes, shape: shape, format: format)
    }

    /// The root scope (no prefix).
    public var root: WeightScope { WeightScope(store: self, prefix: "") }

    /// A scope whose names are prefixed with `prefix + "."`.
    public func scoped(_ prefix: String) -> WeightScope { root.scoped(prefix) }

    /// Whether the source holds `key`.
    public func contains(_ key: String) -> Bool { source.info(for: key) != nil }

    /// Shape of `key`, if present.
    public func shape(of key: String) -> [Int]? { source.info(for: key)?.shape }

    /// Loads `key` as fp32 and checks its shape.
    /// - Throws: `WeightsError.missingTensor` or `.shapeMismatch` naming the tensor.
    public func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        guard let info = source.info(for: key) else {
            // A stored tensor in a dtype Latent cannot widen has no info; loading it yields the precise
            // unsupported-dtype error instead of a misleading "missing".
            if source.keys.contains(key) { _ = try source.load(key) }
            throw WeightsError.missingTensor(key: key, source: source.sourceName)
        }
        guard info.shape == shape else {
            throw WeightsError.shapeMismatch(key: key, expected: shape, actual: info.shape, source: source.sourceName)
        }
        let tensor = try source.load(key)
        lock.lock()
        used.insert(key)
        lock.unlock()
        return tensor
    }

    /// Marks a key as consumed without loading it (for tensors a format carries but Latent ignores).
    public func ignore(_ key: String) {
        lock.lock()
        used.insert(key)
        lock.unlock()
    }

    /// Throws when the source holds tensors that no module requested.
    /// - Parameter prefix: Only keys under this prefix are checked (empty: all).
    public func verifyAllUsed(prefix: String = "") throws {
        lock.lock()
        let taken = used
        lock.unlock()
        let extra = source.keys.filter { $0.hasPrefix(prefix) && !taken.contains($0) }.sorted()
        if !extra.isEmpty {
            throw WeightsError.unexpectedTensors(keys: extra, source: source.sourceName)
        }
    }
}

/// A view of a `WeightStore` under a dotted prefix, e.g. `down_blocks.0.resnets.1`.
public struct WeightScope: Sendable {
    /// The store the scope reads from.
    public let store: WeightStore
    /// The dotted prefix, empty for the root.
    public let prefix: String

    /// Creates a scope.
    public init(store: WeightStore, prefix: String) {
        self.store = store
        self.prefix = prefix
    }

    /// The full key for a child name.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    /// A child scope.
    public func scoped(_ name: String) -> WeightScope { WeightScope(store: store, prefix: key(name)) }

    /// The arithmetic layers loaded from this scope use (the store's).
    public var precision: ArithmeticPrecision { store.precision }

    /// Loads the child tensor `name` with the expected `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try store.tensor(key(name), shape: shape)
    }

    /// Layer weights for the child `name` (see `WeightStore.compactWeights(_:shape:)`).
    public func compactWeights(_ name: String, shape: [Int]) throws -> CompactWeights {
        try store.compactWeights(key(name), shape: shape)
    }

    /// Whether the child tensor exists.
    public func contains(_ name: String) -> Bool { store.contains(key(name)) }

    /// Shape of the child tensor, if present.
    public func shape(of name: String) -> [Int]? { store.shape(of: key(name)) }
}
