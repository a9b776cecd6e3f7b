import LatentCore
import LatentWeights

/// Errors from building or running a `CLIPTextModel`.
public enum CLIPTextModelError: Error, CustomStringConvertible, Equatable {
    /// The configuration describes no runnable model.
    case invalidConfiguration(reason: String)
    /// The batch holds no sequences, or a sequence holds no tokens.
    case emptyInput
    /// The sequences of a batch differ in length.
    case raggedInput(row: Int, length: Int, expected: Int)
    /// A sequence is longer than the position table.
    case sequenceTooLong(length: Int, maximum: Int)
    /// A token id lies outside the vocabulary.
    case tokenOutOfRange(id: Int, row: Int, position: Int, vocabularySize: Int)
    /// A requested layer index lies outside the encoder.
    case layerOutOfRange(requested: Int, available: Int)

    public var description: String {
        switch self {
        case let .invalidConfiguration(reason):
            "invalid CLIP text configuration: \(reason)"
        case .emptyInput:
            "CLIP text input is empty (no sequences or no tokens)"
        case let .raggedInput(row, length, expected):
            "CLIP text input row \(row) has \(length) tokens, expected \(expected) like row 0"
        case let .sequenceTooLong(length, maximum):
            "CLIP text input has \(length) tokens, more than the \(maximum) positions of the model"
        case let .tokenOutOfRange(id, row, position, vocabularySize):
            "CLIP token id \(id) at row \(row), position \(position) is outside the vocabulary 0..<\(vocabularySize)"
        case let .layerOutOfRange(requested, available):
            "CLIP layer \(requested) requested, but the encoder has layers 0...\(available)"
        }
    }
}

/// The CLIP text encoder that conditions Stable Diffusion: token and position embeddings, a stack of pre-LN
/// causal transformer layers, and a final LayerNorm.
///
/// Matches: transformers `CLIPTextModel` (modeling_clip.py, transformers 5.24), `last_hidden_state` output;
/// weights are named as in published checkpoints (`text_model.embeddings.token_embedding.weight`, …).
public struct CLIPTextModel: Sendable {
    /// The architecture this model was built for.
    public let configuration: CLIPTextConfiguration
    let tokenEmbedding: Embedding
    let positionEmbedding: Embedding
    let layers: [CLIPEncoderLayer]
    let finalLayerNorm: LayerNorm

    /// Loads the model, checking every tensor's shape against `configuration`.
    ///
    /// The checkpoint's `text_model.embeddings.position_ids` buffer, which older transformers versions saved,
    /// is marked used and otherwise ignored (positions are always `0..<L`).
    /// - Parameters:
    ///   - configuration: The architecture, usually decoded from `text_encoder/config.json`.
    ///   - weights: The scope of the text encoder's checkpoint; tensors are read under its `text_model.` level.
    /// - Throws: `CLIPTextModelError.invalidConfiguration`, or `WeightsError` for a missing or mis-shaped tensor.
    public init(configuration: CLIPTextConfiguration, weights: WeightScope) throws {
        let c = configuration
        guard c.vocabularySize > 0, c.hiddenSize > 0, c.intermediateSize > 0, c.maxPositionEmbeddings > 0,
              c.hiddenLayerCount >= 0, c.attentionHeadCount > 0
        else {
            throw CLIPTextModelError.invalidConfiguration(reason: "sizes and counts must be positive")
        }
        guard c.hiddenSize % c.attentionHeadCount == 0 else {
            throw CLIPTextModelError.invalidConfiguration(
                reason: "hidden_size \(c.hiddenSize) is not divisible by num_attention_heads \(c.attentionHeadCount)")
        }
        self.configuration = c
        let textModel = weights.scoped("text_model")
        let embeddings = textModel.scoped("embeddings")
        tokenEmbedding = try Embedding(
            embeddings.scoped("token_embedding"), count: c.vocabularySize, dimension: c.hiddenSize)
        positionEmbedding = try Embedding(
            embeddings.scoped("position_embedding"), count: c.maxPositionEmbeddings, dimension: c.hiddenSize)
        if embeddings.contains("position_ids") {
            weights.store.ignore(embeddings.key("position_ids"))
        }
        let encoderLayers = textModel.scoped("encoder.layers")
        layers = try (0..<c.hiddenLayerCount).map {
            try CLIPEncoderLayer(encoderLayers.scoped(String($0)), configuration: c)
        }
        finalLayerNorm = try LayerNorm(
            textModel.scoped("final_layer_norm"), dimension: c.hiddenSize, epsilon: c.layerNormEpsilon)
    }

