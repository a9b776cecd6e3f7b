/// A config value diffusers allows as one integer or as one integer per block.
public enum IntOrList: Codable, Sendable, Equatable {
    case single(Int)
    case perBlock([Int])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            self = .single(value)
        } else {
            self = .perBlock(try container.decode([Int].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .single(let value): try container.encode(value)
        case .perBlock(let values): try container.encode(values)
        }
    }

    /// The value for block `index` of `count` blocks.
    public func value(at index: Int) -> Int {
        switch self {
        case .single(let value): value
        case .perBlock(let values): values[min(index, values.count - 1)]
        }
    }

    /// Number of per-block entries, or `nil` for a single value.
    public var blockCount: Int? {
        if case .perBlock(let values) = self { return values.count }
        return nil
    }
}

/// Errors for model configurations that Latent cannot run.
public enum ModelConfigurationError: Error, CustomStringConvertible, Equatable {
    case unsupported(component: String, key: String, value: String)
    case inconsistent(component: String, reason: String)

    public var description: String {
        switch self {
        case let .unsupported(component, key, value):
            "\(component) config: \(key) = \(value) is not supported"
        case let .inconsistent(component, reason):
            "\(component) config: \(reason)"
        }
    }
}
