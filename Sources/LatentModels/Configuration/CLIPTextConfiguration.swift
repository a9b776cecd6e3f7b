/// The architecture of a CLIP text encoder, decoded from a diffusers `text_encoder/config.json` as-is.
///
/// Matches: transformers `CLIPTextConfig` (configuration_clip.py, transformers 5.24); absent keys take
/// transformers' defaults, and keys Latent does not need (`architectures`, `dtype`, `initializer_range`, …)
/// are ignored.
public struct CLIPTextConfiguration: Codable, Sendable, Equatable {
    /// The MLP non-linearity named by `hidden_act`.
    public enum Activation: String, Codable, Sendable, Equatable, CaseIterable {
        /// `x · sigmoid(1.702 x)`: OpenAI CLIP, used by Stable Diffusion 1.x.
        case quickGelu = "quick_gelu"
        /// Exact erf GELU: OpenCLIP ViT-H, used by Stable Diffusion 2.x.
        case gelu = "gelu"

        /// Decodes a `hidden_act` string, naming the value when Latent does not implement it.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let name = try container.decode(String.self)
            guard let activation = Activation(rawValue: name) else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "unsupported hidden_act '\(name)' (supported: "
                        + Activation.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            self = activation
        }
    }

    /// Number of token ids (`vocab_size`).
    public var vocabularySize: Int
    /// Width of every token vector (`hidden_size`).
    public var hiddenSize: Int
    /// Width of the MLP's hidden layer (`intermediate_size`).
    public var intermediateSize: Int
    /// Width of the text projection of `CLIPTextModelWithProjection` (`projection_dim`); unused by the plain model.
    public var projectionDimension: Int
    /// Number of encoder layers (`num_hidden_layers`).
    public var hiddenLayerCount: Int
    /// Number of attention heads per layer (`num_attention_heads`).
    public var attentionHeadCount: Int
    /// Longest token sequence, and rows of the position table (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// The MLP activation (`hidden_act`).
    public var hiddenActivation: Activation
    /// LayerNorm epsilon (`layer_norm_eps`).
    public var layerNormEpsilon: Float
    /// Padding token id (`pad_token_id`), `nil` when the config sets it to null.
    public var padTokenID: Int?
    /// Start-of-text token id (`bos_token_id`).
    public var bosTokenID: Int?
    /// End-of-text token id (`eos_token_id`; the first one when the config lists several).
    public var eosTokenID: Int?

    /// Creates a configuration; the defaults are transformers' `CLIPTextConfig()` (openai/clip-vit-base-patch32).
    public init(
        vocabularySize: Int = 49408,
        hiddenSize: Int = 512,
        intermediateSize: Int = 2048,
        projectionDimension: Int = 512,
        hiddenLayerCount: Int = 12,
        attentionHeadCount: Int = 8,
        maxPositionEmbeddings: Int = 77,
        hiddenActivation: Activation = .quickGelu,
        layerNormEpsilon: Float = 1e-5,
        padTokenID: Int? = 1,
        bosTokenID: Int? = 49406,
        eosTokenID: Int? = 49407
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.projectionDimension = projectionDimension
        self.hiddenLayerCount = hiddenLayerCount
        self.attentionHeadCount = attentionHeadCount
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenActivation = hiddenActivation
        self.layerNormEpsilon = layerNormEpsilon
        self.padTokenID = padTokenID
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
    }

    /// Stable Diffusion 1.x's text encoder (OpenAI CLIP ViT-L/14), as in
    /// https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/blob/main/text_encoder/config.json
    public static let stableDiffusion15 = CLIPTextConfiguration(
        hiddenSize: 768, intermediateSize: 3072, projectionDimension: 768, hiddenLayerCount: 12,
        attentionHeadCount: 12, hiddenActivation: .quickGelu, padTokenID: 1, bosTokenID: 0, eosTokenID: 2)

    /// Stable Diffusion 2.x's text encoder (OpenCLIP ViT-H/14 without its last layer), as in
    /// https://huggingface.co/stabilityai/stable-diffusion-2-1/blob/main/text_encoder/config.json
    public static let stableDiffusion2 = CLIPTextConfiguration(
        hiddenSize: 1024, intermediateSize: 4096, projectionDimension: 512, hiddenLayerCount: 23,
        attentionHeadCount: 16, hiddenActivation: .gelu, padTokenID: 1, bosTokenID: 0, eosTokenID: 2)

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case projectionDimension = "projection_dim"
        case hiddenLayerCount = "num_hidden_layers"
        case attentionHeadCount = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenActivation = "hidden_act"
        case layerNormEpsilon = "layer_norm_eps"
        case padTokenID = "pad_token_id"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
    }

    /// Decodes a transformers `config.json`, taking `CLIPTextConfig`'s default for every absent key.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfiguration()
        vocabularySize = try c.decodeIfPresent(Int.self, forKey: .vocabularySize) ?? d.vocabularySize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        projectionDimension = try c.decodeIfPresent(Int.self, forKey: .projectionDimension) ?? d.projectionDimension
        hiddenLayerCount = try c.decodeIfPresent(Int.self, forKey: .hiddenLayerCount) ?? d.hiddenLayerCount
        attentionHeadCount = try c.decodeIfPresent(Int.self, forKey: .attentionHeadCount) ?? d.attentionHeadCount
        maxPositionEmbeddings =
            try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        hiddenActivation = try c.decodeIfPresent(Activation.self, forKey: .hiddenActivation) ?? d.hiddenActivation
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? d.layerNormEpsilon
        padTokenID = try Self.decodeTokenID(c, .padTokenID, default: d.padTokenID)
        bosTokenID = try Self.decodeTokenID(c, .bosTokenID, default: d.bosTokenID)
        eosTokenID = try Self.decodeTokenID(c, .eosTokenID, default: d.eosTokenID)
    }

    /// A special-token id: absent → default, `null` → `nil`, a list (transformers 5 allows one for
    /// `eos_token_id`) → its first element.
    private static func decodeTokenID(
        _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, default value: Int?
    ) throws -> Int? {
        guard c.contains(key) else { return value }
        if try c.decodeNil(forKey: key) { return nil }
        if let list = try? c.decode([Int].self, forKey: key) { return list.first }
        return try c.decode(Int.self, forKey: key)
    }
}
