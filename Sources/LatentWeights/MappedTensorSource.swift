import LatentCore

/// How a mapped tensor is produced from the tensors of a base source.
public enum TensorDerivation: Sendable, Equatable {
    /// The base tensor as is.
    case identity(String)
    /// Rows `start..<start+count` along dimension 0 of the base tensor (e.g. `q` out of a fused `in_proj_weight`).
    case rows(String, start: Int, count: Int)
    /// The base tensor's elements under another shape of equal element count (e.g. `[C, C, 1, 1]` → `[C, C]`).
    case reshape(String, shape: [Int])

    /// The base tensor this derivation reads.
    public var baseKey: String {
        switch self {
        case let .identity(key), let .rows(key, _, _), let .reshape(key, _): key
        }
    }
}

/// A renamed (and possibly sliced or reshaped) view of another source; derived tensors are computed when loaded.
public struct MappedTensorSource: TensorSource {
    /// The source that holds the stored tensors.
    public let base: any TensorSource
    /// A short name for error messages.
    public let sourceName: String
    /// Exposed name → how to produce it.
    public let derivations: [String: TensorDerivation]
    /// Exposed names, in the order given at creation.
    public let keys: [String]

    /// Creates a view exposing `mapping` over `base`.
    /// - Parameters:
    ///   - base: The source holding the stored tensors.
    ///   - mapping: Exposed names and their derivations; names must be unique.
    ///   - name: The name for error messages (defaults to the base's).
    public init(base: any TensorSource, mapping: [(String, TensorDerivation)], name: String? = nil) {
        self.base = base
        self.sourceName = name ?? base.sourceName
        var derivations: [String: TensorDerivation] = [:]
        var keys: [String] = []
        for (key, derivation) in mapping where derivations.updateValue(derivation, forKey: key) == nil {
            keys.append(key)
        }
        self.derivations = derivations
        self.keys = keys
    }

    /// The dtype and shape `key` will have once derived.
    public func info(for key: String) -> TensorInfo? {
        guard let derivation = derivations[key], let baseInfo = base.info(for: derivation.baseKey) else { return nil }
        switch derivation {
        case .identity:
            return baseInfo
        case let .rows(_, _, count):
            guard let first = baseInfo.shape.first, first >= count else { return nil }
            return TensorInfo(dtype: baseInfo.dtype, shape: [count] + baseInfo.shape.dropFirst())
        case let .reshape(_, shape):
            return TensorInfo(dtype: baseInfo.dtype, shape: shape)
        }
    }

    /// The stored bytes of the derived tensor: every derivation is a contiguous range of the base tensor.
    public func streamedBytes(for key: String) -> (any StreamedWeightBytes)? {
        guard let derivation = derivations[key], let bytes = base.streamedBytes(for: derivation.baseKey) else { return nil }
        switch derivation {
        case .identity, .reshape:
            return bytes
        case let .rows(baseKey, start, _):
            guard let baseInfo = base.info(for: baseKey) else { return nil }
            let rowBytes = baseInfo.shape.dropFirst().reduce(1, *) * baseInfo.dtype.byteCount
            return OffsetWeightBytes(base: bytes, byteOffset: start * rowBytes)
        }
    }

    /// Loads the base tensor and derives `key` from it.
    /// - Throws: `WeightsError.missingTensor` for an unknown key; the base's errors; `.shapeMismatch` when the
    ///   base tensor cannot yield the derived shape.
    public func load(_ key: String) throws -> Tensor {
        guard let derivation = derivations[key] else { throw WeightsError.missingTensor(key: key, source: sourceName) }
        let tensor = try base.load(derivation.baseKey)
        switch derivation {
        case .identity:
            return tensor
        case let .rows(baseKey, start, count):
            guard let rowCount = tensor.shape.first, start >= 0, start + count <= rowCount else {
                throw WeightsError.shapeMismatch(
                    key: baseKey, expected: [start + count], actual: tensor.shape, source: sourceName)
            }
            let rowSize = tensor.shape.dropFirst().reduce(1, *)
            let slice = tensor.scalars[(start * rowSize)..<((start + count) * rowSize)]
            return Tensor(shape: [count] + tensor.shape.dropFirst(), scalars: Array(slice))
        case let .reshape(baseKey, shape):
            guard shape.reduce(1, *) == tensor.count else {
                throw WeightsError.shapeMismatch(key: baseKey, expected: shape, actual: tensor.shape, source: sourceName)
            }
            return tensor.reshaped(shape)
        }
    }
}
