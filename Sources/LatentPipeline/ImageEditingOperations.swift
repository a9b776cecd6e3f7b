import Foundation
import LatentImageIO

/// Pixel operations of image editing: crop, paste-back with a soft mask, A1111's masked-area fill and the
/// outpainting canvas.
public enum ImageEditing {
    /// The pixels of `image` inside `region` (RGB).
    public static func cropped(_ image: RGBImage, to region: MaskRegion) -> RGBImage {
        let rgb = image.droppingAlpha()
        var out = [UInt8]()
        out.reserveCapacity(region.width * region.height * 3)
        for y in region.y0..<region.y1 {
            out += rgb.pixels[((y * rgb.width + region.x0) * 3)..<((y * rgb.width + region.x1) * 3)]
        }
        return RGBImage(width: region.width, height: region.height, hasAlpha: false, pixels: out)
    }

    /// Blends `generated` over `original` through `mask` (255 = generated, 0 = original exactly), with
    /// `generated` placed at `origin` (it covers `mask`'s pixels from there).
    /// - Parameters:
    ///   - generated: The new pixels, RGB.
    ///   - original: The image to paste into (its size is the result's).
    ///   - mask: The original's size: how much of `generated` each pixel takes.
    ///   - origin: Where `generated`'s top-left pixel lands in `original`.
    public static func composite(_ generated: RGBImage, over original: RGBImage, mask: MaskImage, at origin: (x: Int, y: Int) = (0, 0))
        -> RGBImage
    {
        var out = original.droppingAlpha()
        let gen = generated.droppingAlpha()
        for y in 0..<gen.height where (0..<out.height).contains(origin.y + y) {
            for x in 0..<gen.width where (0..<out.width).contains(origin.x + x) {
                let target = (origin.y + y) * out.width + origin.x + x
                let m = Int(mask.values[target])
                guard m > 0 else { continue }
                for c in 0..<3 {
                    let a = Int(out.pixels[target * 3 + c]), b = Int(gen.pixels[(y * gen.width + x) * 3 + c])
                    out.pixels[target * 3 + c] = UInt8((a * (255 - m) + b * m + 127) / 255)
                }
            }
        }
        return out
    }

