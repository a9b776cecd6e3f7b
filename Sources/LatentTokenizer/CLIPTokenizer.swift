import Foundation

/// CLIP's byte-level BPE tokenizer, giving the ids of transformers' `CLIPTokenizer`.
///
/// Matches: transformers `CLIPTokenizer` (tokenization_clip.py, transformers 5.24 over tokenizers 0.23.3), as
/// Stable Diffusion pipelines call it: `tokenizer(text, padding="max_length", max_length=77, truncation=True)`.
/// Added tokens (the special tokens, e.g. `<|endoftext|>` typed in a prompt, and for SD 2.x also `!`) are cut out
/// first, each in the raw or normalised text as its configuration says; the rest is normalised, split into words
/// and BPE-encoded.
public struct CLIPTokenizer: Sendable {
    /// Special tokens, window length and added vocabulary.
    public let configuration: CLIPTokenizerConfiguration
    private let encoder: BytePairEncoder
    /// Added tokens matched verbatim in the raw text, longest first.
    private let rawAddedTokens: [(scalars: [Unicode.Scalar], id: Int)]
    /// Added tokens matched in the normalised text (their content normalised too), longest first.
    private let normalizedAddedTokens: [(scalars: [Unicode.Scalar], id: Int)]
    private let bosTokenID: Int
    private let eosTokenID: Int

    /// Id used to pad `encode`'s output to the window length.
    public let padTokenID: Int

