/// Normalises transformers `CLIPTextModel` key names to the published layout, `text_model.…`.
///
/// transformers 5 saves `CLIPTextModel` without the `text_model.` level while published checkpoints (and
/// LDM single files) have it; models ask for the published names, so both spellings are exposed with it.
/// The `position_ids` buffer some files carry (an `I64` arange, not a learned weight) is hidden.
public enum CLIPTextKeys {
    /// The level every exposed text-encoder key starts with.
    public static let textModelPrefix = "text_model."

    /// Prefix of the CLIP text encoder in an SD 1.x checkpoint.
    public static let ldmPrefix = "cond_stage_model.transformer."

    /// The name `key` (relative to the component) is exposed under, or `nil` when it is hidden.
    /// - Parameter key: A key such as `encoder.layers.0.mlp.fc1.weight` or `text_model.final_layer_norm.bias`.
    /// - Returns: The key with the `text_model.` level, or `nil` for `position_ids`.
    public static func normalized(_ key: String) -> String? {
        let full = key.hasPrefix(textModelPrefix) ? key : textModelPrefix + key
        return full == "text_model.embeddings.position_ids" ? nil : full
    }

    /// A view of `base`'s keys under `prefix` with `prefix` removed and the `text_model.` level ensured.
    /// - Parameters:
    ///   - base: The file or checkpoint.
    ///   - prefix: Leading text to strip (`""` for a diffusers `text_encoder` folder); keys without it are left out.
    ///   - name: The source name for error messages (defaults to the base's).
    /// - Returns: The normalised source.
    public static func source(
        _ base: any TensorSource, stripping prefix: String = "", name: String? = nil
    ) -> MappedTensorSource {
        var mapping: [(String, TensorDerivation)] = []
        for key in base.keys where key.hasPrefix(prefix) {
            if let name = normalized(String(key.dropFirst(prefix.count))) {
                mapping.append((name, .identity(key)))
            }
        }
        return MappedTensorSource(base: base, mapping: mapping, name: name)
    }
}
