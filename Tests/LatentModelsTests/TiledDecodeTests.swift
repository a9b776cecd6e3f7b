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
    @Test func tiledEqualsUntiled() throws {
        let directory = try ModelDirectory(url: Fixtures.url("models/sd15-tiny"))
        let vae = try AutoencoderKL(
            configuration: JSONDecoder().decode(AutoencoderKLConfiguration.self, from: directory.configData("vae")),
            weights: WeightStore(try directory.weights("vae")).root)
        // 23 latent rows: bands of 14 rows at 92 image rows leave a short last band.
        let latents = TorchCPURandomSource(seed: 3).normal(shape: [1, 4, 23, 21])
        let untiled = vae.decode(latents, tiled: false)
        let tiled = vae.decode(latents, tiled: true, bandElements: 40_000)  // 23 bands at full resolution
        #expect(tiled.shape == untiled.shape)
        let mse = zip(tiled.scalars, untiled.scalars).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            / Double(untiled.count)
        let psnr = 10 * log10(4 / max(mse, 1e-30))  // peak-to-peak 2 for images in [-1, 1]
        #expect(psnr >= 45, "PSNR \(psnr) dB")
        #expect(relativeError(tiled, untiled) < 1e-4)
    }
}
