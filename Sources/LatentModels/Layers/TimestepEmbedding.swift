import Foundation
import LatentCore
import LatentWeights

/// Sinusoidal timestep features.
///
/// Matches: diffusers `Timesteps` / `get_timestep_embedding` (models/embeddings.py, diffusers 0.42.1).
/// Frequencies and products are computed in float32 like torch, so embeddings agree to rounding.
/// - Parameters:
///   - timesteps: One (possibly fractional) timestep per sample.
///   - dimension: Output width (even).
///   - flipSinToCos: Put cosines first (Stable Diffusion's UNet does).
///   - downscaleFrequencyShift: diffusers' `downscale_freq_shift` (`freq_shift`).
/// - Returns: `[N, dimension]`
public func timestepEmbedding(_ timesteps: [Float], dimension: Int, flipSinToCos: Bool, downscaleFrequencyShift: Float) -> Tensor {
    let half = dimension / 2
    let frequencies = (0..<half).map { i -> Float in
        let exponent = -Float(log(10000.0)) * Float(i) / (Float(half) - downscaleFrequencyShift)
        return expf(exponent)
    }
    var scalars = [Float]()
    scalars.reserveCapacity(timesteps.count * dimension)
    for t in timesteps {
        let args = frequencies.map { t * $0 }
        let sines = args.map { sinf($0) }, cosines = args.map { cosf($0) }
        scalars += flipSinToCos ? cosines + sines : sines + cosines
        if dimension % 2 == 1 { scalars.append(0) }
    }
    return Tensor(shape: [timesteps.count, dimension], scalars: scalars)
}

/// Two linear layers with a SiLU between them, mapping timestep features to the UNet's time embedding.
///
/// Matches: diffusers `TimestepEmbedding` (models/embeddings.py, diffusers 0.42.1).
public struct TimestepEmbedding: Sendable {
    let linear1: Linear
    let linear2: Linear

    public init(_ scope: WeightScope, inChannels: Int, embeddingChannels: Int) throws {
        linear1 = try Linear(scope.scoped("linear_1"), inFeatures: inChannels, outFeatures: embeddingChannels)
        linear2 = try Linear(scope.scoped("linear_2"), inFeatures: embeddingChannels, outFeatures: embeddingChannels)
    }

    /// `[N, inChannels] → [N, embeddingChannels]`
    public func callAsFunction(_ x: Tensor) -> Tensor { linear2(silu(linear1(x))) }
}
