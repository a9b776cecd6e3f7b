import Foundation
import LatentCore

/// Weights split over several safetensors files, joined by a `*.safetensors.index.json` `weight_map`.
///
/// The index and the shards must agree exactly: every mapped tensor must be in its shard and every shard
/// tensor must be mapped, so that nothing is silently dropped or duplicated.
public struct ShardedTensorSource: TensorSource {
    /// The index file.
    public let indexURL: URL
    /// The opened shards, by file name.
    public let shards: [String: SafeTensorsFile]
    /// Tensor name → shard file name.
    public let weightMap: [String: String]
    /// Tensor names, sorted.
    public let keys: [String]

    /// The index path, for error messages.
    public var sourceName: String { indexURL.path }

    /// Reads the index and opens every shard it names (paths relative to the index's folder).
    /// - Parameter indexURL: The `*.safetensors.index.json` file.
    /// - Throws: `WeightsError.missingFile` for an absent index or shard; `.invalidConfiguration` for a malformed
    ///   index or a disagreement between index and shards; the shards' `.invalidFile` errors.
    public init(indexURL: URL) throws {
        self.indexURL = indexURL
        let path = indexURL.path
        guard FileManager.default.fileExists(atPath: path) else { throw WeightsError.missingFile(path: path) }
        let data = try Data(contentsOf: indexURL)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw WeightsError.invalidConfiguration(path: path, reason: "not a JSON object")
        }
        guard let rawMap = object["weight_map"] as? [String: Any] else {
            throw WeightsError.invalidConfiguration(path: path, reason: "no weight_map object")
        }
        var weightMap: [String: String] = [:]
        for (key, value) in rawMap {
            guard let file = value as? String, !file.isEmpty, !file.contains("/") else {
                throw WeightsError.invalidConfiguration(path: path, reason: "weight_map entry '\(key)' is not a shard file name")
            }
            weightMap[key] = file
        }
        let folder = indexURL.deletingLastPathComponent()
        var shards: [String: SafeTensorsFile] = [:]
        for file in Set(weightMap.values).sorted() {
            shards[file] = try SafeTensorsFile(contentsOf: folder.appendingPathComponent(file))
        }
        for (key, file) in weightMap where shards[file]?.entries[key] == nil {
            throw WeightsError.invalidConfiguration(path: path, reason: "tensor '\(key)' is not in its shard \(file)")
        }
        for (file, shard) in shards {
            if let stray = shard.keys.first(where: { weightMap[$0] != file }) {
                throw WeightsError.invalidConfiguration(
                    path: path, reason: "shard \(file) holds tensor '\(stray)' that the weight_map does not assign to it")
            }
        }
        self.shards = shards
        self.weightMap = weightMap
        self.keys = weightMap.keys.sorted()
    }

    /// The shard holding `key`.
    public func shard(for key: String) -> SafeTensorsFile? {
        weightMap[key].flatMap { shards[$0] }
    }

    /// The dtype and shape of `key`.
    public func info(for key: String) -> TensorInfo? { shard(for: key)?.info(for: key) }

    /// The stored bytes of `key` in its shard's mapping.
    public func streamedBytes(for key: String) -> (any StreamedWeightBytes)? { shard(for: key)?.streamedBytes(for: key) }

    /// Reads `key` from its shard, widened to fp32.
    /// - Throws: `WeightsError.missingTensor` or the shard's errors.
    public func load(_ key: String) throws -> Tensor {
        guard let shard = shard(for: key) else { throw WeightsError.missingTensor(key: key, source: sourceName) }
        return try shard.load(key)
    }
}
