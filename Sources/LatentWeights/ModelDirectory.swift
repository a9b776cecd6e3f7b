import Foundation

/// A diffusers model folder (`model_index.json`, `unet/`, `vae/`, `text_encoder/`, `tokenizer/`, `scheduler/`).
public struct ModelDirectory: Sendable {
    /// The folder.
    public let url: URL

    /// Opens a diffusers folder.
    /// - Parameter url: The folder holding `model_index.json`.
    /// - Throws: `WeightsError.missingFile` when the folder or its `model_index.json` is absent,
    ///   `.invalidConfiguration` when `url` is not a folder.
    public init(url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw WeightsError.missingFile(path: url.path)
        }
        guard isDirectory.boolValue else {
            throw WeightsError.invalidConfiguration(
                path: url.path, reason: "not a folder (expected a diffusers model folder with model_index.json)")
        }
        self.url = url
        let index = url.appendingPathComponent("model_index.json")
        guard FileManager.default.fileExists(atPath: index.path) else { throw WeightsError.missingFile(path: index.path) }
    }

    /// The tokenizer folder (`vocab.json`, `merges.txt`, …).
    public var tokenizerDirectory: URL { url.appendingPathComponent("tokenizer") }

    /// The contents of `model_index.json`.
    /// - Throws: `WeightsError.missingFile` when it cannot be read.
    public func modelIndexData() throws -> Data {
        try read(url.appendingPathComponent("model_index.json"))
    }

    /// The configuration file of a component: `scheduler/scheduler_config.json` for `scheduler`, otherwise
    /// `<component>/config.json`.
    /// - Parameter component: `unet`, `vae`, `text_encoder`, `scheduler`, ….
    /// - Returns: The file's bytes.
    /// - Throws: `WeightsError.missingFile` naming the file.
    public func configData(_ component: String) throws -> Data {
        let name = component == "scheduler" ? "scheduler_config.json" : "config.json"
        return try read(url.appendingPathComponent(component).appendingPathComponent(name))
    }

    /// The weights of a component.
    ///
    /// Looks for `diffusion_pytorch_model[.<variant>].safetensors` and `model[.<variant>].safetensors`, each
    /// also as a sharded `….safetensors.index.json`. Without a variant the plain files are preferred and the
    /// `.fp16` variant is the fallback. Text encoders (`text_encoder*`) are exposed with the `text_model.` level
    /// whatever the file has (see `CLIPTextKeys`).
    /// - Parameters:
    ///   - component: The subfolder, e.g. `unet`.
    ///   - variant: A variant such as `fp16`, or `nil`.
    /// - Returns: The component's tensors in diffusers/transformers naming.
    /// - Throws: `WeightsError.invalidConfiguration` listing what was looked for when nothing matches; the
    ///   file's own errors.
    public func weights(_ component: String, variant: String? = nil) throws -> any TensorSource {
        let folder = url.appendingPathComponent(component)
        let variants: [String?] = variant.map { [$0] } ?? [nil, "fp16"]
        var tried: [String] = []
        for candidateVariant in variants {
            for stem in ["diffusion_pytorch_model", "model"] {
                let base = stem + (candidateVariant.map { ".\($0)" } ?? "") + ".safetensors"
                let single = folder.appendingPathComponent(base)
                let index = folder.appendingPathComponent(base + ".index.json")
                tried += [base, base + ".index.json"]
                let source: any TensorSource
                if FileManager.default.fileExists(atPath: single.path) {
                    source = try SafeTensorsFile(contentsOf: single)
                } else if FileManager.default.fileExists(atPath: index.path) {
                    source = try ShardedTensorSource(indexURL: index)
                } else {
                    continue
                }
                return component.hasPrefix("text_encoder") ? CLIPTextKeys.source(source) : source
            }
        }
        var reason = "no safetensors weights (looked for \(tried.joined(separator: ", ")))"
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        if contents.contains(where: { $0.hasSuffix(".bin") }) {
            reason += "; PyTorch .bin weights are not supported, convert them to safetensors"
        }
        throw WeightsError.invalidConfiguration(path: folder.path, reason: reason)
    }

    private func read(_ file: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: file.path), let data = try? Data(contentsOf: file) else {
            throw WeightsError.missingFile(path: file.path)
        }
        return data
    }
}
