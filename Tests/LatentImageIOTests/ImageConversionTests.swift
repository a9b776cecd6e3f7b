import Foundation
import Testing

@testable import LatentImageIO

/// diffusers `VaeImageProcessor` reference values (tools/reference/image_fixtures.py).
struct ConversionFixture: Decodable {
    struct Decoder: Decodable {
        var batch: Int
        var height: Int
        var width: Int
        var values: [Float]
        var pixels: [UInt8]
        var half_boundary_count: Int
    }

    struct Encoder: Decodable {
        var height: Int
        var width: Int
        var pixels: [UInt8]
        var values: [Float]
    }

    var decoder: Decoder
    var encoder: Encoder

    static func load() throws -> ConversionFixture {
        try JSONDecoder().decode(ConversionFixture.self, from: Fixtures.data("conversion.json"))
    }
}

@Suite("Image conversion")
struct ImageConversionTests {
    @Test("decoder output to pixels matches diffusers postprocess byte for byte")
    func decoderOutput() throws {
        let fixture = try ConversionFixture.load().decoder
        let images = try ImageConversion.images(
            fromDecoderOutput: fixture.values, batch: fixture.batch, height: fixture.height, width: fixture.width)
        #expect(images.count == fixture.batch)
        #expect(images.allSatisfy { $0.width == fixture.width && $0.height == fixture.height && !$0.hasAlpha })
        #expect(images.flatMap(\.pixels) == fixture.pixels)
    }

    @Test("values landing exactly on .5 round half to even, as numpy does")
    func halfToEven() throws {
        let fixture = try ConversionFixture.load().decoder
        var ties = 0
        for value in fixture.values {
            let scaled = (value * 0.5 + 0.5) * 255
            guard scaled >= 0, scaled <= 255, scaled.rounded(.down) + 0.5 == scaled else { continue }
            ties += 1
            let even = UInt8(scaled.rounded(.down)) % 2 == 0 ? UInt8(scaled.rounded(.down)) : UInt8(scaled.rounded(.up))
            #expect(ImageConversion.byte(fromDecoderValue: value) == even, "x = \(value), scaled = \(scaled)")
        }
        // The fixture seeds many exact ties on both sides (k even and k odd).
        #expect(ties >= fixture.half_boundary_count)
        #expect(ties > 100)
    }

    @Test("constructed ties: 64.5 rounds down to 64, 65.5 up to 66; out-of-range values clamp")
    func constructedTies() throws {
                for (target, expected) in [(Float(64.5), UInt8(64)), (65.5, 66), (127.5, 128), (128.5, 128), (253.5, 254), (254.5, 254)] {
            let start = target / 255
            let candidates = (0..<32).flatMap { step -> [Float] in
                var up = start, down = start
                for _ in 0..<step { up = up.nextUp; down = down.nextDown }
                return [up, down]
            }
            // Above 0.25 the subtraction is exact, so some nearby float maps onto the tie exactly.
            let tie = candidates.map { ($0 - 0.5) * 2 }.first { ($0 * 0.5 + 0.5) * 255 == target }
            let x = try #require(tie, "no float lands exactly on \(target)")
            #expect(ImageConversion.byte(fromDecoderValue: x) == expected, "target \(target)")
        }
        #expect(ImageConversion.byte(fromDecoderValue: -3) == 0)
        #expect(ImageConversion.byte(fromDecoderValue: 3) == 255)
        #expect(ImageConversion.byte(fromDecoderValue: .nan) == 0)
        #expect(ImageConversion.byte(fromDecoderValue: .infinity) == 255)
    }

    @Test("pixels to encoder input matches diffusers preprocess")
    func encoderInput() throws {
        let fixture = try ConversionFixture.load().encoder
        let image = RGBImage(width: fixture.width, height: fixture.height, hasAlpha: false, pixels: fixture.pixels)
        let values = try ImageConversion.encoderInput(from: [image])
        #expect(values.count == fixture.values.count)
        let worst = zip(values, fixture.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-7)
    }

    @Test("encoder input drops alpha and stacks a batch as [N, 3, H, W]")
    func encoderBatch() throws {
        let rgba = makeNoiseImage(width: 5, height: 4, alpha: true, seed: 40)
        let rgb = rgba.droppingAlpha()
        let other = makeNoiseImage(width: 5, height: 4, alpha: false, seed: 41)
        let values = try ImageConversion.encoderInput(from: [rgba, other])
        #expect(values.count == 2 * 3 * 4 * 5)
        #expect(Array(values[0..<60]) == (try ImageConversion.encoderInput(from: [rgb])))
        // Green plane of image 1, pixel (row 2, column 3).
        let byte = other.pixels[(2 * 5 + 3) * 3 + 1]
        let expected: Float = Float(byte) / 255 * 2 - 1
        let index = 60 + 20 + (2 * 5 + 3)
        #expect(abs(values[index] - expected) <= 1e-7)
        // Decoding the encoder input back gives the original bytes.
        let back = try ImageConversion.images(fromDecoderOutput: values, batch: 2, height: 4, width: 5)
        #expect(back == [rgb, other])
    }

    @Test("shape mismatches are reported")
    func mismatches() {
        #expect(imageError { _ = try ImageConversion.images(fromDecoderOutput: [0, 1], batch: 1, height: 1, width: 1) }
            != nil)
        let a = makeNoiseImage(width: 2, height: 2, alpha: false, seed: 42)
        let b = makeNoiseImage(width: 3, height: 2, alpha: false, seed: 43)
        let error = imageError { _ = try ImageConversion.encoderInput(from: [a, b]) }
        #expect(error?.description.contains("expected 2x2") == true)
    }
}
