import Foundation

/// CLIP's text normalisation and word splitting, on Unicode scalars.
///
/// Matches: the normalizer and pre-tokenizer that transformers `CLIPTokenizer` (tokenization_clip.py,
/// transformers 5.24) installs in `tokenizers` 0.23: NFC, every run of `\s` replaced by one space, per-scalar
/// lower-casing; then the split pattern
/// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+` keeping the matches,
/// then the byte-level pre-tokenizer's GPT-2 split of each match. The letter and number classes come from
/// `CLIPCharacterClasses` (the regex engine's own, older, Unicode tables), not from Swift's.
enum CLIPPreTokenizer {
    typealias Scalars = [Unicode.Scalar]

    /// The normalised form of `text`: NFC, whitespace runs collapsed to one space, lower case.
    static func normalize(_ text: Scalars) -> Scalars {
        let composed = text.allSatisfy { $0.isASCII } ? text : UnicodeNFC.compose(text)
        var out = Scalars()
        out.reserveCapacity(composed.count)
        var inSpace = false
        for scalar in composed {
            if isWhitespace(scalar) {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            if scalar.isASCII {
                let value = scalar.value
                out.append(value >= 0x41 && value <= 0x5A ? Unicode.Scalar(UInt8(value + 0x20)) : scalar)
            } else {
                // Full lower-case mapping of each scalar on its own (İ → i̇), never context-dependent (no final sigma).
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    /// The pieces BPE encodes, as UTF-8 bytes, for normalised text that holds no added token.
    static func split(_ text: Scalars) -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        var index = 0
        let count = text.count
        while index < count {
            let scalar = text[index]
            if let literal = specialLiteralLength(text, at: index) {
                // The byte-level pre-tokenizer's own split cuts the literal into "<|", the name, and "|>".
                pieces.append(utf8(text[index ..< index + 2]))
                pieces.append(utf8(text[index + 2 ..< index + literal - 2]))
                pieces.append(utf8(text[index + literal - 2 ..< index + literal]))
                index += literal
            } else if scalar == "'", let length = contractionLength(text, at: index) {
                pieces.append(utf8(text[index ..< index + length]))
                index += length
            } else if isLetter(scalar) {
                var end = index + 1
                while end < count, isLetter(text[end]) { end += 1 }
                pieces.append(utf8(text[index ..< end]))
                index = end
            } else if isNumber(scalar) {
                pieces.append(utf8(text[index ..< index + 1]))
                index += 1
            } else if !isWhitespace(scalar) {
                var end = index + 1
                while end < count, !isWhitespace(text[end]), !isLetter(text[end]), !isNumber(text[end]) { end += 1 }
                pieces.append(utf8(text[index ..< end]))
                index = end
            } else {
                index += 1
            }
        }
        return pieces
    }

    private static let specialLiterals: [Scalars] = [Array("<|startoftext|>".unicodeScalars), Array("<|endoftext|>".unicodeScalars)]
    private static let contractions: [Scalars] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map { Array($0.unicodeScalars) }

    private static func specialLiteralLength(_ text: Scalars, at index: Int) -> Int? {
        guard text[index] == "<" else { return nil }
        return specialLiterals.first { matches($0, in: text, at: index) }?.count
    }

    /// Alternatives are tried in pattern order, so `'s` wins over a punctuation run starting with `'`.
    private static func contractionLength(_ text: Scalars, at index: Int) -> Int? {
        contractions.first { matches($0, in: text, at: index) }?.count
    }

    static func matches(_ pattern: Scalars, in text: Scalars, at index: Int) -> Bool {
        guard index + pattern.count <= text.count else { return false }
        for offset in 0 ..< pattern.count where text[index + offset] != pattern[offset] { return false }
        return true
    }

    private static func utf8(_ scalars: ArraySlice<Unicode.Scalar>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scalars.count)
        for scalar in scalars { bytes.append(contentsOf: UTF8.encode(scalar).map { Array($0) } ?? []) }
        return bytes
    }

    /// Oniguruma's `\s`: the White_Space property (tab to carriage return, space, NEL, Zs, line and paragraph separators).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09 ... 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000 ... 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return (value | 0x20) >= 0x61 && (value | 0x20) <= 0x7A }
        return inRanges(CLIPCharacterClasses.letterRanges, value)
    }

    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return value >= 0x30 && value <= 0x39 }
        return inRanges(CLIPCharacterClasses.numberRanges, value)
    }

    /// Binary search in `[start0, end0, start1, end1, …]`.
    private static func inRanges(_ ranges: [UInt32], _ value: UInt32) -> Bool {
        var low = 0
        var high = ranges.count / 2
        while low < high {
            let mid = (low + high) / 2
            if ranges[2 * mid + 1] < value {
                low = mid + 1
            } else {
                high = mid
            }
        }
        return low < ranges.count / 2 && ranges[2 * low] <= value
    }
}