    /// A1111's "fill" masked content: the masked area takes the colours around it, spread in by blurs of
    /// decreasing radius (256, 64, 16, 4, 2, 0 px; repeated 1, 1, 2, 4, 2, 1 times) of the premultiplied
    /// unmasked image, each composited over the last. Unmasked pixels keep their values.
    ///
    /// Each Gaussian is approximated by three box blurs of matching variance (as Pillow's `GaussianBlur`
    /// is), so values differ slightly from A1111's; only the fill's look matters, it is then noised.
    public static func fill(_ image: RGBImage, mask: MaskImage) -> RGBImage {
        let rgb = image.droppingAlpha()
        let (w, h) = (rgb.width, rgb.height), n = w * h
        // Premultiplied known colour and its coverage (1 where kept, 0 where repainted).
        var alpha = [Double](repeating: 0, count: n)
        var color = [[Double]](repeating: [Double](repeating: 0, count: n), count: 3)
        for i in 0..<n {
            let a = 1 - Double(mask.values[i]) / 255
            alpha[i] = a
            for c in 0..<3 { color[c][i] = Double(rgb.pixels[i * 3 + c]) * a }
        }
        var outColor = [[Double]](repeating: [Double](repeating: 0, count: n), count: 3)
        var outAlpha = [Double](repeating: 0, count: n)
        for (radius, repeats) in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)] {
            let a = gaussianApproximation(alpha, width: w, height: h, sigma: Double(radius))
            let cs = color.map { gaussianApproximation($0, width: w, height: h, sigma: Double(radius)) }
            for _ in 0..<repeats {
                for i in 0..<n where a[i] > 1e-12 {
                    let srcA = min(a[i], 1)
                    let newA = srcA + outAlpha[i] * (1 - srcA)
                    for c in 0..<3 {
                        let src = cs[c][i] / a[i]
                        outColor[c][i] = (src * srcA + outColor[c][i] * outAlpha[i] * (1 - srcA)) / newA
                    }
                    outAlpha[i] = newA
                }
            }
        }
        var pixels = [UInt8](repeating: 0, count: n * 3)
        for i in 0..<n {
            for c in 0..<3 {
                // Kept pixels come back exactly (the last, unblurred layer covers them fully).
                pixels[i * 3 + c] = mask.values[i] == 0 ? rgb.pixels[i * 3 + c] : UInt8(min(max(outColor[c][i].rounded(), 0), 255))
            }
        }
        return RGBImage(width: w, height: h, hasAlpha: false, pixels: pixels)
    }

    /// Three box blurs whose combined variance is σ² (edges extended).
    private static func gaussianApproximation(_ values: [Double], width: Int, height: Int, sigma: Double) -> [Double] {
        guard sigma > 0 else { return values }
        let radius = max(1, Int(((4 * sigma * sigma + 1).squareRoot() - 1) / 2 + 0.5))
        var data = values
        for _ in 0..<3 {
            data = boxBlur(data, width: width, height: height, radius: radius, horizontal: true)
            data = boxBlur(data, width: width, height: height, radius: radius, horizontal: false)
        }
        return data
    }

    /// A running-sum box blur of half-width `radius` along one axis.
    private static func boxBlur(_ values: [Double], width: Int, height: Int, radius: Int, horizontal: Bool) -> [Double] {
        let (lines, length) = horizontal ? (height, width) : (width, height)
        var out = values
        let scale = 1 / Double(2 * radius + 1)
        for line in 0..<lines {
            func index(_ k: Int) -> Int {
                let clamped = min(max(k, 0), length - 1)
                return horizontal ? line * width + clamped : clamped * width + line
            }
            var sum = 0.0
            for k in -radius...radius { sum += values[index(k)] }
            for k in 0..<length {
                out[index(k)] = sum * scale
                sum += values[index(k + radius + 1)] - values[index(k - radius)]
            }
        }
        return out
    }

    /// The outpainting canvas: `image` placed at (`left`, `top`) on a canvas grown by the four margins, the new
    /// area filled from the image's edges (nearest edge pixel), and the mask (255 on the new area).
    ///
    /// Margins are grown so the canvas is a multiple of 8 on both sides (the extra goes to the right/bottom
    /// margin when that side is extended or the opposite one is not, else to the left/top), because the
    /// model works on 8-pixel cells and a resize would touch the original pixels.
    /// - Returns: The canvas, its mask and the margins actually used.
    /// - Throws: `ImageEditingError.invalidOption` for negative margins or none at all.
    public static func outpaintingCanvas(_ image: RGBImage, left: Int, right: Int, top: Int, bottom: Int) throws
        -> (canvas: RGBImage, mask: MaskImage, margins: (left: Int, right: Int, top: Int, bottom: Int))
    {
        var (left, right, top, bottom) = (left, right, top, bottom)
        guard left >= 0, right >= 0, top >= 0, bottom >= 0 else {
            throw ImageEditingError.invalidOption("outpainting margins must not be negative")
        }
        guard left + right + top + bottom > 0 else {
            throw ImageEditingError.invalidOption("nothing to outpaint: give at least one of --left, --right, --top, --bottom")
        }
        let rgb = image.droppingAlpha()
        let extraX = (8 - (rgb.width + left + right) % 8) % 8, extraY = (8 - (rgb.height + top + bottom) % 8) % 8
        if right > 0 || left == 0 { right += extraX } else { left += extraX }
        if bottom > 0 || top == 0 { bottom += extraY } else { top += extraY }
        let width = rgb.width + left + right, height = rgb.height + top + bottom
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var mask = [UInt8](repeating: 255, count: width * height)
        for y in 0..<height {
            let sy = min(max(y - top, 0), rgb.height - 1)
            for x in 0..<width {
                let sx = min(max(x - left, 0), rgb.width - 1)
                let source = (sy * rgb.width + sx) * 3, target = (y * width + x) * 3
                pixels[target..<(target + 3)] = rgb.pixels[source..<(source + 3)]
                if (top..<(top + rgb.height)).contains(y) && (left..<(left + rgb.width)).contains(x) { mask[y * width + x] = 0 }
            }
        }
        return (RGBImage(width: width, height: height, hasAlpha: false, pixels: pixels),
                MaskImage(width: width, height: height, values: mask), (left, right, top, bottom))
    }
}
