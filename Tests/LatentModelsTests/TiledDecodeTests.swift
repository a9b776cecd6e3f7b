import Foundation
import LatentCore
@testable import LatentModels
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

    /// What large decodes do, forced on a small image: upsamplers recomputed band by band inside the next
    /// block (exact in fp32) and whole-image activations kept in fp16 with a factor per row.
    @Test func fp16StoresAndFusedUpsamplersEqualUntiled() throws {
        let vae = try Self.tinyVAE()
        let latents = TorchCPURandomSource(seed: 5).normal(shape: [1, 4, 23, 21])
        let untiled = vae.decode(latents, tiled: false)
        let z = vae.postQuantConv.map { $0(latents) } ?? latents
        let upsamplers = Set(vae.decoder.levels.indices.dropLast())
        #expect(!upsamplers.isEmpty)
        let fused = vae.decoder.decodeTiled(z, bandElements: 40_000, plan: TiledDecodePlan(precision: .float32, fusedLevels: upsamplers))
        #expect(relativeError(fused, untiled) < 1e-5)
        let half = vae.decoder.decodeTiled(z, bandElements: 40_000, plan: TiledDecodePlan(precision: .float16, fusedLevels: []))
        let halfPSNR = Self.psnr(half, untiled)
        #expect(halfPSNR >= 60, "fp16 stores: PSNR \(halfPSNR) dB")
        // A 1-byte budget selects fp16 and recomputes every upsampler.
        let smallest = vae.decode(latents, tiled: true, bandElements: 40_000, activationBudget: 1)
        let smallestPSNR = Self.psnr(smallest, untiled)
        #expect(smallestPSNR >= 60, "fp16 stores, fused upsamplers: PSNR \(smallestPSNR) dB")
        #expect(relativeError(smallest, untiled) < 1e-3)
    }

    /// The default budget with SD 1.x's decoder (levels of 512, 512, 256, 128 channels): exact fp32 up to
    /// 1024², and at 2048² fp16 stores with the last upsampler (whose output is 256 × 2048² values) fused.
    @Test func defaultPlanBySize() {
        let channels = [512, 512, 256, 128], budget = AutoencoderKL.tiledActivationBudget
        for side in [64, 128] {
            let plan = TiledDecodePlan(levelChannels: channels, latent: (1, side, side), budget: budget)
            #expect(plan.precision == .float32 && plan.fusedLevels.isEmpty, "\(8 * side)²")
        }
        let large = TiledDecodePlan(levelChannels: channels, latent: (1, 256, 256), budget: budget)
        #expect(large.precision == .float16 && large.fusedLevels == [2])
    }
}
