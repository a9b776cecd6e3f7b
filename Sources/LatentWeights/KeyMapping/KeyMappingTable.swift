/// An index rewrite used by key rules; `nil` means "this index does not fit the rule".
public typealias IndexTransform = @Sendable (Int) -> Int?

/// A rename applied to the part of a key that follows a rule's pattern (e.g. `in_layers.0` → `norm1`).
public struct KeyRename: Sendable, Equatable {
    /// Leading dotted segments to replace.
    public let from: String
    /// Their replacement.
    public let to: String

    /// Creates a rename.
    public init(_ from: String, _ to: String) {
        self.from = from
        self.to = to
    }
}

/// One ordered rule of a key-mapping table.
///
/// `pattern` matches the leading dotted segments of a key: literal segments match themselves, `{n}` matches a
/// decimal index and captures it, `{n:transform}` additionally requires `transform(n)` to be non-`nil`.
/// Targets use `{n}` for the raw capture and `{n:transform}` for the transformed one; the segments after the
/// pattern (the remainder, after `renames`) are appended to the target.
public struct KeyRule: Sendable {
    /// What a matching key becomes.
    public enum Action: Sendable, Equatable {
        /// Rename to the target.
        case rename(String)
        /// Rename, and view a `[O, I, 1, 1]` tensor (1×1 convolution) as `[O, I]` (linear).
        case renameSqueezingConv1x1(String)
        /// Split the tensor into equal row blocks along dimension 0, one target per block.
        case splitRows([String])
        /// The tensor is not part of the converted model.
        case drop
    }

    /// The leading-segment pattern.
    public let pattern: String
    /// What to do with a match.
    public let action: Action
    /// Renames tried in order on the remainder; the first whose segments prefix it applies.
    public let renames: [KeyRename]

    /// Creates a rule.
    public init(_ pattern: String, _ action: Action, renames: [KeyRename] = []) {
        self.pattern = pattern
        self.action = action
        self.renames = renames
    }
}

/// One tensor a rule produced.
public struct MappedKey: Sendable, Equatable {
    /// The converted name.
    public let name: String
    /// How to compute it from the original tensor.
    public let derivation: TensorDerivation

    /// Creates a mapped key.
    public init(_ name: String, _ derivation: TensorDerivation) {
        self.name = name
        self.derivation = derivation
    }
}

/// The outcome of mapping one key.
public enum KeyMappingResult: Sendable, Equatable {
    /// The key becomes these tensors.
    case mapped([MappedKey])
    /// The key is deliberately left out.
    case dropped
    /// No rule applies; callers expose the key under its original name so strict loading reports it.
    case unmatched
}

/// An ordered list of `KeyRule`s; the first rule that matches a key decides.
public struct KeyMappingTable: Sendable {
    /// The rules, most specific first.
    public let rules: [KeyRule]

    /// Creates a table.
    public init(_ rules: [KeyRule]) {
        self.rules = rules
    }

    /// Maps one key.
    /// - Parameters:
    ///   - key: The key relative to the component prefix, e.g. `input_blocks.1.0.in_layers.0.weight`.
    ///   - sourceKey: The key in the underlying source (with its prefix), used in derivations.
    ///   - shape: The stored shape, needed by splitting and squeezing rules (`nil` if unknown).
    ///   - transforms: Index transforms by name, derived from the checkpoint's layout.
    /// - Returns: The converted keys, `.dropped`, or `.unmatched`.
    public func map(
        _ key: String, sourceKey: String? = nil, shape: [Int]?, transforms: [String: IndexTransform] = [:]
    ) -> KeyMappingResult {
        let segments = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        for rule in rules {
            guard let match = Self.match(rule.pattern, segments, transforms) else { continue }
            if case .drop = rule.action { return .dropped }
            var remainder = Array(segments[match.length...])
            for rename in rule.renames {
                let from = rename.from.split(separator: ".").map(String.init)
                if remainder.starts(with: from) {
                    remainder = rename.to.split(separator: ".").map(String.init) + remainder[from.count...]
                    break
                }
            }
            if let result = Self.apply(rule.action, match.captures, remainder, sourceKey ?? key, shape, transforms) {
                return result
            }
        }
        return .unmatched
    }

    private struct Match {
        var length: Int
        var captures: [String: Int]
    }