    /// Encodes token ids into the sequence of hidden states Stable Diffusion's UNet attends to.
    ///
    /// With `clipSkip` = `k > 0` the result is the output of layer `N − k` passed through the final LayerNorm,
    /// which is what diffusers' `StableDiffusionPipeline.encode_prompt(clip_skip: k)` feeds the UNet.
    /// - Parameters:
    ///   - inputIDs: `B` rows of `L` token ids each, `1 ≤ L ≤ max_position_embeddings` (77 for SD).
    ///   - clipSkip: How many final layers to skip, `0...N`; 0 gives transformers' `last_hidden_state`.
    /// - Returns: `[B, L, hidden_size]`.
    /// - Throws: `CLIPTextModelError` for empty, ragged, too long or out-of-vocabulary input, or a bad `clipSkip`.
    public func callAsFunction(inputIDs: [[Int]], clipSkip: Int = 0) throws -> Tensor {
        guard clipSkip >= 0 && clipSkip <= layers.count else {
            throw CLIPTextModelError.layerOutOfRange(requested: layers.count - clipSkip, available: layers.count)
        }
        let hidden = try hiddenState(inputIDs: inputIDs, layerCount: layers.count - clipSkip)
        return finalLayerNorm(hidden)
    }

    /// The encoder's hidden state after its first `layerCount` layers, without the final LayerNorm.
    ///
    /// This is transformers' `hidden_states[layerCount]` with `output_hidden_states=True`: index 0 is the
    /// embedding output and index `N` the last layer's output (before `final_layer_norm`). Pipelines that skip
    /// CLIP layers normalise it with `applyFinalLayerNorm(_:)`.
    /// - Parameters:
    ///   - inputIDs: `B` rows of `L` token ids each.
    ///   - layerCount: How many encoder layers to run, `0...N`.
    /// - Returns: `[B, L, hidden_size]`.
    /// - Throws: `CLIPTextModelError` for invalid input or `layerCount`.
    public func hiddenState(inputIDs: [[Int]], layerCount: Int) throws -> Tensor {
        guard layerCount >= 0 && layerCount <= layers.count else {
            throw CLIPTextModelError.layerOutOfRange(requested: layerCount, available: layers.count)
        }
        var hidden = try embed(inputIDs)  // [B, L, D]
        for layer in layers.prefix(layerCount) {
            hidden = layer(hidden)
        }
        return hidden
    }

    /// Applies the model's `final_layer_norm` to a hidden state from `hiddenState(inputIDs:layerCount:)`.
    /// - Parameter hiddenState: `[B, L, hidden_size]`.
    /// - Returns: `[B, L, hidden_size]`.
    public func applyFinalLayerNorm(_ hiddenState: Tensor) -> Tensor {
        finalLayerNorm(hiddenState)
    }

    /// Token plus position embeddings, after validating the ids.
    /// - Returns: `[B, L, D]`.
    private func embed(_ inputIDs: [[Int]]) throws -> Tensor {
        guard let length = inputIDs.first?.count, length > 0 else { throw CLIPTextModelError.emptyInput }
        guard length <= configuration.maxPositionEmbeddings else {
            throw CLIPTextModelError.sequenceTooLong(length: length, maximum: configuration.maxPositionEmbeddings)
        }
        let vocabulary = configuration.vocabularySize
        for (row, ids) in inputIDs.enumerated() {
            guard ids.count == length else {
                throw CLIPTextModelError.raggedInput(row: row, length: ids.count, expected: length)
            }
            if let position = ids.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
                throw CLIPTextModelError.tokenOutOfRange(
                    id: ids[position], row: row, position: position, vocabularySize: vocabulary)
            }
        }
        let batch = inputIDs.count, d = configuration.hiddenSize
        var hidden = tokenEmbedding(inputIDs.flatMap { $0 })  // [B·L, D]
        let positions = positionEmbedding(Array(0..<length))  // [L, D]
        hidden.scalars.withUnsafeMutableBufferPointer { h in
            positions.scalars.withUnsafeBufferPointer { p in
                for b in 0..<batch {
                    let row = h.baseAddress! + b * length * d
                    for i in 0..<(length * d) { row[i] += p[i] }
                }
            }
        }
        return hidden.reshaped([batch, length, d])
    }
}

