import Foundation
@testable import LatentTokenizer

/// One reference case dumped by tools/reference/dump_tokenizer.py from transformers' CLIPTokenizer.
struct TokenizerCase: Decodable {
    let text: String
    let tokensSD1: [Int]
    let inputIDsSD1: [Int]
    let tokensSD2: [Int]
    let inputIDsSD2: [Int]
    let inputIDsSD1Length20: [Int]?

    enum CodingKeys: String, CodingKey {
        case text
        case tokensSD1 = "tokens_sd1", inputIDsSD1 = "input_ids_sd1", tokensSD2 = "tokens_sd2", inputIDsSD2 = "input_ids_sd2"
        case inputIDsSD1Length20 = "input_ids_sd1_len20"
    }
}

/// Fixture files, shared tokenizers and a temporary diffusers-style tokenizer folder.
enum TokenizerFixtures {
    private struct CaseFile: Decodable {
        let cases: [TokenizerCase]
    }

    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path), url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url
    }()

    static let caseFile = packageRoot.appendingPathComponent("Tests/Fixtures/tokenizer/cases.json")

    static func cases(_ url: URL = caseFile) throws -> [TokenizerCase] {
        try JSONDecoder().decode(CaseFile.self, from: Data(contentsOf: url)).cases
    }

    static let sd1 = Result { try CLIPTokenizer.bundled(padToken: "<|endoftext|>") }
    static let sd2 = Result { try CLIPTokenizer.bundled(padToken: "!") }

    /// Writes a folder laid out like the published SD 1.x / 2.x `tokenizer/` folders from the bundled list.
    static func makeFolder(padToken: String, specialTokensMap: Bool = true) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("latent-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (vocabulary, merges) = try BundledVocabulary.load()
        try JSONEncoder().encode(vocabulary).write(to: folder.appendingPathComponent("vocab.json"))
        let mergeText = "#version: 0.2\n" + merges.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n"
        try Data(mergeText.utf8).write(to: folder.appendingPathComponent("merges.txt"))
        func token(_ content: String, typed: Bool) -> String {
            let type = typed ? "\"__type\": \"AddedToken\", " : ""
            return "{\(type)\"content\": \"\(content)\", \"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false}"
        }
        let config = """
            {"add_prefix_space": false, "bos_token": \(token("<|startoftext|>", typed: true)), "do_lower_case": true,
             "eos_token": \(token("<|endoftext|>", typed: true)), "errors": "replace", "model_max_length": 77,
             "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer", "unk_token": \(token("<|endoftext|>", typed: true))}
            """
        try Data(config.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        if specialTokensMap {
            let map = """
                {"bos_token": \(token("<|startoftext|>", typed: false)), "eos_token": \(token("<|endoftext|>", typed: false)),
                 "pad_token": "\(padToken)", "unk_token": \(token("<|endoftext|>", typed: false))}
                """
            try Data(map.utf8).write(to: folder.appendingPathComponent("special_tokens_map.json"))
        }
        return folder
    }
}
