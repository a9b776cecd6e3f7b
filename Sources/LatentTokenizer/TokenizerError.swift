import Foundation

/// Failures while loading a CLIP tokenizer's files.
public enum TokenizerError: Error, CustomStringConvertible {
    /// A required file of a tokenizer folder does not exist.
    case missingFile(URL)
    /// A file exists but cannot be read or decompressed.
    case unreadableFile(URL, reason: String)
    /// A file was read but its content is not what the tokenizer expects.
    case malformedFile(URL, reason: String)
    /// A token the configuration names (special or added) has no id in the vocabulary.
    case unknownToken(String)
    /// The bundled merge list is missing from the module's resources.
    case missingBundledVocabulary

    /// A message naming the file or token at fault.
    public var description: String {
        switch self {
        case .missingFile(let url):
            return "tokenizer file not found: \(url.lastPathComponent) (looked at \(url.path))"
        case .unreadableFile(let url, let reason):
            return "cannot read tokenizer file \(url.lastPathComponent): \(reason)"
        case .malformedFile(let url, let reason):
            return "malformed tokenizer file \(url.lastPathComponent): \(reason)"
        case .unknownToken(let token):
            return "token \"\(token)\" is not in the tokenizer vocabulary"
        case .missingBundledVocabulary:
            return "bundled resource bpe_simple_vocab_16e6.txt.gz not found in LatentTokenizer's bundle"
        }
    }
}