    /// Creates a tokenizer from `vocab.json` and `merges.txt`.
    /// - Parameters:
    ///   - vocabularyURL: `vocab.json`, token → id.
    ///   - mergesURL: `merges.txt`, one merge `left right` per line after an optional `#version` line.
    ///   - configuration: special tokens and window length.
    /// - Throws: `TokenizerError` naming a missing or malformed file, or a special token absent from the vocabulary.
    public init(vocabularyURL: URL, mergesURL: URL, configuration: CLIPTokenizerConfiguration) throws {
        let vocabularyData = try Self.read(vocabularyURL)
        let vocabulary: [String: Int]
        do { vocabulary = try JSONDecoder().decode([String: Int].self, from: vocabularyData) } catch {
            throw TokenizerError.malformedFile(vocabularyURL, reason: "expected a JSON object of token ids: \(error)")
        }
        guard let mergesText = String(data: try Self.read(mergesURL), encoding: .utf8) else {
            throw TokenizerError.malformedFile(mergesURL, reason: "not UTF-8 text")
        }
        var merges: [(String, String)] = []
        for (number, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if number == 0 && line.hasPrefix("#version") { continue }
            if line.isEmpty { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.malformedFile(mergesURL, reason: "line \(number + 1) is not two symbols separated by a space")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        try self.init(vocabulary: vocabulary, merges: merges, configuration: configuration, source: mergesURL)
    }

    /// Creates a tokenizer from a diffusers `tokenizer/` folder: `vocab.json`, `merges.txt`,
    /// `tokenizer_config.json` and, when present, `special_tokens_map.json`.
    /// - Parameter directory: the folder.
    /// - Throws: `TokenizerError.missingFile` naming the first required file that is absent, or another
    ///   `TokenizerError` for malformed content.
    public init(directory: URL) throws {
        let vocabularyURL = directory.appendingPathComponent("vocab.json")
        let mergesURL = directory.appendingPathComponent("merges.txt")
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let specialURL = directory.appendingPathComponent("special_tokens_map.json")
        for url in [vocabularyURL, mergesURL, configURL] where !FileManager.default.fileExists(atPath: url.path) {
            throw TokenizerError.missingFile(url)
        }
        let configuration = try CLIPTokenizerConfiguration.load(
            tokenizerConfig: configURL,
            specialTokensMap: FileManager.default.fileExists(atPath: specialURL.path) ? specialURL : nil
        )
        try self.init(vocabularyURL: vocabularyURL, mergesURL: mergesURL, configuration: configuration)
    }

    /// The tokenizer built from the merge list bundled with Latent (the one OpenAI's CLIP and every Stable
    /// Diffusion checkpoint use), with the special tokens of the published SD folders.
    /// - Parameter padToken: `"<|endoftext|>"` for Stable Diffusion 1.x, `"!"` for 2.x.
    /// - Returns: the tokenizer.
    /// - Throws: `TokenizerError` if the resource is missing or unreadable.
    public static func bundled(padToken: String) throws -> CLIPTokenizer {
        let (vocabulary, merges) = try BundledVocabulary.load()
        let configuration = CLIPTokenizerConfiguration(padToken: padToken)
        return try CLIPTokenizer(vocabulary: vocabulary, merges: merges, configuration: configuration, source: nil)
    }

    /// Creates a tokenizer from an in-memory vocabulary and merge list.
    init(vocabulary: [String: Int], merges: [(String, String)], configuration: CLIPTokenizerConfiguration, source: URL?) throws {
        self.configuration = configuration
        func lookup(_ token: String) throws -> Int32 {
            guard let id = vocabulary[token] else { throw TokenizerError.unknownToken(token) }
            return Int32(id)
        }
        let symbols = BundledVocabulary.byteSymbols
        let byteIDs = try symbols.map { try lookup(String($0)) }
        let wordEndByteIDs = try symbols.map { try lookup(String($0) + "</w>") }
        var mergeTable: [UInt64: BytePairEncoder.Merge] = [:]
        mergeTable.reserveCapacity(merges.count)
        for (rank, pair) in merges.enumerated() {
            guard let left = vocabulary[pair.0], let right = vocabulary[pair.1], let result = vocabulary[pair.0 + pair.1] else {
                let reason = "merge \(rank + 1) (\(pair.0) \(pair.1)) uses a token missing from the vocabulary"
                if let source { throw TokenizerError.malformedFile(source, reason: reason) }
                throw TokenizerError.unknownToken(pair.0 + pair.1)
            }
            let key = BytePairEncoder.key(Int32(left), Int32(right))
            // tokenizers keeps the first rank of a repeated merge line.
            if mergeTable[key] == nil { mergeTable[key] = .init(rank: Int32(rank), result: Int32(result)) }
        }
        encoder = BytePairEncoder(byteIDs: byteIDs, wordEndByteIDs: wordEndByteIDs, merges: mergeTable)

        var raw: [(scalars: [Unicode.Scalar], id: Int)] = []
        var normalized: [(scalars: [Unicode.Scalar], id: Int)] = []
        for token in configuration.addedTokens where !token.content.isEmpty {
            let id = try token.id ?? Int(lookup(token.content))
            let scalars = Array(token.content.unicodeScalars)
            if token.normalized {
                normalized.append((CLIPPreTokenizer.normalize(scalars), id))
            } else {
                raw.append((scalars, id))
            }
        }
        rawAddedTokens = raw.sorted { $0.scalars.count > $1.scalars.count }
        normalizedAddedTokens = normalized.sorted { $0.scalars.count > $1.scalars.count }
        let addedIDs = Dictionary(configuration.addedTokens.compactMap { t in t.id.map { (t.content, $0) } }, uniquingKeysWith: { a, _ in a })
        func specialID(_ token: String) throws -> Int { try addedIDs[token] ?? Int(lookup(token)) }
        bosTokenID = try specialID(configuration.bosToken)
        eosTokenID = try specialID(configuration.eosToken)
        padTokenID = try specialID(configuration.padToken)
    }

    /// BPE ids of `text`, without BOS, EOS or padding, never truncated.
    /// - Parameter text: any Unicode text.
    /// - Returns: the token ids.
    public func tokenize(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in Self.cut(Array(text.unicodeScalars), at: rawAddedTokens) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let raw):
                for part in Self.cut(CLIPPreTokenizer.normalize(raw), at: normalizedAddedTokens) {
                    switch part {
                    case .token(let id):
                        ids.append(id)
                    case .text(let normalized):
                        for word in CLIPPreTokenizer.split(normalized) { ids.append(contentsOf: encoder.encode(word: word)) }
                    }
                }
            }
        }
        return ids
    }

    /// The text encoder's input: BOS, the first `maxLength - 2` ids of `tokenize(text)`, EOS, then padding.
    /// - Parameters:
    ///   - text: any Unicode text.
    ///   - maxLength: window length (77 for every Stable Diffusion text encoder); at least 2.
    /// - Returns: exactly `max(maxLength, 2)` ids.
    public func encode(_ text: String, maxLength: Int = 77) -> [Int] {
        let length = max(maxLength, 2)
        let content = tokenize(text).prefix(length - 2)
        var ids = [bosTokenID]
        ids.reserveCapacity(length)
        ids.append(contentsOf: content)
        ids.append(eosTokenID)
        ids.append(contentsOf: repeatElement(padTokenID, count: length - ids.count))
        return ids
    }

    private enum Segment {
        case text([Unicode.Scalar])
        case token(Int)
    }

    /// Splits `text` at the leftmost-longest occurrences of `tokens`, as the added vocabulary's matcher does.
    private static func cut(_ text: [Unicode.Scalar], at tokens: [(scalars: [Unicode.Scalar], id: Int)]) -> [Segment] {
        guard !tokens.isEmpty else { return [.text(text)] }
        var segments: [Segment] = []
        var start = 0
        var index = 0
        while index < text.count {
            // `tokens` is sorted longest first, so the first hit is the longest at this position.
            if let hit = tokens.first(where: { CLIPPreTokenizer.matches($0.scalars, in: text, at: index) }) {
                if start < index { segments.append(.text(Array(text[start ..< index]))) }
                segments.append(.token(hit.id))
                index += hit.scalars.count
                start = index
            } else {
                index += 1
            }
        }
        if start < text.count { segments.append(.text(Array(text[start...]))) }
        return segments
    }

    private static func read(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenizerError.missingFile(url) }
        do { return try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadableFile(url, reason: "\(error)")
        }
    }
}
