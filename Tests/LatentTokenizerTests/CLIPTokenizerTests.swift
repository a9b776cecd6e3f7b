import Foundation
import Testing
@testable import LatentTokenizer

@Suite("CLIPTokenizer matches transformers")
struct CLIPTokenizerTests {
    @Test("every reference case: SD 1.x and 2.x, untruncated, 77 and 20 tokens")
    func referenceCases() throws {
        let sd1 = try TokenizerFixtures.sd1.get()
        let sd2 = try TokenizerFixtures.sd2.get()
        let cases = try TokenizerFixtures.cases()
        #expect(cases.count >= 200)
        for item in cases {
            let text = item.text
            #expect(sd1.tokenize(text) == item.tokensSD1, "tokenize SD1: \(text.debugDescription)")
            #expect(sd2.tokenize(text) == item.tokensSD2, "tokenize SD2: \(text.debugDescription)")
            #expect(sd1.encode(text) == item.inputIDsSD1, "encode SD1: \(text.debugDescription)")
            #expect(sd2.encode(text) == item.inputIDsSD2, "encode SD2: \(text.debugDescription)")
            #expect(sd1.encode(text, maxLength: 20) == item.inputIDsSD1Length20, "encode SD1, 20: \(text.debugDescription)")
        }
    }

    @Test("special ids, truncation and padding")
    func specialIDs() throws {
        let sd1 = try TokenizerFixtures.sd1.get()
        let sd2 = try TokenizerFixtures.sd2.get()
        #expect(sd1.padTokenID == 49407)
        #expect(sd2.padTokenID == 0)
        #expect(sd1.encode("") == [49406] + Array(repeating: 49407, count: 76))
        #expect(sd2.encode("") == [49406, 49407] + Array(repeating: 0, count: 75))
        let long = sd1.encode(String(repeating: "cat ", count: 200))
        #expect(long == [49406] + Array(repeating: 2368, count: 75) + [49407])
        #expect(sd2.tokenize("wow!!") == [2781, 0, 0])
        #expect(sd1.tokenize("wow!!") == [2781, 748])
    }

    @Test("a folder loads to the same tokenizer as the bundled list", arguments: ["<|endoftext|>", "!"])
    func directoryLoading(pad: String) throws {
        let folder = try TokenizerFixtures.makeFolder(padToken: pad)
        defer { try? FileManager.default.removeItem(at: folder) }
        let loaded = try CLIPTokenizer(directory: folder)
        let bundled = try CLIPTokenizer.bundled(padToken: pad)
        #expect(loaded.configuration == bundled.configuration)
        #expect(loaded.padTokenID == bundled.padTokenID)
        for item in try TokenizerFixtures.cases() {
            #expect(loaded.encode(item.text) == (pad == "!" ? item.inputIDsSD2 : item.inputIDsSD1))
        }
    }

    @Test("bundled vocabulary equals the vocab.json written from it, id for id")
    func bundledVocabulary() throws {
        let (vocabulary, merges) = try BundledVocabulary.load()
        #expect(vocabulary.count == 49408)
        #expect(merges.count == 48894)
        #expect(vocabulary["!"] == 0)
        #expect(vocabulary["!</w>"] == 256)
        #expect(vocabulary["<|startoftext|>"] == 49406)
        #expect(vocabulary["<|endoftext|>"] == 49407)
        #expect(vocabulary["cat</w>"] == 2368)
        #expect(Set(vocabulary.values) == Set(0 ..< 49408))
        let folder = try TokenizerFixtures.makeFolder(padToken: "<|endoftext|>")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try Data(contentsOf: folder.appendingPathComponent("vocab.json"))
        #expect(try JSONDecoder().decode([String: Int].self, from: data) == vocabulary)
    }

    @Test("a missing file is named in the error", arguments: ["vocab.json", "merges.txt", "tokenizer_config.json"])
    func missingFile(name: String) throws {
        let folder = try TokenizerFixtures.makeFolder(padToken: "!")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        do {
            _ = try CLIPTokenizer(directory: folder)
            Issue.record("loading without \(name) succeeded")
        } catch let error as TokenizerError {
            guard case .missingFile(let url) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(url.lastPathComponent == name)
            #expect(error.description.contains(name))
        }
    }

