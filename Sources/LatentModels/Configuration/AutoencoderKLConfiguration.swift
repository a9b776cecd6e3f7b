/// Architecture of the KL autoencoder (VAE), read from diffusers' `vae/config.json` as-is.
///
/// Defaults are diffusers' `AutoencoderKL` defaults (models/autoencoders/autoencoder_kl.py, diffusers 0.42.1).
public struct AutoencoderKLConfiguration: Codable, Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var downBlockTypes: [String]
    public var upBlockTypes: [String]
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var actFn: String
    public var latentChannels: Int
    public var normNumGroups: Int
    public var sampleSize: Int?
    public var scalingFactor: Float
    public var shiftFactor: Float?
    public var useQuantConv: Bool
    public var usePostQuantConv: Bool
    public var midBlockAddAttention: Bool

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels", outChannels = "out_channels", downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types", blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block", actFn = "act_fn", latentChannels = "latent_channels"
        case normNumGroups = "norm_num_groups", sampleSize = "sample_size", scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor", useQuantConv = "use_quant_conv", usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 3
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 3
        downBlockTypes = try c.decodeIfPresent([String].self, forKey: .downBlockTypes) ?? ["DownEncoderBlock2D"]
        upBlockTypes = try c.decodeIfPresent([String].self, forKey: .upBlockTypes) ?? ["UpDecoderBlock2D"]
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? [64]
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? 1
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? "silu"
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? 4
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? 32
        sampleSize = try c.decodeIfPresent(Int.self, forKey: .sampleSize)
        scalingFactor = try c.decodeIfPresent(Float.self, forKey: .scalingFactor) ?? 0.18215
        shiftFactor = try c.decodeIfPresent(Float.self, forKey: .shiftFactor)
        useQuantConv = try c.decodeIfPresent(Bool.self, forKey: .useQuantConv) ?? true
        usePostQuantConv = try c.decodeIfPresent(Bool.self, forKey: .usePostQuantConv) ?? true
        midBlockAddAttention = try c.decodeIfPresent(Bool.self, forKey: .midBlockAddAttention) ?? true
    }

    /// The factor between image and latent size, `2^(levels − 1)` (8 for Stable Diffusion).
    public var downscaleFactor: Int { 1 << (blockOutChannels.count - 1) }

    /// Checks for options Latent does not implement.
    /// - Throws: `ModelConfigurationError`
    public func validate() throws {
        for type in downBlockTypes where type != "DownEncoderBlock2D" {
            throw ModelConfigurationError.unsupported(component: "vae", key: "down_block_types", value: type)
        }
        for type in upBlockTypes where type != "UpDecoderBlock2D" {
            throw ModelConfigurationError.unsupported(component: "vae", key: "up_block_types", value: type)
        }
        if actFn != "silu" { throw ModelConfigurationError.unsupported(component: "vae", key: "act_fn", value: actFn) }
        if downBlockTypes.count != blockOutChannels.count || upBlockTypes.count != blockOutChannels.count {
            throw ModelConfigurationError.inconsistent(component: "vae", reason: "block counts disagree with block_out_channels")
        }
    }
}
