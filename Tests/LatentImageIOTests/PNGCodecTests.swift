import Foundation
import Testing

@testable import LatentImageIO

/// One PNG layout for the decoder test.
struct PNGKind: Sendable, CustomStringConvertible {
    var colorType: Int
    var bitDepth: Int
    var transparency = false
    var interlaced = false

    var description: String {
        let name = [0: "gray", 2: "rgb", 3: "palette", 4: "gray+alpha", 6: "rgba"][colorType] ?? "?"
        return "\(name) \(bitDepth)-bit\(transparency ? " tRNS" : "")\(interlaced ? " interlaced" : "")"
    }

    /// A random file of this kind and the RGB(A)8 pixels libpng must produce from it.
    func make(seed: UInt64) -> (file: Data, expected: RGBImage) {
        var generator = SeededGenerator(seed: seed)
        let width = interlaced ? 13 : 9, height = interlaced ? 11 : 7
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 1
        let paletteSize = colorType == 3 ? min(1 << bitDepth, 200) : 0
        let maxSample = colorType == 3 ? paletteSize - 1 : (1 << bitDepth) - 1
        let samples = (0..<(width * height * channels)).map { _ in Int.random(in: 0...maxSample, using: &generator) }
        var png = RawPNG(width: width, height: height, bitDepth: bitDepth, colorType: colorType, samples: samples,
                         interlaced: interlaced)
        png.palette = (0..<(paletteSize * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // The colour of pixel 0 becomes transparent, so both alpha values occur.
        if transparency {
            switch colorType {
            case 3: png.transparency = (0..<max(1, paletteSize / 2)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            default: png.transparency = samples[0..<channels].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
            }
        }
        let hasAlpha = colorType == 4 || colorType == 6 || transparency
        var pixels: [UInt8] = []
        func to8(_ value: Int) -> UInt8 {
            switch bitDepth {
            case 16: UInt8((value * 255 + 32767) / 65535)
            case 8: UInt8(value)
            default: UInt8(value * 255 / ((1 << bitDepth) - 1))
            }
        }
        for pixel in 0..<(width * height) {
            let s = Array(samples[(pixel * channels)..<(pixel * channels + channels)])
            let keyed = transparency && colorType != 3 && s == Array(samples[0..<channels])
            switch colorType {
            case 0: pixels += [to8(s[0]), to8(s[0]), to8(s[0])] + (hasAlpha ? [keyed ? 0 : 255] : [])
            case 2: pixels += s.map(to8) + (hasAlpha ? [keyed ? 0 : 255] : [])
            case 3:
                pixels += png.palette[(s[0] * 3)..<(s[0] * 3 + 3)]
                if hasAlpha { pixels.append(s[0] < png.transparency.count ? png.transparency[s[0]] : 255) }
            case 4: pixels += [to8(s[0]), to8(s[0]), to8(s[0]), to8(s[1])]
            default: pixels += s.map(to8)
            }
        }
        return (png.encoded(), RGBImage(width: width, height: height, hasAlpha: hasAlpha, pixels: pixels))
    }
}

/// Decoded reference for one Pillow-made fixture.
struct DecodedFixture: Decodable, Sendable, CustomStringConvertible {
    var file: String
    var width: Int
    var height: Int
    var hasAlpha: Bool
    var pixels: [UInt8]
    var tolerance: Int
    var text: [String: String]
    var description: String { file }

    static func all() throws -> [DecodedFixture] {
        try JSONDecoder().decode([DecodedFixture].self, from: Fixtures.data("decoded.json"))
    }
}

@Suite("PNG codec")
struct PNGCodecTests {
    static let kinds: [PNGKind] = [
        .init(colorType: 0, bitDepth: 1), .init(colorType: 0, bitDepth: 2), .init(colorType: 0, bitDepth: 4),
        .init(colorType: 0, bitDepth: 8), .init(colorType: 0, bitDepth: 16),
        .init(colorType: 0, bitDepth: 2, transparency: true), .init(colorType: 0, bitDepth: 8, transparency: true),
        .init(colorType: 0, bitDepth: 16, transparency: true),
        .init(colorType: 2, bitDepth: 8), .init(colorType: 2, bitDepth: 16),
        .init(colorType: 2, bitDepth: 8, transparency: true), .init(colorType: 2, bitDepth: 16, transparency: true),
        .init(colorType: 3, bitDepth: 1), .init(colorType: 3, bitDepth: 2), .init(colorType: 3, bitDepth: 4),
        .init(colorType: 3, bitDepth: 8), .init(colorType: 3, bitDepth: 1, transparency: true),
        .init(colorType: 3, bitDepth: 4, transparency: true), .init(colorType: 3, bitDepth: 8, transparency: true),
        .init(colorType: 4, bitDepth: 8), .init(colorType: 4, bitDepth: 16),
        .init(colorType: 6, bitDepth: 8), .init(colorType: 6, bitDepth: 16),
        .init(colorType: 0, bitDepth: 1, interlaced: true), .init(colorType: 0, bitDepth: 2, interlaced: true),
        .init(colorType: 2, bitDepth: 8, interlaced: true), .init(colorType: 6, bitDepth: 16, interlaced: true),
        .init(colorType: 3, bitDepth: 4, transparency: true, interlaced: true),
    ]

    @Test("decodes every colour type and bit depth to RGB8/RGBA8", arguments: kinds)
    func decodesKind(kind: PNGKind) throws {
        let (file, expected) = kind.make(seed: UInt64(kind.colorType * 100 + kind.bitDepth))
        let decoded = try decodeImage(file)
        #expect(decoded.image == expected)
        #expect(decoded.text.isEmpty)
    }

    @Test("RGB and RGBA round trips are exact", arguments: [false, true])
    func roundTrip(alpha: Bool) throws {
        let image = makeNoiseImage(width: 37, height: 23, alpha: alpha, seed: alpha ? 2 : 1)
        let data = try encodeImage(image, format: .png)
        #expect(ImageFormat(sniffing: data) == .png)
        #expect(try decodeImage(data).image == image)
        #expect(try decodeImage(data, format: .png).image == image)
    }

    @Test("text chunks round trip; Latin-1 values use tEXt, others iTXt")
    func textRoundTrip() throws {
        let text = [
            "parameters": "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42",
            "Title": "café ÿ¡",
            "Comment": "猫 🐱 ünïcode",
            "Grüße": "",
        ]
        let image = makeImage(width: 8, height: 8, alpha: false, seed: 3)
        let data = try encodeImage(image, format: .png, text: text)
        let decoded = try decodeImage(data)
        #expect(decoded.text == text)
        #expect(decoded.image == image)
        let chunks = pngChunks(data)
        func chunkType(forKey key: String) -> String? {
            let keyBytes = Data(key.unicodeScalars.map { UInt8($0.value) })
            return chunks.first { ["tEXt", "iTXt", "zTXt"].contains($0.type) && $0.data.starts(with: keyBytes + [0]) }?
                .type
        }
        #expect(chunkType(forKey: "parameters") == "tEXt")
        #expect(chunkType(forKey: "Title") == "tEXt")
        #expect(chunkType(forKey: "Grüße") == "tEXt")
        #expect(chunkType(forKey: "Comment") == "iTXt")
        // Text goes before the image data, where readers that stop early still see it.
        let firstData = try #require(chunks.firstIndex { $0.type == "IDAT" })
        #expect(chunks.prefix(firstData).filter { ["tEXt", "iTXt", "zTXt"].contains($0.type) }.count == 4)
    }

    @Test("invalid text keys and values are rejected", arguments: ["", String(repeating: "k", count: 80), " lead",
                                                                   "trail ", "two  spaces", "日本", "tab\tkey"])
    func invalidKey(key: String) {
        let image = makeImage(width: 2, height: 2, alpha: false, seed: 4)
        let error = imageError { _ = try encodeImage(image, format: .png, text: [key: "value"]) }
        guard case .invalidText(let reported, _) = error else {
            Issue.record("expected invalidText, got \(String(describing: error))")
            return
        }
        #expect(reported == key)
    }

    @Test("a NUL in a text value is rejected")
    func nulValue() {
        let image = makeImage(width: 2, height: 2, alpha: false, seed: 5)
        let error = imageError { _ = try encodeImage(image, format: .png, text: ["parameters": "a\u{0}b"]) }
        #expect(error?.description.contains("NUL") == true)
    }

    @Test("Pillow-made files decode to Pillow's pixels and text", arguments: try DecodedFixture.all())
    func pillowFixture(fixture: DecodedFixture) throws {
        let decoded = try readImage(at: Fixtures.imagesDirectory.appendingPathComponent(fixture.file))
        #expect(decoded.image.width == fixture.width)
        #expect(decoded.image.height == fixture.height)
        #expect(decoded.image.hasAlpha == fixture.hasAlpha)
        #expect(decoded.image.pixels.count == fixture.pixels.count)
        #expect(maxDifference(decoded.image.pixels, fixture.pixels) <= fixture.tolerance)
        #expect(decoded.text == fixture.text)
    }

    @Test("encoding checks the pixel buffer against the size")
    func inconsistentImage() {
        let bad = RGBImage(width: 4, height: 4, hasAlpha: true, pixels: [UInt8](repeating: 0, count: 48))
        for format in ImageFormat.allCases {
            let error = imageError { _ = try encodeImage(bad, format: format) }
            guard case .invalidImage = error else {
                Issue.record("\(format): expected invalidImage, got \(String(describing: error))")
                continue
            }
        }
        let empty = RGBImage(width: 0, height: 3, hasAlpha: false, pixels: [])
        #expect(imageError { _ = try encodeImage(empty, format: .png) }?.description.contains("zero size") == true)
    }
}
