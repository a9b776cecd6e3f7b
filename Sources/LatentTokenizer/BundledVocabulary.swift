import CZlib
import Foundation

/// CLIP's vocabulary rebuilt from the bundled, gzip-compressed merge list `bpe_simple_vocab_16e6.txt.gz`.
///
/// Matches: the layout of the published `vocab.json` (see tools/reference/clip_vocab.py): the 256 byte symbols,
/// the same with `</w>`, one token per merge (the first 48,894 merges of the list), then `<|startoftext|>` and
/// `<|endoftext|>`: 49,408 ids.
enum BundledVocabulary {
    static let mergeCount = 49_152 - 256 - 2

    /// GPT-2's byte → printable-character map, in vocabulary order: printable bytes map to themselves, the others
    /// to U+0100 onwards. `byteSymbols[b]` is the symbol of byte `b`.
    static let byteSymbols: [Unicode.Scalar] = {
        let printable = Array(0x21 ... 0x7E) + Array(0xA1 ... 0xAC) + Array(0xAE ... 0xFF)
        let printableSet = Set(printable)
        var symbols = [Unicode.Scalar](repeating: " ", count: 256)
        var extra: UInt32 = 0
        for byte in 0 ..< 256 {
            if printableSet.contains(byte) {
                symbols[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                symbols[byte] = Unicode.Scalar(256 + extra) ?? " "
                extra += 1
            }
        }
        return symbols
    }()

    /// Byte symbols in vocabulary order (printable bytes first).
    private static var orderedSymbols: [String] {
        let printable = Array(0x21 ... 0x7E) + Array(0xA1 ... 0xAC) + Array(0xAE ... 0xFF)
        let rest = (0 ..< 256).filter { !printable.contains($0) }
        return (printable + rest).map { String(byteSymbols[$0]) }
    }

    static func load() throws -> (vocabulary: [String: Int], merges: [(String, String)]) {
        guard let url = Bundle.module.url(forResource: "bpe_simple_vocab_16e6.txt", withExtension: "gz") else {
            throw TokenizerError.missingBundledVocabulary
        }
        guard let text = String(data: try gunzip(url), encoding: .utf8) else {
            throw TokenizerError.malformedFile(url, reason: "not UTF-8 text")
        }
        // First line is a version header.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().prefix(mergeCount)
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeCount)
        for line in lines {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { throw TokenizerError.malformedFile(url, reason: "bad merge line \"\(line)\"") }
            merges.append((String(parts[0]), String(parts[1])))
        }
        guard merges.count == mergeCount else {
            throw TokenizerError.malformedFile(url, reason: "\(merges.count) merges, expected \(mergeCount)")
        }
        var tokens = orderedSymbols
        tokens += tokens.map { $0 + "</w>" }
        tokens += merges.map { $0.0 + $0.1 }
        tokens += ["<|startoftext|>", "<|endoftext|>"]
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() { vocabulary[token] = id }
        return (vocabulary, merges)
    }

    /// Decompresses a gzip file with zlib's gz reader.
    static func gunzip(_ url: URL) throws -> Data {
        guard let file = gzopen(url.path, "rb") else {
            throw TokenizerError.unreadableFile(url, reason: "gzopen failed")
        }
        defer { gzclose(file) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if count < 0 { throw TokenizerError.unreadableFile(url, reason: "corrupt gzip stream") }
            if count == 0 { break }
            data.append(contentsOf: buffer[0 ..< Int(count)])
        }
        return data
    }
}
