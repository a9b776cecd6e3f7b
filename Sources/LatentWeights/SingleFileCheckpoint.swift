import Foundation

/// A CompVis/LDM single-file Stable Diffusion checkpoint (`.safetensors`), viewed as diffusers components.
///
/// Matches: diffusers `FromSingleFileMixin` conversion for SD 1.x / 2.x (loaders/single_file_utils.py,
/// diffusers 0.42.1). The family is detected from tensor names (`cond_stage_model.transformer.*` → SD 1,
/// `cond_stage_model.model.*` → SD 2 OpenCLIP, `conditioner.embedders.*` → SDXL, rejected), the architecture is
/// inferred from shapes, and keys are renamed by the tables in `KeyMapping/`. Tensors outside the three
/// components (EMA copies, `alphas_cumprod`, …) are ignored; unknown tensors inside a component keep their
/// original name so strict loading reports them.
public struct SingleFileCheckpoint: Sendable {
    /// The model family.
    public enum Family: String, Sendable {
        /// Stable Diffusion 1.x (CLIP ViT-L/14 text encoder).
        case sd1
        /// Stable Diffusion 2.x (OpenCLIP ViT-H/14 text encoder).
        case sd2
    }

    /// The checkpoint file.
    public let url: URL
    /// The detected family.
    public let family: Family
    /// Whether the UNet takes the 9-channel inpainting input (latents, mask, masked-image latents).
    public let isInpainting: Bool
    /// UNet tensors in diffusers naming.
    public let unet: any TensorSource
    /// VAE tensors in diffusers naming.
    public let vae: any TensorSource
    /// Text-encoder tensors in transformers naming, with the `text_model.` level.
    public let textEncoder: any TensorSource
    /// Synthesised diffusers `unet/config.json`.
    public let unetConfig: Data
    /// Synthesised diffusers `vae/config.json`.
    public let vaeConfig: Data
    /// Synthesised transformers `text_encoder/config.json`.
    public let textEncoderConfig: Data
    /// Synthesised diffusers `scheduler/scheduler_config.json`.
    public let schedulerConfig: Data
    /// The tokenizer's padding token (`<|endoftext|>` for SD 1, `!` for SD 2).
    public let tokenizerPadToken: String
    /// `epsilon` (SD 1) or `v_prediction` (SD 2).
    public let predictionType: String
    /// The native image side in pixels (512 for SD 1, 768 for SD 2).
    public let defaultImageSize: Int

    /// Opens and converts a checkpoint.
    /// - Parameter url: A `.safetensors` LDM checkpoint.
    /// - Throws: `WeightsError.invalidFile` for an unreadable file; `.unknownArchitecture` for SDXL (not
    ///   supported yet) and for anything that is not an SD 1/2 checkpoint, saying what was found.
    public init(contentsOf url: URL) throws {
        let file = try SafeTensorsFile(contentsOf: url)
        let path = url.path
        func hasPrefix(_ prefix: String) -> Bool { file.keys.contains { $0.hasPrefix(prefix) } }
        func unknown(_ reason: String) -> WeightsError { .unknownArchitecture(path: path, reason: reason) }

        if hasPrefix("conditioner.embedders.") {
            throw unknown("SDXL single-file checkpoints are not supported yet")
        }
        let family: Family
        if hasPrefix(CLIPTextKeys.ldmPrefix) {
            family = .sd1
        } else if hasPrefix(OpenCLIPToHF.prefix) {
            family = .sd2
        } else {
            throw unknown("no SD 1 (cond_stage_model.transformer.*) or SD 2 (cond_stage_model.model.*) text encoder; "
                + Self.summary(of: file.keys))
        }
        guard hasPrefix(CompVisToDiffusers.unetPrefix) else {
            throw unknown("no UNet tensors (model.diffusion_model.*); " + Self.summary(of: file.keys))
        }
        guard hasPrefix(CompVisToDiffusers.vaePrefix) else {
            throw unknown("no VAE tensors (first_stage_model.*); " + Self.summary(of: file.keys))
        }

        let unetKeys = file.keys.filter { $0.hasPrefix(CompVisToDiffusers.unetPrefix) }
            .map { String($0.dropFirst(CompVisToDiffusers.unetPrefix.count)) }
        let layout = try CompVisToDiffusers.UNetLayout(keys: unetKeys, path: path)
        let unet = try CompVisToDiffusers.unet.mappedSource(
            file, prefix: CompVisToDiffusers.unetPrefix, transforms: layout.transforms, name: path + " (unet)")

        let vaeKeys = file.keys.filter { $0.hasPrefix(CompVisToDiffusers.vaePrefix) }
            .map { String($0.dropFirst(CompVisToDiffusers.vaePrefix.count)) }
        let vae = try CompVisToDiffusers.vae.mappedSource(
            file, prefix: CompVisToDiffusers.vaePrefix, transforms: CompVisToDiffusers.VAELayout(keys: vaeKeys).transforms,
            name: path + " (vae)")

        let textEncoder: MappedTensorSource
        switch family {
        case .sd1:
            textEncoder = CLIPTextKeys.source(file, stripping: CLIPTextKeys.ldmPrefix, name: path + " (text_encoder)")
        case .sd2:
            let clipKeys = file.keys.filter { $0.hasPrefix(OpenCLIPToHF.prefix) }
                .map { String($0.dropFirst(OpenCLIPToHF.prefix.count)) }
            let transforms = OpenCLIPToHF.transforms(resblockCount: OpenCLIPToHF.resblockCount(keys: clipKeys))
            textEncoder = try OpenCLIPToHF.table.mappedSource(
                file, prefix: OpenCLIPToHF.prefix, transforms: transforms, name: path + " (text_encoder)")
        }

        let unetArchitecture = try UNetArchitecture(unet, layout: layout, path: path)
        let vaeArchitecture = try VAEArchitecture(vae, path: path)
        let textArchitecture = try TextEncoderArchitecture(textEncoder, path: path)
        guard textArchitecture.hiddenSize == unetArchitecture.crossAttentionDim else {
            throw unknown("text encoder hidden size \(textArchitecture.hiddenSize) does not match the UNet "
                + "cross-attention dim \(unetArchitecture.crossAttentionDim)")
        }

        self.url = url
        self.family = family
        self.isInpainting = unetArchitecture.inChannels == 9
        self.unet = unet
        self.vae = vae
        self.textEncoder = textEncoder
        self.unetConfig = unetArchitecture.config(family: family).data()
        self.vaeConfig = vaeArchitecture.config(family: family).data()
        self.textEncoderConfig = textArchitecture.config(family: family).data()
        self.schedulerConfig = Self.schedulerConfig(family: family).data()
        self.tokenizerPadToken = family == .sd1 ? "<|endoftext|>" : "!"
        self.predictionType = family == .sd1 ? "epsilon" : "v_prediction"
        self.defaultImageSize = family == .sd1 ? 512 : 768
    }

    /// "N tensors; prefixes: a (n), b (m)…", to say what an unrecognised file holds.
    static func summary(of keys: [String]) -> String {
        var counts: [String: Int] = [:]
        for key in keys {
            let parts = key.split(separator: ".", maxSplits: 2)
            let prefix = parts.count > 2 ? parts.prefix(2).joined(separator: ".") : (parts.first.map(String.init) ?? key)
            counts[prefix, default: 0] += 1
        }
        let listed = counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(8)
            .map { "\($0.key).* (\($0.value))" }
        return "found \(keys.count) tensors" + (listed.isEmpty ? "" : ": " + listed.joined(separator: ", "))
            + (counts.count > 8 ? ", …" : "")
    }
}
