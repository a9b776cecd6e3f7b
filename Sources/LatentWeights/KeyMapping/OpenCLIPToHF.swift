/// Key mapping from an OpenCLIP text tower (SD 2.x `cond_stage_model.model.*`) to transformers `CLIPTextModel`.
///
/// Matches: diffusers `convert_open_clip_checkpoint` (loaders/single_file_utils.py, diffusers 0.42.1), except
/// that the last residual block is dropped here rather than left unused: SD 2 conditions on the penultimate
/// layer, so diffusers' text encoder config has one layer fewer than the OpenCLIP tower.
public enum OpenCLIPToHF {
    /// Prefix of the OpenCLIP text tower in an SD 2 checkpoint.
    public static let prefix = "cond_stage_model.model."

    static let layer = "text_model.encoder.layers.{n}"

    /// Rules, relative to `cond_stage_model.model.`; `{n:lastLayer}` matches only the final resblock.
    public static let table = KeyMappingTable([
        KeyRule("transformer.resblocks.{n:lastLayer}", .drop),
        KeyRule("text_projection", .drop),
        KeyRule("logit_scale", .drop),
        KeyRule("attn_mask", .drop),
        KeyRule("token_embedding", .rename("text_model.embeddings.token_embedding")),
        KeyRule("positional_embedding", .rename("text_model.embeddings.position_embedding.weight")),
        KeyRule("ln_final", .rename("text_model.final_layer_norm")),
        KeyRule("transformer.resblocks.{n}.ln_1", .rename("\(layer).layer_norm1")),
        KeyRule("transformer.resblocks.{n}.ln_2", .rename("\(layer).layer_norm2")),
        KeyRule("transformer.resblocks.{n}.attn.in_proj_weight", .splitRows([
            "\(layer).self_attn.q_proj.weight", "\(layer).self_attn.k_proj.weight", "\(layer).self_attn.v_proj.weight",
        ])),
        KeyRule("transformer.resblocks.{n}.attn.in_proj_bias", .splitRows([
            "\(layer).self_attn.q_proj.bias", "\(layer).self_attn.k_proj.bias", "\(layer).self_attn.v_proj.bias",
        ])),
        KeyRule("transformer.resblocks.{n}.attn.out_proj", .rename("\(layer).self_attn.out_proj")),
        KeyRule("transformer.resblocks.{n}.mlp.c_fc", .rename("\(layer).mlp.fc1")),
        KeyRule("transformer.resblocks.{n}.mlp.c_proj", .rename("\(layer).mlp.fc2")),
    ])

    /// Number of residual blocks in the OpenCLIP tower, from keys relative to `cond_stage_model.model.`.
    public static func resblockCount(keys: some Sequence<String>) -> Int {
        var indices = Set<Int>()
        for key in keys {
            let parts = key.split(separator: ".")
            if parts.count >= 3, parts[0] == "transformer", parts[1] == "resblocks", let index = Int(parts[2]) {
                indices.insert(index)
            }
        }
        return (indices.max() ?? -1) + 1
    }

    /// The index transforms `table` refers to, for a tower of `resblockCount` blocks.
    public static func transforms(resblockCount: Int) -> [String: IndexTransform] {
        ["lastLayer": { n in n == resblockCount - 1 ? n : nil }]
    }
}
