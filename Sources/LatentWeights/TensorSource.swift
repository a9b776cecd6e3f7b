import LatentCore

/// Element types a checkpoint may store.
public enum DType: String, Sendable, Equatable, CaseIterable {
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .float32: 4
        case .float16, .bfloat16: 2
        }
    }
}

/// What a source knows about one stored tensor before reading it.
public struct TensorInfo: Sendable, Equatable {
    /// The stored element type.
    public var dtype: DType
    /// The dimensions, outermost first.
    public var shape: [Int]

    /// Creates a description of a stored tensor.
    public init(dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }
}

/// Anything that yields named tensors: a safetensors file, a set of shards, a key-renamed view.
public protocol TensorSource: Sendable {
    /// A short name for error messages (usually a file path).
    var sourceName: String { get }
    /// Every tensor name the source holds.
    var keys: [String] { get }
    /// The dtype and shape of `key`, or `nil` when the source has no such tensor.
    func info(for key: String) -> TensorInfo?
    /// Reads `key` and widens it to fp32.
    /// - Throws: `WeightsError` when the tensor is absent or its bytes are unreadable.
    func load(_ key: String) throws -> Tensor
    /// The stored bytes of `key` for streaming (`WeightStore(_:streamingWeights:)`), read from the mapped
    /// file on every use; `nil` when the source cannot stream it.
    func streamedBytes(for key: String) -> (any StreamedWeightBytes)?
}

extension TensorSource {
    /// No streaming unless the source implements it (in-memory sources).
    public func streamedBytes(for key: String) -> (any StreamedWeightBytes)? { nil }
}

/// Errors from reading and binding weights; every case names the file and tensor concerned.
public enum WeightsError: Error, CustomStringConvertible, Equatable {
    /// A tensor a module asked for is not in the source.
    case missingTensor(key: String, source: String)
    /// The source holds tensors no module asked for.
    case unexpectedTensors(keys: [String], source: String)
    /// A tensor exists with another shape than the module expects.
    case shapeMismatch(key: String, expected: [Int], actual: [Int], source: String)
    /// A weights file is empty, truncated or malformed.
    case invalidFile(path: String, reason: String)
    /// A tensor is stored in a dtype Latent cannot widen to fp32.
    case unsupportedDType(key: String, dtype: String, source: String)
    /// A checkpoint is not a supported model family, or its layout cannot be inferred.
    case unknownArchitecture(path: String, reason: String)
    /// A required file or folder does not exist.
    case missingFile(path: String)
    /// A configuration or index file, or a model folder, is unusable.
    case invalidConfiguration(path: String, reason: String)

    /// A message naming the file, tensor and problem.
    public var description: String {
        switch self {
        case let .missingTensor(key, source):
            "missing tensor '\(key)' in \(source)"
        case let .unexpectedTensors(keys, source):
            "unexpected tensor\(keys.count == 1 ? "" : "s") in \(source): "
                + keys.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
                + (keys.count > 5 ? " and \(keys.count - 5) more" : "")
        case let .shapeMismatch(key, expected, actual, source):
            "tensor '\(key)' in \(source) has shape \(actual), expected \(expected)"
        case let .invalidFile(path, reason):
            "invalid safetensors file \(path): \(reason)"
        case let .unsupportedDType(key, dtype, source):
            "tensor '\(key)' in \(source) has unsupported dtype \(dtype) (supported: F32, F16, BF16)"
        case let .unknownArchitecture(path, reason):
            "unknown checkpoint architecture in \(path): \(reason)"
        case let .missingFile(path):
            "missing file \(path)"
        case let .invalidConfiguration(path, reason):
            "invalid configuration \(path): \(reason)"
        }
    }
}

/// An in-memory source, for tests and for tensors derived at load time.
public struct DictionaryTensorSource: TensorSource {
    /// A short name for error messages.
    public let sourceName: String
    /// The tensors by name.
    public let tensors: [String: Tensor]

    /// Wraps in-memory tensors.
    public init(_ tensors: [String: Tensor], name: String = "memory") {
        self.tensors = tensors
        self.sourceName = name
    }

    /// Every tensor name.
    public var keys: [String] { Array(tensors.keys) }

    /// The shape of `key` (always fp32).
    public func info(for key: String) -> TensorInfo? {
        tensors[key].map { TensorInfo(dtype: .float32, shape: $0.shape) }
    }

    /// Returns `key`.
    /// - Throws: `WeightsError.missingTensor` when absent.
    public func load(_ key: String) throws -> Tensor {
        guard let tensor = tensors[key] else { throw WeightsError.missingTensor(key: key, source: sourceName) }
        return tensor
    }
}