    private static func match(_ pattern: String, _ segments: [String], _ transforms: [String: IndexTransform]) -> Match? {
        let parts = pattern.split(separator: ".").map(String.init)
        guard parts.count <= segments.count else { return nil }
        var captures: [String: Int] = [:]
        for (part, segment) in zip(parts, segments) {
            if let placeholder = Placeholder(part) {
                guard !segment.isEmpty, segment.allSatisfy(\.isASCII), let index = Int(segment), index >= 0,
                      String(index) == segment
                else { return nil }
                if let transform = placeholder.transform {
                    guard let function = transforms[transform], function(index) != nil else { return nil }
                }
                captures[placeholder.name] = index
            } else if part != segment {
                return nil
            }
        }
        return Match(length: parts.count, captures: captures)
    }

    private static func apply(
        _ action: KeyRule.Action, _ captures: [String: Int], _ remainder: [String], _ sourceKey: String,
        _ shape: [Int]?, _ transforms: [String: IndexTransform]
    ) -> KeyMappingResult? {
        func expand(_ template: String) -> String? {
            var segments: [String] = []
            for part in template.split(separator: ".").map(String.init) {
                if let placeholder = Placeholder(part) {
                    guard var index = captures[placeholder.name] else { return nil }
                    if let transform = placeholder.transform {
                        guard let function = transforms[transform], let value = function(index) else { return nil }
                        index = value
                    }
                    segments.append(String(index))
                } else {
                    segments.append(part)
                }
            }
            return (segments + remainder).joined(separator: ".")
        }
        switch action {
        case .drop:
            return .dropped
        case let .rename(template):
            return expand(template).map { .mapped([MappedKey($0, .identity(sourceKey))]) }
        case let .renameSqueezingConv1x1(template):
            guard let name = expand(template) else { return nil }
            if let shape, shape.count == 4, shape[2] == 1, shape[3] == 1 {
                return .mapped([MappedKey(name, .reshape(sourceKey, shape: [shape[0], shape[1]]))])
            }
            return .mapped([MappedKey(name, .identity(sourceKey))])
        case let .splitRows(templates):
            guard let rows = shape?.first, !templates.isEmpty, rows % templates.count == 0 else { return nil }
            let count = rows / templates.count
            var keys: [MappedKey] = []
            for (index, template) in templates.enumerated() {
                guard let name = expand(template) else { return nil }
                keys.append(MappedKey(name, .rows(sourceKey, start: index * count, count: count)))
            }
            return .mapped(keys)
        }
    }

    /// A `{name}` or `{name:transform}` pattern segment.
    private struct Placeholder {
        let name: String
        let transform: String?

        init?(_ segment: String) {
            guard segment.hasPrefix("{"), segment.hasSuffix("}") else { return nil }
            let body = segment.dropFirst().dropLast()
            let pieces = body.split(separator: ":", maxSplits: 1).map(String.init)
            guard let first = pieces.first else { return nil }
            name = first
            transform = pieces.count > 1 ? pieces[1] : nil
        }
    }
}

extension KeyMappingTable {
    /// Maps every key of `base` under `prefix` and returns the converted view.
    ///
    /// Keys outside `prefix` are not part of the component and are left out; keys inside it that no rule
    /// matches are exposed under their original (full) name, so that strict loading reports them.
    /// - Parameters:
    ///   - base: The checkpoint.
    ///   - prefix: The component prefix including its trailing dot, e.g. `model.diffusion_model.`.
    ///   - transforms: Index transforms derived from the checkpoint's layout.
    ///   - name: The source name for error messages.
    /// - Returns: A `MappedTensorSource` in diffusers naming.
    /// - Throws: `WeightsError.invalidFile` when two stored tensors map to the same name.
    public func mappedSource(
        _ base: any TensorSource, prefix: String, transforms: [String: IndexTransform], name: String
    ) throws -> MappedTensorSource {
        var mapping: [(String, TensorDerivation)] = []
        var origin: [String: String] = [:]
        for sourceKey in base.keys where sourceKey.hasPrefix(prefix) {
            let relative = String(sourceKey.dropFirst(prefix.count))
            let shape = base.info(for: sourceKey)?.shape
            let produced: [MappedKey]
            switch map(relative, sourceKey: sourceKey, shape: shape, transforms: transforms) {
            case let .mapped(keys): produced = keys
            case .dropped: produced = []
            case .unmatched: produced = [MappedKey(sourceKey, .identity(sourceKey))]
            }
            for key in produced {
                if let earlier = origin.updateValue(sourceKey, forKey: key.name) {
                    throw WeightsError.invalidFile(
                        path: base.sourceName,
                        reason: "tensors '\(earlier)' and '\(sourceKey)' both map to '\(key.name)'")
                }
                mapping.append((key.name, key.derivation))
            }
        }
        return MappedTensorSource(base: base, mapping: mapping, name: name)
    }
}
