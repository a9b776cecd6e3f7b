import Foundation
import LatentCore
import LatentModels
import LatentTesting
import LatentWeights
import Testing

/// Tiled (row-band) VAE decoding equals the untiled decode: whole-image GroupNorm statistics and halo rows
/// leave no seams.
@Suite("Tiled VAE decode")
struct TiledDecodeTests {
    static func tinyVAE() throws -> AutoencoderKL {
        let directory = try ModelDirectory(url: Fixtures.url("models/sd15-tiny"))
        return try AutoencoderKL(
            configuration: JSONDecoder().decode(AutoencoderKLConfiguration.self, from: directory.configData("vae")),
            weights: WeightStore(try directory.weights("vae")).root)
    }

    /// PSNR of `a` against `b` for images in [-1, 1] (peak-to-peak 2).
    static func psnr(_ a: Tensor, _ b: Tensor) -> Double {
        let mse = zip(a.scalars, b.scalars).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(b.count)
        return 10 * log10(4 / max(mse, 1e-30))
    }

    @Test func tiledEqualsUntiled() throws {
        let vae = try Self.tinyVAE()
        // 23 latent rows: bands of 14 rows at 92 image rows leave a short last band.
        let latents = TorchCPURandomSource(seed: 3).normal(shape: [1, 4, 23, 21])
        let untiled = vae.decode(latents, tiled: false)
        let tiled = vae.decode(latents, tiled: true, bandElements: 40_000)  // 23 bands at full resolution
        #expect(tiled.shape == untiled.shape)
        let psnr = Self.psnr(tiled, untiled)
        #expect(psnr >= 45, "PSNR \(psnr) dB")
        #expect(relativeError(tiled, untiled) < 1e-4)
    }

    /// A 1024² decode (128×128 latents, the size `decode(_:)` tiles automatically) with the default band
    /// size: 8 bands of 128 rows at full resolution, the mid-block attention over 16 384 tokens untiled.
    @Test func tiledEqualsUntiledAt1024() throws {
        let vae = try Self.tinyVAE()
        let latents = TorchCPURandomSource(seed: 8).normal(shape: [1, 4, 128, 128])
        let tiled = vae.decode(latents)  // tiled: above the 48×48 threshold
        let untiled = vae.decode(latents, tiled: false)
        #expect(tiled.shape == [1, 3, 1024, 1024])
        let psnr = Self.psnr(tiled, untiled)
        #expect(psnr >= 45, "PSNR \(psnr) dB")
        #expect(relativeError(tiled, untiled) < 1e-4)
    }
}
