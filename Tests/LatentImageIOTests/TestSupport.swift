import Foundation
import Testing

@testable import LatentImageIO

/// Deterministic pseudo-random numbers (SplitMix64) so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Fixtures {
    /// Tests/Fixtures/images, found by walking up from this file to the folder holding Package.swift.
    static var imagesDirectory: URL {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("Tests/Fixtures/images")
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: imagesDirectory.appendingPathComponent(name))
    }

    /// A fresh empty directory under the system temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("LatentImageIOTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A random image with smooth structure plus noise, so lossy codecs behave as on real pictures.
func makeImage(width: Int, height: Int, alpha: Bool, seed: UInt64, noise: Int = 12) -> RGBImage {
    var generator = SeededGenerator(seed: seed)
    let channels = alpha ? 4 : 3
    var pixels = [UInt8](repeating: 0, count: width * height * channels)
    let phase = (0..<3).map { _ in Double.random(in: 0..<6.28, using: &generator) }
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<3 {
                let wave = sin(Double(x) * 0.11 + phase[c]) * cos(Double(y) * 0.07 + Double(c)) * 90 + 128
                let jitter = Double(Int.random(in: -noise...noise, using: &generator))
                pixels[(y * width + x) * channels + c] = UInt8(max(0, min(255, wave + jitter)))
            }
            if alpha { pixels[(y * width + x) * 4 + 3] = UInt8.random(in: 0...255, using: &generator) }
        }
    }
    return RGBImage(width: width, height: height, hasAlpha: alpha, pixels: pixels)
}

/// Random bytes for every pixel (no structure): the hardest case for lossless round trips.
func makeNoiseImage(width: Int, height: Int, alpha: Bool, seed: UInt64) -> RGBImage {
    var generator = SeededGenerator(seed: seed)
    let count = width * height * (alpha ? 4 : 3)
    return RGBImage(
        width: width, height: height, hasAlpha: alpha,
        pixels: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
}

/// Peak signal-to-noise ratio in dB over the first `channels` bytes of every pixel.
func psnr(_ a: RGBImage, _ b: RGBImage, channels: Int = 3) -> Double {
    var squared = 0.0
    var count = 0
    for pixel in 0..<(a.width * a.height) {
        for c in 0..<channels {
            let d = Double(a.pixels[pixel * a.channels + c]) - Double(b.pixels[pixel * b.channels + c])
            squared += d * d
            count += 1
        }
    }
    let mse = squared / Double(max(count, 1))
    return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
}

/// Largest absolute byte difference between two same-layout images.
func maxDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
}

/// Runs `body` and returns the `ImageIOError` it throws (or records a failure).
func imageError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> ImageIOError? {
    do {
        try body()
        Issue.record("expected an ImageIOError", sourceLocation: sourceLocation)
    } catch let error as ImageIOError {
        return error
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// The chunk types of a PNG in file order, with their data.
func pngChunks(_ data: Data) -> [(type: String, data: Data)] {
    var chunks: [(String, Data)] = []
    var offset = data.startIndex + 8
    while offset + 8 <= data.endIndex {
        let length = data[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        let type = String(decoding: data[offset + 4..<offset + 8], as: UTF8.self)
        chunks.append((type, Data(data[offset + 8..<offset + 8 + length])))
        offset += 12 + length
    }
    return chunks
}