    @Test("without special_tokens_map.json the config file's tokens apply")
    func configWithoutSpecialTokensMap() throws {
        let folder = try TokenizerFixtures.makeFolder(padToken: "!", specialTokensMap: false)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tokenizer = try CLIPTokenizer(directory: folder)
        #expect(tokenizer.padTokenID == 49407)
        #expect(tokenizer.configuration.modelMaxLength == 77)
    }

    @Test("configuration decodes both token forms and round-trips")
    func configurationCoding() throws {
        for pad in ["<|endoftext|>", "!"] {
            let configuration = CLIPTokenizerConfiguration(padToken: pad)
            let decoded = try JSONDecoder().decode(CLIPTokenizerConfiguration.self, from: JSONEncoder().encode(configuration))
            #expect(decoded == configuration)
        }
        let json = """
            {"bos_token": "<|startoftext|>", "eos_token": {"content": "<|endoftext|>", "normalized": true},
             "pad_token": "!", "model_max_length": 77,
             "added_tokens_decoder": {"49408": {"content": "<sks>", "normalized": false, "special": false}}}
            """
        let configuration = try JSONDecoder().decode(CLIPTokenizerConfiguration.self, from: Data(json.utf8))
        #expect(configuration.padToken == "!")
        #expect(configuration.unkToken == "<|endoftext|>")
        #expect(configuration.addedTokens.contains(CLIPAddedToken(content: "<sks>", id: 49408, normalized: false)))
        // The unk declaration (absent, so a plain string) comes after eos and wins.
        #expect(configuration.addedTokens.contains(CLIPAddedToken(content: "<|endoftext|>", normalized: false)))
    }

    @Test("a 1000-word prompt tokenizes like its words one by one")
    func longPrompt() throws {
        let sd1 = try TokenizerFixtures.sd1.get()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var words: [String] = []
        for _ in 0 ..< 1000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = Int(state >> 61) + 2
            let letters = (0 ..< length).map { i in Unicode.Scalar(UInt8(97 + Int((state >> UInt64(8 * i + 3)) % 26))) }
            words.append(String(String.UnicodeScalarView(letters)))
        }
        let ids = sd1.tokenize(words.joined(separator: " "))
        #expect(ids.count >= 1000)
        #expect(ids.allSatisfy { $0 >= 0 && $0 < 49406 })
        #expect(ids == words.flatMap { sd1.tokenize($0) })
    }

    /// Local fuzz comparison against transformers, skipped unless asked for:
    /// `python tools/reference/dump_tokenizer.py --fuzz 20000 /tmp/fuzz.json` then
    /// `LATENT_TOKENIZER_FUZZ=/tmp/fuzz.json swift test --filter LatentTokenizerTests`.
    @Test("fuzz cases from LATENT_TOKENIZER_FUZZ", .enabled(if: ProcessInfo.processInfo.environment["LATENT_TOKENIZER_FUZZ"] != nil))
    func fuzz() throws {
        let path = try #require(ProcessInfo.processInfo.environment["LATENT_TOKENIZER_FUZZ"])
        let sd1 = try TokenizerFixtures.sd1.get()
        let sd2 = try TokenizerFixtures.sd2.get()
        var failures = 0
        for item in try TokenizerFixtures.cases(URL(fileURLWithPath: path)) {
            let text = item.text
            let matches = sd1.tokenize(text) == item.tokensSD1 && sd2.tokenize(text) == item.tokensSD2
                && sd1.encode(text) == item.inputIDsSD1 && sd2.encode(text) == item.inputIDsSD2
            if !matches {
                failures += 1
                if failures <= 50 {
                    Issue.record("mismatch \(text.unicodeScalars.map { String($0.value, radix: 16) }): \(text.debugDescription)")
                }
            }
        }
        #expect(failures == 0)
    }
}
