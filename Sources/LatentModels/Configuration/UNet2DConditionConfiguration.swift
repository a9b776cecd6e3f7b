/// Architecture of a Stable Diffusion UNet, read from diffusers' `unet/config.json` as-is.
///
/// Defaults are diffusers' `UNet2DConditionModel` defaults for absent keys
/// (models/unets/unet_2d_condition.py, diffusers 0.42.1).
public struct UNet2DConditionConfiguration: Codable, Sendable, Equatable {
    public var sampleSize: Int?
    public var inChannels: Int
    public var outChannels: Int
    public var centerInputSample: Bool
    public var flipSinToCos: Bool
    public var freqShift: Int
    public var downBlockTypes: [String]
    public var midBlockType: String?
    public var upBlockTypes: [String]
    public var onlyCrossAttention: Bool
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var downsamplePadding: Int
    public var midBlockScaleFactor: Float
    public var actFn: String
    public var normNumGroups: Int
    public var normEps: Float
    public var crossAttentionDim: Int
    public var transformerLayersPerBlock: IntOrList
    public var attentionHeadDim: IntOrList
    public var numAttentionHeads: IntOrList?
    public var dualCrossAttention: Bool
    public var useLinearProjection: Bool
    public var upcastAttention: Bool
    public var resnetTimeScaleShift: String
    public var classEmbedType: String?
    public var additionEmbedType: String?
    public var timeEmbeddingType: String
    public var convInKernel: Int
    public var convOutKernel: Int
    /// `time_cond_proj_dim`: the guidance-scale embedding of LCM-distilled UNets (not supported yet).
    public var timeConditionProjectionDimension: Int?

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size", inChannels = "in_channels", outChannels = "out_channels"
        case centerInputSample = "center_input_sample", flipSinToCos = "flip_sin_to_cos", freqShift = "freq_shift"
        case downBlockTypes = "down_block_types", midBlockType = "mid_block_type", upBlockTypes = "up_block_types"
        case onlyCrossAttention = "only_cross_attention", blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block", downsamplePadding = "downsample_padding"
        case midBlockScaleFactor = "mid_block_scale_factor", actFn = "act_fn", normNumGroups = "norm_num_groups"
        case normEps = "norm_eps", crossAttentionDim = "cross_attention_dim"
        case transformerLayersPerBlock = "transformer_layers_per_block", attentionHeadDim = "attention_head_dim"
        case numAttentionHeads = "num_attention_heads", dualCrossAttention = "dual_cross_attention"
        case useLinearProjection = "use_linear_projection", upcastAttention = "upcast_attention"
        case resnetTimeScaleShift = "resnet_time_scale_shift", classEmbedType = "class_embed_type"
        case additionEmbedType = "addition_embed_type", timeEmbeddingType = "time_embedding_type"
        case convInKernel = "conv_in_kernel", convOutKernel = "conv_out_kernel"
        case timeConditionProjectionDimension = "time_cond_proj_dim"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sampleSize = try c.decodeIfPresent(Int.self, forKey: .sampleSize)
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 4
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 4
        centerInputSample = try c.decodeIfPresent(Bool.self, forKey: .centerInputSample) ?? false
        flipSinToCos = try c.decodeIfPresent(Bool.self, forKey: .flipSinToCos) ?? true
        freqShift = try c.decodeIfPresent(Int.self, forKey: .freqShift) ?? 0
        downBlockTypes = try c.decodeIfPresent([String].self, forKey: .downBlockTypes)
            ?? ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
        midBlockType = try c.decodeIfPresent(String.self, forKey: .midBlockType) ?? "UNetMidBlock2DCrossAttn"
        upBlockTypes = try c.decodeIfPresent([String].self, forKey: .upBlockTypes)
            ?? ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
        onlyCrossAttention = (try? c.decodeIfPresent(Bool.self, forKey: .onlyCrossAttention)) ?? false
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? [320, 640, 1280, 1280]
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? 2
        downsamplePadding = try c.decodeIfPresent(Int.self, forKey: .downsamplePadding) ?? 1
        midBlockScaleFactor = try c.decodeIfPresent(Float.self, forKey: .midBlockScaleFactor) ?? 1
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? "silu"
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? 32
        normEps = try c.decodeIfPresent(Float.self, forKey: .normEps) ?? 1e-5
        crossAttentionDim = try c.decodeIfPresent(Int.self, forKey: .crossAttentionDim) ?? 1280
        transformerLayersPerBlock = try c.decodeIfPresent(IntOrList.self, forKey: .transformerLayersPerBlock) ?? .single(1)
        attentionHeadDim = try c.decodeIfPresent(IntOrList.self, forKey: .attentionHeadDim) ?? .single(8)
        numAttentionHeads = try c.decodeIfPresent(IntOrList.self, forKey: .numAttentionHeads)
        dualCrossAttention = try c.decodeIfPresent(Bool.self, forKey: .dualCrossAttention) ?? false
        useLinearProjection = try c.decodeIfPresent(Bool.self, forKey: .useLinearProjection) ?? false
        upcastAttention = try c.decodeIfPresent(Bool.self, forKey: .upcastAttention) ?? false
        resnetTimeScaleShift = try c.decodeIfPresent(String.self, forKey: .resnetTimeScaleShift) ?? "default"
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        additionEmbedType = try c.decodeIfPresent(String.self, forKey: .additionEmbedType)
        timeEmbeddingType = try c.decodeIfPresent(String.self, forKey: .timeEmbeddingType) ?? "positional"
        convInKernel = try c.decodeIfPresent(Int.self, forKey: .convInKernel) ?? 3
        convOutKernel = try c.decodeIfPresent(Int.self, forKey: .convOutKernel) ?? 3
        timeConditionProjectionDimension = try c.decodeIfPresent(Int.self, forKey: .timeConditionProjectionDimension)
    }

    /// Attention heads of down block `index`.
    ///
    /// diffusers reads `attention_head_dim` as a head *count* when `num_attention_heads` is absent (a naming
    /// quirk every SD checkpoint relies on: SD1's 8, SD2's [5, 10, 20, 20]).
    public func heads(forBlock index: Int) -> Int {
        (numAttentionHeads ?? attentionHeadDim).value(at: index)
    }

    /// Checks for options Latent does not implement, naming the first one found.
    /// - Throws: `ModelConfigurationError`
    public func validate() throws {
        func refuse(_ key: String, _ value: String) throws {
            throw ModelConfigurationError.unsupported(component: "unet", key: key, value: value)
        }
        let known: Set = ["CrossAttnDownBlock2D", "DownBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]
        for type in downBlockTypes + upBlockTypes where !known.contains(type) { try refuse("block type", type) }
        if let midBlockType, midBlockType != "UNetMidBlock2DCrossAttn" { try refuse("mid_block_type", midBlockType) }
        if downBlockTypes.count != blockOutChannels.count || upBlockTypes.count != blockOutChannels.count {
            throw ModelConfigurationError.inconsistent(
                component: "unet", reason: "\(blockOutChannels.count) block_out_channels for \(downBlockTypes.count) down and \(upBlockTypes.count) up blocks")
        }
        if onlyCrossAttention { try refuse("only_cross_attention", "true") }
        if dualCrossAttention { try refuse("dual_cross_attention", "true") }
        if actFn != "silu" { try refuse("act_fn", actFn) }
        if resnetTimeScaleShift != "default" { try refuse("resnet_time_scale_shift", resnetTimeScaleShift) }
        if let classEmbedType { try refuse("class_embed_type", classEmbedType) }
        if let additionEmbedType { try refuse("addition_embed_type (SDXL)", additionEmbedType) }
        if timeEmbeddingType != "positional" { try refuse("time_embedding_type", timeEmbeddingType) }
        if convInKernel != 3 || convOutKernel != 3 { try refuse("conv_in_kernel/conv_out_kernel", "\(convInKernel)/\(convOutKernel)") }
        if centerInputSample { try refuse("center_input_sample", "true") }
        if let dimension = timeConditionProjectionDimension { try refuse("time_cond_proj_dim (LCM-distilled UNet)", "\(dimension)") }
        for (i, channels) in blockOutChannels.enumerated() where channels % heads(forBlock: i) != 0 {
            throw ModelConfigurationError.inconsistent(
                component: "unet", reason: "\(channels) channels not divisible by \(heads(forBlock: i)) heads")
        }
    }
}
