import LatentCore
import LatentImageIO

/// A cheap progress preview: the first three latent channels, each stretched to 0…255, at latent resolution
/// (1/8 of the image). No VAE pass, so it costs microseconds and shows composition, not colour.
enum LatentPreview {
    /// - Parameter latents: `[1, C, h, w]` with C ≥ 3.
    /// - Returns: An `h × w` RGB image, or `nil` for an unexpected shape.
    static func image(from latents: Tensor) -> RGBImage? {
        let shape = latents.shape
        guard shape.count == 4, shape[1] >= 3 else { return nil }
        let height = shape[2], width = shape[3], plane = height * width
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        for channel in 0..<3 {
            let values = latents.scalars[(channel * plane)..<((channel + 1) * plane)]
            let low = values.min() ?? 0, high = values.max() ?? 1
            let scale = high > low ? 255 / (high - low) : 0
            for (index, value) in values.enumerated() {
                pixels[index * 3 + channel] = UInt8(max(0, min(255, ((value - low) * scale).rounded())))
            }
        }
        return RGBImage(width: width, height: height, hasAlpha: false, pixels: pixels)
    }
}