/// One pre-LN transformer block: `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
///
/// Matches: transformers `CLIPEncoderLayer` (modeling_clip.py, transformers 5.24).
struct CLIPEncoderLayer: Sendable {
    let layerNorm1: LayerNorm
    let selfAttention: CLIPAttention
    let layerNorm2: LayerNorm
    let mlp: CLIPMLP

    init(_ scope: WeightScope, configuration c: CLIPTextConfiguration) throws {
        layerNorm1 = try LayerNorm(scope.scoped("layer_norm1"), dimension: c.hiddenSize, epsilon: c.layerNormEpsilon)
        selfAttention = try CLIPAttention(scope.scoped("self_attn"), configuration: c)
        layerNorm2 = try LayerNorm(scope.scoped("layer_norm2"), dimension: c.hiddenSize, epsilon: c.layerNormEpsilon)
        mlp = try CLIPMLP(scope.scoped("mlp"), configuration: c)
    }

    /// - Parameter x: `[B, L, D]`.
    /// - Returns: `[B, L, D]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        var hidden = x
        hidden.add(selfAttention(layerNorm1(hidden)))
        hidden.add(mlp(layerNorm2(hidden)))
        return hidden
    }
}

/// Multi-head self-attention with a causal mask (each token sees itself and earlier tokens only).
///
/// Matches: transformers `CLIPAttention` (modeling_clip.py, transformers 5.24) under the text model's causal mask.
struct CLIPAttention: Sendable {
    let queryProjection: Linear
    let keyProjection: Linear
    let valueProjection: Linear
    let outputProjection: Linear
    let heads: Int

    init(_ scope: WeightScope, configuration c: CLIPTextConfiguration) throws {
        let d = c.hiddenSize
        queryProjection = try Linear(scope.scoped("q_proj"), inFeatures: d, outFeatures: d)
        keyProjection = try Linear(scope.scoped("k_proj"), inFeatures: d, outFeatures: d)
        valueProjection = try Linear(scope.scoped("v_proj"), inFeatures: d, outFeatures: d)
        outputProjection = try Linear(scope.scoped("out_proj"), inFeatures: d, outFeatures: d)
        heads = c.attentionHeadCount
    }

    /// - Parameter x: `[B, L, D]`.
    /// - Returns: `[B, L, D]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        // Scores are scaled by 1/√(D/heads), the kernel's default, as CLIP scales its queries.
        let mixed = attention(
            query: queryProjection(x), key: keyProjection(x), value: valueProjection(x),
            heads: heads, causal: true)  // [B, L, D]
        return outputProjection(mixed)
    }
}

/// The feed-forward block: `fc2(act(fc1(x)))`.
///
/// Matches: transformers `CLIPMLP` (modeling_clip.py, transformers 5.24).
struct CLIPMLP: Sendable {
    let fc1: Linear
    let fc2: Linear
    let activation: CLIPTextConfiguration.Activation

    init(_ scope: WeightScope, configuration c: CLIPTextConfiguration) throws {
        fc1 = try Linear(scope.scoped("fc1"), inFeatures: c.hiddenSize, outFeatures: c.intermediateSize)
        fc2 = try Linear(scope.scoped("fc2"), inFeatures: c.intermediateSize, outFeatures: c.hiddenSize)
        activation = c.hiddenActivation
    }

    /// - Parameter x: `[B, L, D]`.
    /// - Returns: `[B, L, D]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = fc1(x)  // [B, L, intermediate]
        return switch activation {
        case .quickGelu: fc2(quickGelu(h))
        case .gelu: fc2(gelu(h))
        }
    }
}
