import Foundation

/// One entry of a tokenizer's added vocabulary: a string cut out of the text before BPE and mapped to one id.
///
/// Matches: transformers `AddedToken` (tokenization_utils_base.py, transformers 5.24) as used by `tokenizers`.
public struct CLIPAddedToken: Codable, Sendable, Equatable {
    /// The literal text of the token, e.g. `<|endoftext|>`.
    public var content: String
    /// The id given by `added_tokens_decoder`; `nil` means "look `content` up in the vocabulary".
    public var id: Int?
    /// `true`: matched in the normalised (NFC, lower-cased) text; `false`: matched verbatim in the raw text.
    public var normalized: Bool

    /// Creates an added token.
    /// - Parameters:
    ///   - content: the literal token text.
    ///   - id: its id, or `nil` to take the vocabulary's.
    ///   - normalized: whether the token is matched after normalisation.
    public init(content: String, id: Int? = nil, normalized: Bool) {
        self.content = content
        self.id = id
        self.normalized = normalized
    }
}

/// Special tokens and window length of a CLIP tokenizer, read from a diffusers `tokenizer/` folder's
/// `tokenizer_config.json` (and `special_tokens_map.json`, which takes precedence, as in transformers).
///
/// Matches: transformers `CLIPTokenizer` special-token handling (tokenization_clip.py, transformers 5.24).
/// Each special token may be written as a plain string or as an `AddedToken` object; whether it is matched in the
/// raw or in the normalised text (`normalized`) is resolved per token content the way transformers does it: an
/// `added_tokens_decoder` entry decides; otherwise the last of bos, eos, unk, pad with that content decides, a plain
/// string counting as `normalized: false`.
public struct CLIPTokenizerConfiguration: Codable, Sendable, Equatable {
    /// Begin-of-sequence token (`<|startoftext|>`, id 49406).
    public var bosToken: String
    /// End-of-sequence token (`<|endoftext|>`, id 49407).
    public var eosToken: String
    /// Unknown-symbol token (`<|endoftext|>`).
    public var unkToken: String
    /// Padding token: `<|endoftext|>` for Stable Diffusion 1.x, `!` for 2.x.
    public var padToken: String
    /// Window length of the text encoder (77).
    public var modelMaxLength: Int
    /// Every string cut out of the text before BPE (the special tokens plus any `added_tokens_decoder` entries),
    /// sorted by content.
    public var addedTokens: [CLIPAddedToken]

    /// Creates a configuration from token strings.
    /// - Parameters:
    ///   - bosToken: begin-of-sequence token.
    ///   - eosToken: end-of-sequence token.
    ///   - unkToken: unknown token.
    ///   - padToken: padding token.
    ///   - modelMaxLength: window length.
    ///   - addedTokens: the added vocabulary; `nil` derives it from the four special tokens declared like the
    ///     published Stable Diffusion 1.x and 2.x folders do: bos, eos and unk as normalised `AddedToken` objects,
    ///     pad as a plain string.
    public init(
        bosToken: String = "<|startoftext|>",
        eosToken: String = "<|endoftext|>",
        unkToken: String = "<|endoftext|>",
        padToken: String = "<|endoftext|>",
        modelMaxLength: Int = 77,
        addedTokens: [CLIPAddedToken]? = nil
    ) {
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.unkToken = unkToken
        self.padToken = padToken
        self.modelMaxLength = modelMaxLength
        if let addedTokens {
            self.addedTokens = addedTokens.sorted { $0.content < $1.content }
        } else {
            let declared: [TokenDeclaration] = [
                .init(content: bosToken, normalized: true), .init(content: eosToken, normalized: true),
                .init(content: unkToken, normalized: true), .init(content: padToken, normalized: false),
            ]
            self.addedTokens = Self.resolve(declared: declared, decoder: [])
        }
    }

    /// The configuration of a tokenizer folder.
    /// - Parameters:
    ///   - tokenizerConfig: `tokenizer_config.json`.
    ///   - specialTokensMap: `special_tokens_map.json`, when the folder has one.
    /// - Throws: `TokenizerError` naming the file that is missing or malformed.
    public static func load(tokenizerConfig: URL, specialTokensMap: URL?) throws -> CLIPTokenizerConfiguration {
        var raw = try RawConfig.decode(tokenizerConfig)
        if let specialTokensMap {
            let overrides = try RawConfig.decode(specialTokensMap)
            raw.bos = overrides.bos ?? raw.bos
            raw.eos = overrides.eos ?? raw.eos
            raw.unk = overrides.unk ?? raw.unk
            raw.pad = overrides.pad ?? raw.pad
        }
        return CLIPTokenizerConfiguration(raw: raw)
    }

    // MARK: Codable (the `tokenizer_config.json` layout)

    private enum CodingKeys: String, CodingKey {
        case bosToken = "bos_token", eosToken = "eos_token", unkToken = "unk_token", padToken = "pad_token"
        case modelMaxLength = "model_max_length", addedTokensDecoder = "added_tokens_decoder"
    }

    /// Decodes the `tokenizer_config.json` layout (tokens as strings or `AddedToken` objects).
    /// - Parameter decoder: a decoder positioned on the configuration object.
    /// - Throws: `DecodingError` if a token entry has neither form.
    public init(from decoder: any Decoder) throws {
        self.init(raw: try RawConfig(from: decoder))
    }

