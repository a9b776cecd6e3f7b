import Foundation
import LatentCore
import Testing
@testable import LatentWeights

@Suite("WeightStore strictness")
struct WeightStoreTests {
    private func makeStore() throws -> (WeightStore, TemporaryDirectory, String) {
        let folder = try TemporaryDirectory()
        var generator = SplitMix(seed: 11)
        let tensors = [
            StoredTensor.random("conv.weight", [4, 2, 3, 3], dtype: "F16", generator: &generator).0,
            StoredTensor.random("conv.bias", [4], dtype: "F32", generator: &generator).0,
            StoredTensor.random("extra.weight", [2], dtype: "BF16", generator: &generator).0,
            StoredTensor(name: "ids", dtype: "I64", shape: [1, 2], bytes: Array(repeating: 0, count: 16)),
        ]
        let url = try folder.write(SafeTensorsWriter.encode(tensors), to: "w.safetensors")
        return (WeightStore(try SafeTensorsFile(contentsOf: url)), folder, url.path)
    }

    @Test("missing, mis-shaped, unsupported and unexpected tensors are named")
    func strictErrors() throws {
        let (store, _folder, path) = try makeStore()
        _ = _folder
        let conv = store.scoped("conv")
        #expect(try conv.tensor("weight", shape: [4, 2, 3, 3]).shape == [4, 2, 3, 3])
        #expect(weightsError { _ = try conv.tensor("bias", shape: [5]) }?.description
            == "tensor 'conv.bias' in \(path) has shape [4], expected [5]")
        #expect(weightsError { _ = try conv.tensor("gamma", shape: [4]) }?.description
            == "missing tensor 'conv.gamma' in \(path)")
        #expect(weightsError { _ = try store.tensor("ids", shape: [1, 2]) }?.description
            == "tensor 'ids' in \(path) has unsupported dtype I64 (supported: F32, F16, BF16)")
        _ = try conv.tensor("bias", shape: [4])
        #expect(weightsError { try store.verifyAllUsed() }?.description
            == "unexpected tensors in \(path): 'extra.weight', 'ids'")
        store.ignore("ids")
        #expect(weightsError { try store.verifyAllUsed() }
            == .unexpectedTensors(keys: ["extra.weight"], source: path))
        #expect(throws: Never.self) { try store.verifyAllUsed(prefix: "conv") }
        _ = try store.tensor("extra.weight", shape: [2])
        #expect(throws: Never.self) { try store.verifyAllUsed() }
    }
}

