import Foundation
import Testing

@testable import LatentImageIO

@Suite("JPEG and WebP codecs")
struct LossyCodecTests {
    @Test("JPEG round trip stays within a PSNR bound and quality orders size and fidelity")
    func jpegRoundTrip() throws {
        let image = makeImage(width: 64, height: 48, alpha: false, seed: 10, noise: 4)
        let high = try encodeImage(image, format: .jpeg, quality: 95)
        let low = try encodeImage(image, format: .jpeg, quality: 30)
        #expect(ImageFormat(sniffing: high) == .jpeg)
        let decodedHigh = try decodeImage(high).image
        let decodedLow = try decodeImage(low).image
        #expect(decodedHigh.width == 64 && decodedHigh.height == 48 && !decodedHigh.hasAlpha)
        #expect(psnr(image, decodedHigh) > 36)
        #expect(psnr(image, decodedLow) > 26)
        #expect(psnr(image, decodedLow) < psnr(image, decodedHigh))
        #expect(low.count < high.count)
    }

    @Test("JPEG drops alpha and ignores text")
    func jpegAlpha() throws {
        let image = makeImage(width: 32, height: 32, alpha: true, seed: 11, noise: 4)
        let decoded = try decodeImage(try encodeImage(image, format: .jpeg, text: ["parameters": "x"]))
        #expect(!decoded.image.hasAlpha)
        #expect(decoded.text.isEmpty)
        #expect(psnr(image, decoded.image) > 36)
    }

    @Test("quality outside 1...100 is rejected", arguments: [0, 101, -5])
    func badQuality(quality: Int) {
        let image = makeImage(width: 4, height: 4, alpha: false, seed: 12)
        for format in ImageFormat.allCases {
            #expect(imageError { _ = try encodeImage(image, format: format, quality: quality) } == .invalidQuality(quality))
        }
    }

    @Test("lossless WebP is exact, including colour under zero alpha", arguments: [false, true])
    func webpLossless(alpha: Bool) throws {
        var image = makeNoiseImage(width: 29, height: 17, alpha: alpha, seed: 13)
        if alpha { for pixel in stride(from: 0, to: 29 * 17, by: 3) { image.pixels[pixel * 4 + 3] = 0 } }
        let data = try encodeImage(image, format: .webp, lossless: true)
        #expect(ImageFormat(sniffing: data) == .webp)
        let decoded = try decodeImage(data).image
        #expect(decoded == image)
    }

    @Test("lossy WebP stays within a PSNR bound and keeps alpha")
    func webpLossy() throws {
        let rgb = makeImage(width: 64, height: 48, alpha: false, seed: 14, noise: 4)
        let decoded = try decodeImage(try encodeImage(rgb, format: .webp, quality: 90)).image
        #expect(!decoded.hasAlpha)
        #expect(psnr(rgb, decoded) > 32)

        let rgba = makeImage(width: 64, height: 48, alpha: true, seed: 15, noise: 4)
        let decodedAlpha = try decodeImage(try encodeImage(rgba, format: .webp, quality: 90)).image
        #expect(decodedAlpha.hasAlpha)
        let alphaIn = stride(from: 3, to: rgba.pixels.count, by: 4).map { rgba.pixels[$0] }
        let alphaOut = stride(from: 3, to: decodedAlpha.pixels.count, by: 4).map { decodedAlpha.pixels[$0] }
        #expect(alphaIn == alphaOut)
        // Colour under low alpha may be altered by the lossy encoder, so compare the opaque-enough pixels.
        let opaque = (0..<(64 * 48)).filter { rgba.pixels[$0 * 4 + 3] > 128 }
        var totalError = 0
        for pixel in opaque {
            var worst = 0
            for channel in 0..<3 {
                worst = max(worst, abs(Int(rgba.pixels[pixel * 4 + channel]) - Int(decodedAlpha.pixels[pixel * 4 + channel])))
            }
            totalError += worst
        }
        let meanError = Double(totalError) / Double(opaque.count)
        #expect(meanError < 6)
    }
}