    /// Encodes in the `tokenizer_config.json` layout, keeping each token's matching mode.
    /// - Parameter encoder: the encoder to write into.
    /// - Throws: `EncodingError` from the encoder.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let flag = { (content: String) in self.addedTokens.first { $0.content == content }?.normalized ?? false }
        try container.encode(TokenDeclaration(content: bosToken, normalized: flag(bosToken)), forKey: .bosToken)
        try container.encode(TokenDeclaration(content: eosToken, normalized: flag(eosToken)), forKey: .eosToken)
        try container.encode(TokenDeclaration(content: unkToken, normalized: flag(unkToken)), forKey: .unkToken)
        try container.encode(TokenDeclaration(content: padToken, normalized: flag(padToken)), forKey: .padToken)
        try container.encode(modelMaxLength, forKey: .modelMaxLength)
        var decoderEntries: [String: TokenDeclaration] = [:]
        for token in addedTokens {
            if let id = token.id { decoderEntries[String(id)] = TokenDeclaration(content: token.content, normalized: token.normalized) }
        }
        if !decoderEntries.isEmpty { try container.encode(decoderEntries, forKey: .addedTokensDecoder) }
    }

    // MARK: Resolution

    private init(raw: RawConfig) {
        bosToken = raw.bos?.content ?? "<|startoftext|>"
        eosToken = raw.eos?.content ?? "<|endoftext|>"
        unkToken = raw.unk?.content ?? "<|endoftext|>"
        padToken = raw.pad?.content ?? "<|endoftext|>"
        modelMaxLength = raw.modelMaxLength ?? 77
        // A missing special token still exists in transformers, as a plain (raw-matched) string.
        let declared = [
            raw.bos ?? .init(content: bosToken, normalized: false), raw.eos ?? .init(content: eosToken, normalized: false),
            raw.unk ?? .init(content: unkToken, normalized: false), raw.pad ?? .init(content: padToken, normalized: false),
        ]
        addedTokens = Self.resolve(declared: declared, decoder: raw.addedTokensDecoder)
    }

    /// Decoder entries win; among the special tokens the last declaration of a content wins.
    private static func resolve(declared: [TokenDeclaration], decoder: [(id: Int, token: TokenDeclaration)]) -> [CLIPAddedToken] {
        var byContent: [String: CLIPAddedToken] = [:]
        for entry in declared {
            byContent[entry.content] = CLIPAddedToken(content: entry.content, normalized: entry.normalized)
        }
        for entry in decoder {
            byContent[entry.token.content] = CLIPAddedToken(content: entry.token.content, id: entry.id, normalized: entry.token.normalized)
        }
        return byContent.values.sorted { $0.content < $1.content }
    }
}

/// A special token as written in the JSON files: `"<|endoftext|>"` or `{"content": …, "normalized": …}`.
struct TokenDeclaration: Codable, Equatable {
    var content: String
    var normalized: Bool

    init(content: String, normalized: Bool) {
        self.content = content
        self.normalized = normalized
    }

    private enum CodingKeys: String, CodingKey { case content, normalized }

    init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let text = try? single.decode(String.self) {
            // transformers turns a plain-string special token into AddedToken(normalized=False).
            self.init(content: text, normalized: false)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // AddedToken's default: `normalized = not special`, and these are special.
        self.init(
            content: try container.decode(String.self, forKey: .content),
            normalized: try container.decodeIfPresent(Bool.self, forKey: .normalized) ?? false
        )
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(content, forKey: .content)
        try container.encode(normalized, forKey: .normalized)
    }
}

/// The fields of `tokenizer_config.json` / `special_tokens_map.json` that matter, before resolution.
private struct RawConfig: Decodable {
    var bos: TokenDeclaration?
    var eos: TokenDeclaration?
    var unk: TokenDeclaration?
    var pad: TokenDeclaration?
    var modelMaxLength: Int?
    var addedTokensDecoder: [(id: Int, token: TokenDeclaration)] = []

    private enum CodingKeys: String, CodingKey {
        case bos = "bos_token", eos = "eos_token", unk = "unk_token", pad = "pad_token"
        case modelMaxLength = "model_max_length", addedTokensDecoder = "added_tokens_decoder"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        bos = try? container.decodeIfPresent(TokenDeclaration.self, forKey: .bos)
        eos = try? container.decodeIfPresent(TokenDeclaration.self, forKey: .eos)
        unk = try? container.decodeIfPresent(TokenDeclaration.self, forKey: .unk)
        pad = try? container.decodeIfPresent(TokenDeclaration.self, forKey: .pad)
        // Some folders store an absurd sentinel (1e30) here; anything not an Int means "default".
        modelMaxLength = try? container.decodeIfPresent(Int.self, forKey: .modelMaxLength)
        let entries = (try? container.decodeIfPresent([String: TokenDeclaration].self, forKey: .addedTokensDecoder)) ?? [:]
        addedTokensDecoder = entries.compactMap { key, value in Int(key).map { (id: $0, token: value) } }.sorted { $0.id < $1.id }
    }

    static func decode(_ url: URL) throws -> RawConfig {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenizerError.missingFile(url) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadableFile(url, reason: "\(error)")
        }
        do { return try JSONDecoder().decode(RawConfig.self, from: data) } catch {
            throw TokenizerError.malformedFile(url, reason: "\(error)")
        }
    }
}
