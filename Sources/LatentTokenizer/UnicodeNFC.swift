import Foundation

/// Unicode NFC as the `tokenizers` library computes it.
///
/// Matches: `tokenizers` 0.23.3's NFC normalizer, whose normalisation crate carries Unicode 9.0 data: scalars
/// assigned later have combining class 0, no decomposition and never compose. Swift's own (newer) data is used,
/// restricted to scalars of Unicode 9.0 or older; Unicode's stability policy guarantees that restriction gives
/// the 9.0 results for combining classes and decompositions; compositions come from a table generated from
/// `tokenizers` itself (`CLIPCharacterClasses.compositions`). Foundation's NFC is not used: it skips the canonical
/// reordering of marks that come out of a decomposition (U+0F81 U+0F81) and misses second-level compositions
/// (U+0CCA U+0CD5, a Hangul LV syllable and a trailing jamo).
enum UnicodeNFC {
    /// The canonical composition of `text`.
    static func compose(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var decomposed: [Unicode.Scalar] = []
        decomposed.reserveCapacity(text.count)
        for scalar in text {
            if scalar.isASCII || !isKnown(scalar) {
                decomposed.append(scalar)
            } else if let jamo = Hangul.decompose(scalar) {
                decomposed.append(contentsOf: jamo)
            } else {
                decomposed.append(contentsOf: String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars)
            }
        }
        reorder(&decomposed)
        return recompose(decomposed)
    }

    /// Canonical ordering: a stable sort of every run of non-starters by combining class.
    private static func reorder(_ scalars: inout [Unicode.Scalar]) {
        var start = 0
        while start < scalars.count {
            guard combiningClass(scalars[start]) != 0 else {
                start += 1
                continue
            }
            var end = start + 1
            while end < scalars.count, combiningClass(scalars[end]) != 0 { end += 1 }
            if end - start > 1 {
                let run = scalars[start ..< end].enumerated().sorted { first, second in
                    let (a, b) = (combiningClass(first.element), combiningClass(second.element))
                    return a != b ? a < b : first.offset < second.offset
                }
                scalars.replaceSubrange(start ..< end, with: run.map(\.element))
            }
            start = end
        }
    }

    /// Canonical composition: each scalar joins the last starter unless a scalar between them is blocking.
    private static func recompose(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        var starter: Int?
        var lastClass: UInt8 = 0
        for scalar in scalars {
            let scalarClass = combiningClass(scalar)
            if let starterIndex = starter {
                let adjacent = out.count - 1 == starterIndex
                if adjacent || (lastClass != 0 && lastClass < scalarClass), let composite = pair(out[starterIndex], scalar) {
                    out[starterIndex] = composite
                    continue
                }
            }
            if scalarClass == 0 { starter = out.count }
            lastClass = scalarClass
            out.append(scalar)
        }
        return out
    }

    /// The primary composite of two scalars, if Unicode 9.0 has one.
    private static func pair(_ first: Unicode.Scalar, _ second: Unicode.Scalar) -> Unicode.Scalar? {
        if let syllable = Hangul.compose(first, second) { return syllable }
        guard let composite = compositions[UInt64(first.value) << 32 | UInt64(second.value)] else { return nil }
        return Unicode.Scalar(composite)
    }

    /// `CLIPCharacterClasses.compositions` keyed by `first << 32 | second`.
    private static let compositions: [UInt64: UInt32] = {
        let table = CLIPCharacterClasses.compositions
        var map: [UInt64: UInt32] = [:]
        map.reserveCapacity(table.count / 3)
        for index in stride(from: 0, to: table.count - 2, by: 3) {
            map[UInt64(table[index]) << 32 | UInt64(table[index + 1])] = table[index + 2]
        }
        return map
    }()

    private static func combiningClass(_ scalar: Unicode.Scalar) -> UInt8 {
        if scalar.isASCII || !isKnown(scalar) { return 0 }
        return scalar.properties.canonicalCombiningClass.rawValue
    }

    /// Whether the scalar was assigned by Unicode 9.0.
    private static func isKnown(_ scalar: Unicode.Scalar) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return age.major < 9 || (age.major == 9 && age.minor == 0)
    }

    /// Hangul syllables ⇄ conjoining jamo, by the arithmetic of the Unicode standard (section 3.12).
    private enum Hangul {
        static let syllableBase: UInt32 = 0xAC00, leadBase: UInt32 = 0x1100, vowelBase: UInt32 = 0x1161, trailBase: UInt32 = 0x11A7
        static let leadCount: UInt32 = 19, vowelCount: UInt32 = 21, trailCount: UInt32 = 28
        static let syllableCount = leadCount * vowelCount * trailCount

        static func decompose(_ scalar: Unicode.Scalar) -> [Unicode.Scalar]? {
            let index = scalar.value &- syllableBase
            guard scalar.value >= syllableBase, index < syllableCount else { return nil }
            let lead = leadBase + index / (vowelCount * trailCount)
            let vowel = vowelBase + (index % (vowelCount * trailCount)) / trailCount
            let trail = trailBase + index % trailCount
            let values = trail == trailBase ? [lead, vowel] : [lead, vowel, trail]
            return values.compactMap(Unicode.Scalar.init)
        }

        static func compose(_ first: Unicode.Scalar, _ second: Unicode.Scalar) -> Unicode.Scalar? {
            let (a, b) = (first.value, second.value)
            if a >= leadBase, a < leadBase + leadCount, b >= vowelBase, b < vowelBase + vowelCount {
                return Unicode.Scalar(syllableBase + ((a - leadBase) * vowelCount + (b - vowelBase)) * trailCount)
            }
            let index = a &- syllableBase
            if a >= syllableBase, index < syllableCount, index % trailCount == 0, b > trailBase, b < trailBase + trailCount {
                return Unicode.Scalar(a + (b - trailBase))
            }
            return nil
        }
    }
}