@Suite("Sharded weights and diffusers folders")
struct ModelDirectoryTests {
    @Test("a sharded index joins its shards and rejects disagreements")
    func sharded() throws {
        let folder = try TemporaryDirectory()
        var generator = SplitMix(seed: 5)
        let (a, aValues) = StoredTensor.random("a", [3], dtype: "F16", generator: &generator)
        let (b, bValues) = StoredTensor.random("b", [2, 2], dtype: "F32", generator: &generator)
        try folder.write(SafeTensorsWriter.encode([a]), to: "m-00001-of-00002.safetensors")
        try folder.write(SafeTensorsWriter.encode([b]), to: "m-00002-of-00002.safetensors")
        let index = try folder.write(Data(#"""
            {"metadata": {"total_size": 28}, "weight_map": {"a": "m-00001-of-00002.safetensors", "b": "m-00002-of-00002.safetensors"}}
            """#.utf8), to: "m.safetensors.index.json")
        let source = try ShardedTensorSource(indexURL: index)
        #expect(source.keys == ["a", "b"])
        #expect(try source.load("a").scalars == aValues)
        #expect(try source.load("b") == Tensor(shape: [2, 2], scalars: bValues))
        #expect(source.info(for: "a") == TensorInfo(dtype: .float16, shape: [3]))

        let wrongShard = try folder.write(Data(#"{"weight_map": {"a": "m-00002-of-00002.safetensors", "b": "m-00002-of-00002.safetensors"}}"#.utf8), to: "bad.index.json")
        #expect(weightsError { _ = try ShardedTensorSource(indexURL: wrongShard) }?.description
            == "invalid configuration \(wrongShard.path): tensor 'a' is not in its shard m-00002-of-00002.safetensors")
        let unmapped = try folder.write(Data(#"{"weight_map": {"a": "m-00001-of-00002.safetensors", "c": "m-00002-of-00002.safetensors"}}"#.utf8), to: "bad2.index.json")
        #expect(weightsError { _ = try ShardedTensorSource(indexURL: unmapped) } != nil)
        let missingShard = try folder.write(Data(#"{"weight_map": {"a": "nowhere.safetensors"}}"#.utf8), to: "bad3.index.json")
        #expect(weightsError { _ = try ShardedTensorSource(indexURL: missingShard) }
            == .missingFile(path: folder.url.appendingPathComponent("nowhere.safetensors").path))
        let noMap = try folder.write(Data(#"{"metadata": {}}"#.utf8), to: "bad4.index.json")
        #expect(weightsError { _ = try ShardedTensorSource(indexURL: noMap) }
            == .invalidConfiguration(path: noMap.path, reason: "no weight_map object"))
    }

    /// A tiny diffusers folder; `textModelLevel` chooses the published or the transformers 5 key spelling.
    private func makeFolder(textModelLevel: Bool, unetVariant: String?) throws -> (TemporaryDirectory, [Float]) {
        let folder = try TemporaryDirectory()
        var generator = SplitMix(seed: 9)
        try folder.write(Data(#"{"_class_name": "StableDiffusionPipeline"}"#.utf8), to: "model_index.json")
        try folder.write(Data(#"{"in_channels": 4}"#.utf8), to: "unet/config.json")
        try folder.write(Data(#"{"_class_name": "PNDMScheduler"}"#.utf8), to: "scheduler/scheduler_config.json")
        let unetName = "unet/diffusion_pytorch_model" + (unetVariant.map { ".\($0)" } ?? "") + ".safetensors"
        try folder.write(SafeTensorsWriter.encode([
            StoredTensor.random("conv_in.weight", [2, 4, 3, 3], dtype: "F16", generator: &generator).0,
        ]), to: unetName)
        let level = textModelLevel ? "text_model." : ""
        let (embedding, values) = StoredTensor.random(level + "embeddings.token_embedding.weight", [5, 4], generator: &generator)
        try folder.write(SafeTensorsWriter.encode([
            embedding,
            StoredTensor.random(level + "final_layer_norm.weight", [4], generator: &generator).0,
            StoredTensor(name: level + "embeddings.position_ids", dtype: "I64", shape: [1, 2], bytes: Array(repeating: 0, count: 16)),
        ]), to: "text_encoder/model.safetensors")
        return (folder, values)
    }

    @Test("text-encoder keys carry text_model. whether or not the file has it", arguments: [true, false])
    func textModelLevel(_ hasLevel: Bool) throws {
        let (folder, values) = try makeFolder(textModelLevel: hasLevel, unetVariant: nil)
        let directory = try ModelDirectory(url: folder.url)
        let text = try directory.weights("text_encoder")
        #expect(text.keys.sorted() == ["text_model.embeddings.token_embedding.weight", "text_model.final_layer_norm.weight"])
        #expect(try text.load("text_model.embeddings.token_embedding.weight") == Tensor(shape: [5, 4], scalars: values))
        #expect(directory.tokenizerDirectory == folder.url.appendingPathComponent("tokenizer"))
        #expect(String(decoding: try directory.configData("unet"), as: UTF8.self) == #"{"in_channels": 4}"#)
        #expect(String(decoding: try directory.configData("scheduler"), as: UTF8.self) == #"{"_class_name": "PNDMScheduler"}"#)
        let vaeConfig = folder.url.appendingPathComponent("vae/config.json").path
        #expect(weightsError { _ = try directory.configData("vae") } == .missingFile(path: vaeConfig))
        #expect(try directory.weights("unet").keys == ["conv_in.weight"])
    }

    @Test("variants: the plain file is preferred, fp16 is the fallback, an explicit variant is required")
    func variants() throws {
        let (folder, _) = try makeFolder(textModelLevel: true, unetVariant: "fp16")
        let directory = try ModelDirectory(url: folder.url)
        let unet = try directory.weights("unet")
        #expect((unet as? SafeTensorsFile)?.url.lastPathComponent == "diffusion_pytorch_model.fp16.safetensors")
        #expect(try directory.weights("unet", variant: "fp16").keys == ["conv_in.weight"])
        let unetFolder = folder.url.appendingPathComponent("unet").path
        #expect(weightsError { _ = try directory.weights("unet", variant: "ema") } == .invalidConfiguration(
            path: unetFolder,
            reason: "no safetensors weights (looked for diffusion_pytorch_model.ema.safetensors, "
                + "diffusion_pytorch_model.ema.safetensors.index.json, model.ema.safetensors, model.ema.safetensors.index.json)"))
        try folder.write(SafeTensorsWriter.encode([]), to: "unet/diffusion_pytorch_model.safetensors")
        #expect((try directory.weights("unet") as? SafeTensorsFile)?.url.lastPathComponent == "diffusion_pytorch_model.safetensors")
        try folder.write(Data([1]), to: "vae/diffusion_pytorch_model.bin")
        let vaeError = weightsError { _ = try directory.weights("vae") }
        #expect(vaeError?.description.contains("PyTorch .bin weights are not supported") == true)
    }

    @Test("not a folder, or no model_index.json")
    func badFolders() throws {
        let folder = try TemporaryDirectory()
        let missing = folder.url.appendingPathComponent("nothing")
        #expect(weightsError { _ = try ModelDirectory(url: missing) } == .missingFile(path: missing.path))
        #expect(weightsError { _ = try ModelDirectory(url: folder.url) }
            == .missingFile(path: folder.url.appendingPathComponent("model_index.json").path))
        let file = try folder.write(Data("x".utf8), to: "file.safetensors")
        #expect(weightsError { _ = try ModelDirectory(url: file) }?.description
            == "invalid configuration \(file.path): not a folder (expected a diffusers model folder with model_index.json)")
    }
}
