import Foundation
import Testing

@testable import LatentImageIO

@Suite("Decoding errors")
struct DecodingErrorTests {
    static func sample(_ format: ImageFormat) throws -> Data {
        try encodeImage(makeImage(width: 48, height: 40, alpha: false, seed: 20), format: format, quality: 90)
    }

    @Test("empty data")
    func empty() {
        #expect(imageError { _ = try decodeImage(Data()) } == .empty(nil))
        for format in ImageFormat.allCases {
            let error = imageError { _ = try decodeImage(Data(), format: format) }
            #expect(error == .empty(format))
            #expect(error?.description == "empty \(format.displayName) data")
        }
    }

    @Test("data of another kind", arguments: ImageFormat.allCases)
    func notThisFormat(format: ImageFormat) throws {
        let garbage = Data("GIF89a and then some bytes that are no image".utf8)
        let error = imageError { _ = try decodeImage(garbage) }
        #expect(error == .notAnImage(nil))
        #expect(error?.description == "not a PNG/JPEG/WebP image")
        #expect(imageError { _ = try decodeImage(garbage, format: format) } == .notAnImage(format))
        let other = try Self.sample(format == .png ? .jpeg : .png)
        let mismatch = imageError { _ = try decodeImage(other, format: format) }
        #expect(mismatch == .notAnImage(format))
        #expect(mismatch?.description == "not a \(format.displayName) image")
    }

    @Test("truncated data", arguments: ImageFormat.allCases)
    func truncated(format: ImageFormat) throws {
        let data = try Self.sample(format)
        for length in [5, 30, data.count / 2, data.count - 12] {
            let error = imageError { _ = try decodeImage(data.prefix(length)) }
            #expect(error == .truncated(format), "\(format) cut to \(length) of \(data.count) bytes")
            #expect(error?.description == "truncated \(format.displayName) data")
        }
    }

    @Test("corrupt data", arguments: ImageFormat.allCases)
    func corrupt(format: ImageFormat) throws {
        var data = try Self.sample(format)
        let bytes = [UInt8](data)
        switch format {
        case .png:
            // Damage the image data; libpng catches it through the chunk CRC.
            let offset = try #require(Self.find([0x49, 0x44, 0x41, 0x54], in: bytes)) + 10
            data[offset] ^= 0x5A
        case .jpeg:
            // Zero the frame height and width in the SOF0 segment.
            let offset = try #require(Self.find([0xFF, 0xC0], in: bytes))
            for index in (offset + 5)..<(offset + 9) { data[index] = 0 }
        case .webp:
            // Break the VP8 key-frame start code (chunk payload bytes 3...5).
            let offset = try #require(Self.find(Array("VP8 ".utf8), in: bytes)) + 8 + 3
            for index in offset..<(offset + 3) { data[index] = 0 }
        }
        let error = imageError { _ = try decodeImage(data) }
        guard case .corrupt(let reported, let detail) = error else {
            Issue.record("expected corrupt, got \(String(describing: error))")
            return
        }
        #expect(reported == format)
        #expect(!detail.isEmpty)
        #expect(error?.description.hasPrefix("corrupt \(format.displayName) data: ") == true)
    }

    @Test("images above the pixel limit are refused before decoding", arguments: ImageFormat.allCases)
    func tooLarge(format: ImageFormat) throws {
        let data = try Self.sample(format)
        let error = imageError { _ = try decodeImage(data, maxPixels: 48 * 40 - 1) }
        #expect(error == .tooLarge(width: 48, height: 40, limit: 48 * 40 - 1))
        #expect(error?.description == "image too large (48x40, limit 1919 pixels)")
        #expect(try decodeImage(data, maxPixels: 48 * 40).image.width == 48)
    }

    @Test("random damage never crashes: every result is an image or an ImageIOError", arguments: ImageFormat.allCases)
    func fuzz(format: ImageFormat) throws {
        let data = try Self.sample(format)
        var generator = SeededGenerator(seed: 99)
        var failures = 0
        for _ in 0..<150 {
            var damaged = data
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let index = Int.random(in: 0..<damaged.count, using: &generator)
                damaged[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) { damaged = damaged.prefix(Int.random(in: 1...damaged.count, using: &generator)) }
            do {
                let image = try decodeImage(damaged).image
                #expect(image.pixels.count == image.width * image.height * image.channels)
            } catch is ImageIOError {
                failures += 1
            }
        }
        #expect(failures > 0)
    }

    @Test("an animated WebP is reported as unsupported")
    func animatedWebP() throws {
        let error = imageError { _ = try decodeImage(try Fixtures.data("animated.webp")) }
        #expect(error == .unsupported(.webp, detail: "animated WebP is not supported"))
        #expect(error?.description == "unsupported WebP image: animated WebP is not supported")
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }
}
