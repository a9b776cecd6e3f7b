import LatentCore
import LatentWeights

/// Nearest-neighbour 2× upsampling followed by a 3×3 convolution.
///
/// Matches: diffusers `Upsample2D` (models/upsampling.py, diffusers 0.42.1) with `use_conv=True`.
public struct Upsample2D: Sendable {
    let conv: Conv2D

    public init(_ scope: WeightScope, channels: Int) throws {
        conv = try Conv2D(scope.scoped("conv"), inChannels: channels, outChannels: channels, kernelSize: 3)
    }

    /// `[N, C, H, W] → [N, C, outH, outW]`; the size defaults to 2× and may be given to match a skip
    /// connection when the latent size is not a multiple of the UNet's total downscale.
    public func callAsFunction(_ x: Tensor, size: (height: Int, width: Int)? = nil) -> Tensor {
        let target = size ?? (x.shape[2] * 2, x.shape[3] * 2)
        return conv(upsampleNearest(x, height: target.height, width: target.width))
    }
}

/// A stride-2 3×3 convolution halving the resolution.
///
/// Matches: diffusers `Downsample2D` (models/downsampling.py, diffusers 0.42.1) with `use_conv=True`.
/// The UNet pads 1 on every side; the VAE encoder pads only right and bottom (`padding=0` plus `F.pad(0,1,0,1)`).
public struct Downsample2D: Sendable {
    let conv: Conv2D

    public init(_ scope: WeightScope, channels: Int, asymmetricPadding: Bool) throws {
        conv = try Conv2D(
            scope.scoped("conv"), inChannels: channels, outChannels: channels, kernelSize: 3, stride: 2,
            padding: asymmetricPadding ? Padding2D(top: 0, left: 0, bottom: 1, right: 1) : .uniform(1))
    }

    /// `[N, C, H, W] → [N, C, ⌈H/2⌉, ⌈W/2⌉]`
    public func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}
