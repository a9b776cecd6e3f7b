import Foundation
import LatentCore
import LatentWeights

/// The variational autoencoder mapping images to latents and back.
///
/// Matches: diffusers `AutoencoderKL` (models/autoencoders/autoencoder_kl.py, diffusers 0.42.1) with its
/// `Encoder`/`Decoder` (models/autoencoders/vae.py).
public struct AutoencoderKL: Sendable {
    public let configuration: AutoencoderKLConfiguration
    let encoder: VAEEncoder
    let decoder: VAEDecoder
    let quantConv: Conv2D?
    let postQuantConv: Conv2D?

    /// Loads encoder and decoder weights (diffusers names: `encoder.…`, `decoder.…`, `quant_conv`, `post_quant_conv`).
    /// - Throws: `ModelConfigurationError` or `WeightsError` naming the problem.
    public init(configuration: AutoencoderKLConfiguration, weights: WeightScope) throws {
        try configuration.validate()
        self.configuration = configuration
        let latent = configuration.latentChannels
        encoder = try VAEEncoder(weights.scoped("encoder"), configuration: configuration)
        decoder = try VAEDecoder(weights.scoped("decoder"), configuration: configuration)
        quantConv = configuration.useQuantConv
            ? try Conv2D(weights.scoped("quant_conv"), inChannels: 2 * latent, outChannels: 2 * latent, kernelSize: 1)
            : nil
        postQuantConv = configuration.usePostQuantConv
            ? try Conv2D(weights.scoped("post_quant_conv"), inChannels: latent, outChannels: latent, kernelSize: 1)
            : nil
    }

    /// Encodes images to the posterior's parameters.
    /// - Parameter image: `[B, 3, H, W]` in [-1, 1].
    /// - Returns: The diagonal Gaussian over latents `[B, L, H/8, W/8]`.
    public func encode(_ image: Tensor) -> DiagonalGaussianDistribution {
        var moments = encoder(image)  // [B, 2L, h, w]
        if let quantConv { moments = quantConv(moments) }
        return DiagonalGaussianDistribution(moments: moments)
    }

    /// Decodes latents (already divided by the scaling factor) to images.
    /// - Parameter latents: `[B, L, h, w]`
    /// - Returns: `[B, 3, 8h, 8w]`, nominally in [-1, 1].
    /// Images above `tiledDecodeThreshold` latent pixels (48×48, i.e. 384² images) decode in tiles.
    public func decode(_ latents: Tensor) -> Tensor {
        decode(latents, tiled: latents.shape[2] * latents.shape[3] > Self.tiledDecodeThreshold)
    }

    /// Latent pixels above which `decode(_:)` tiles.
    /// 48×48 so that 512² decodes tile too: untiled, its full-resolution temporaries (normalised copies,
    /// oneDNN's blocked input and output) added ≈ 1 GB to the run's peak (docs/performance.md, wave 4).
    public static let tiledDecodeThreshold = 48 * 48

    /// Decodes latents, optionally in row-band tiles (same result to ≈ 1e-6; peak memory of the large
    /// layers bounded by the band size instead of the image size).
    /// - Parameters:
    ///   - latents: `[B, L, h, w]`, already divided by the scaling factor.
    ///   - tiled: Whether to decode in bands with whole-image GroupNorm statistics.
    ///   - bandElements: Approximate floats per band of an activation (default 4 Mi = 16 MiB).
    ///   - activationBudget: Bytes the tiled decode's whole-image activations may take before they are kept
    ///     in fp16 and upsamplers are recomputed per band (default `tiledActivationBudget`).
    /// - Returns: `[B, 3, 8h, 8w]`
    public func decode(
        _ latents: Tensor, tiled: Bool, bandElements: Int = 1 << 22, activationBudget: Int = Self.tiledActivationBudget
    ) -> Tensor {
        let z = postQuantConv.map { $0(latents) } ?? latents
        return tiled ? decoder.decodeTiled(z, bandElements: bandElements, activationBudget: activationBudget) : decoder(z)
    }

    /// 2.25 GiB: decodes up to about 1250² keep fp32 activations (exact); 2048² keeps fp16 ones and
    /// recomputes its last upsampler per band, which brings its decode under 3 GB (docs/performance.md).
    public static let tiledActivationBudget = 9 << 28
}

/// The encoder's output distribution.
///
/// Matches: diffusers `DiagonalGaussianDistribution` (models/autoencoders/vae.py, diffusers 0.42.1).
public struct DiagonalGaussianDistribution: Sendable {
    /// `[B, L, h, w]`
    public let mean: Tensor
    /// `[B, L, h, w]`, clamped to [-30, 20] like diffusers.
    public let logVariance: Tensor

    /// Splits `[B, 2L, h, w]` moments into mean and log-variance.
    public init(moments: Tensor) {
        let (b, c2, h, w) = (moments.shape[0], moments.shape[1], moments.shape[2], moments.shape[3])
        let c = c2 / 2, plane = c * h * w
        var meanScalars = [Float](), logVarScalars = [Float]()
        meanScalars.reserveCapacity(b * plane)
        logVarScalars.reserveCapacity(b * plane)
        for i in 0..<b {
            meanScalars += moments.scalars[(2 * i * plane)..<((2 * i + 1) * plane)]
            logVarScalars += moments.scalars[((2 * i + 1) * plane)..<((2 * i + 2) * plane)].map { min(max($0, -30), 20) }
        }
        mean = Tensor(shape: [b, c, h, w], scalars: meanScalars)
        logVariance = Tensor(shape: [b, c, h, w], scalars: logVarScalars)
    }

    /// Draws `mean + std · ε` with `ε` from `random`, in the shape and order diffusers draws it.
    public func sample(using random: any RandomSource) -> Tensor {
        let noise = random.normal(shape: mean.shape)
        let std = logVariance.map { expf(0.5 * $0) }
        return mean + std * noise
    }
}
