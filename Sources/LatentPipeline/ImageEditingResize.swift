import Foundation
import LatentImageIO

/// How an input image whose size differs from the requested size is fitted (A1111's "Resize mode").
public enum ImageResizeMode: String, Sendable, CaseIterable, Equatable {
    /// Stretch to the requested size, ignoring the aspect ratio (A1111 "Just resize"; diffusers `"default"`).
    case justResize = "just-resize"
    /// Scale to cover the requested size, keeping the aspect ratio, and crop the excess centred
    /// (A1111 "Crop and resize"; diffusers `"crop"`).
    case crop
    /// Scale to fit inside the requested size, keeping the aspect ratio, centre it and fill the bands by
    /// stretching the image's edge rows/columns (A1111 "Resize and fill"; diffusers `"fill"`).
    case fill

    /// The name A1111 shows and writes.
    public var a1111Label: String {
        switch self {
        case .justResize: "Just resize"
        case .crop: "Crop and resize"
        case .fill: "Resize and fill"
        }
    }
}

/// Image resizing equal to Pillow's `Image.resize(size, Image.LANCZOS, box=…)` on 8-bit images, and
/// diffusers' resize modes built on it.
///
/// Matches: Pillow's `ImagingResample` (libImaging/Resample.c: Lanczos-3 windowed sinc, support scaled by the
/// downscale factor, coefficients normalised then rounded to 22-bit fixed point, horizontal pass then vertical
/// pass with an 8-bit intermediate) and diffusers `VaeImageProcessor.resize` / `_resize_and_crop` /
/// `_resize_and_fill` (image_processor.py, diffusers 0.42.1), whose default filter is Lanczos (the fill bands
/// use Pillow's default bicubic, as diffusers calls `resize` there without a filter).
public enum ImageResampler {
    private static let precisionBits = 32 - 8 - 2

    /// Pillow's Lanczos kernel: sinc(x)·sinc(x/3) on [-3, 3).
    private static func lanczos(_ x: Double) -> Double {
        guard x >= -3, x < 3 else { return 0 }
        func sinc(_ v: Double) -> Double {
            if v == 0 { return 1 }
            let p = v * Double.pi
            return sin(p) / p
        }
        return sinc(x) * sinc(x / 3)
    }

    /// Pillow's bicubic kernel (a = −0.5) on (−2, 2): its default filter for `resize` without `resample`.
    private static func bicubic(_ x: Double) -> Double {
        let x = abs(x), a = -0.5
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Per output pixel: the first input index, the tap count and the fixed-point weights.
    private static func coefficients(inSize: Int, from in0: Double, to in1: Double, outSize: Int, bicubic useBicubic: Bool = false)
        -> [(start: Int, weights: [Int])]
    {
        let scale = (in1 - in0) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = (useBicubic ? 2 : 3) * filterScale
        return (0..<outSize).map { xx in
            let center = in0 + (Double(xx) + 0.5) * scale
            // Pillow truncates toward zero after adding 0.5 (C `(int)` cast).
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var taps = (0..<max(xmax, 0)).map { x in
                let position = (Double(x + xmin) - center + 0.5) / filterScale
                return useBicubic ? bicubic(position) : lanczos(position)
            }
            let total = taps.reduce(0, +)
            if total != 0 { taps = taps.map { $0 / total } }
            let unit = Double(1 << precisionBits)
            let fixed = taps.map { $0 < 0 ? Int(-0.5 + $0 * unit) : Int(0.5 + $0 * unit) }
            return (xmin, fixed)
        }
    }

    private static func clip8(_ value: Int) -> UInt8 {
        if value >= ((1 << precisionBits) << 8) { return 255 }
        if value <= 0 { return 0 }
        return UInt8(value >> precisionBits)
    }

    /// Resamples interleaved 8-bit pixels with Pillow's Lanczos filter.
    /// - Parameters:
    ///   - pixels: `height × width × channels` bytes.
    ///   - box: The source rectangle `(x0, y0, x1, y1)` in pixels (Pillow's `box`); `nil` is the whole image.
    ///   - bicubic: Use Pillow's bicubic filter instead (its default, which diffusers' fill bands get).
    /// - Returns: `outHeight × outWidth × channels` bytes.
    public static func lanczos(
        _ pixels: [UInt8], width: Int, height: Int, channels: Int, toWidth outWidth: Int, height outHeight: Int,
        box: (Double, Double, Double, Double)? = nil, bicubic: Bool = false
    ) -> [UInt8] {
        let (x0, y0, x1, y1) = box ?? (0, 0, Double(width), Double(height))
        if outWidth == width, outHeight == height, x0 == 0, y0 == 0, x1 == Double(width), y1 == Double(height) {
            return pixels
        }
        let needHorizontal = outWidth != width || x0 != 0 || x1 != Double(outWidth)
        let needVertical = outHeight != height || y0 != 0 || y1 != Double(outHeight)
        let horizontal = coefficients(inSize: width, from: x0, to: x1, outSize: outWidth, bicubic: bicubic)
        var vertical = coefficients(inSize: height, from: y0, to: y1, outSize: outHeight, bicubic: bicubic)
        // Pillow (as installed with diffusers 0.42.1) runs the vertical pass first when the width grows and the
        // height shrinks; the 8-bit intermediate makes the order visible.
        if needHorizontal, needVertical, x1 - x0 < Double(outWidth), y1 - y0 > Double(outHeight) {
            let columns = lanczos(pixels, width: width, height: height, channels: channels, toWidth: width, height: outHeight,
                                  box: (0, y0, Double(width), y1), bicubic: bicubic)
            return lanczos(columns, width: width, height: outHeight, channels: channels, toWidth: outWidth, height: outHeight,
                           box: (x0, 0, x1, Double(outHeight)), bicubic: bicubic)
        }
        var source = pixels, sourceWidth = width, sourceHeight = height
        let rounding = 1 << (precisionBits - 1)
        if needHorizontal {
            // Only the rows the vertical pass reads are resampled, as Pillow does.
            let firstRow = vertical.first?.start ?? 0
            let lastRow = vertical.last.map { $0.start + $0.weights.count } ?? height
            let rows = needVertical ? (firstRow, lastRow) : (0, height)
            if needVertical { vertical = vertical.map { ($0.start - firstRow, $0.weights) } }
            var out = [UInt8](repeating: 0, count: (rows.1 - rows.0) * outWidth * channels)
            for y in rows.0..<rows.1 {
                let inRow = y * width * channels, outRow = (y - rows.0) * outWidth * channels
                for (xx, tap) in horizontal.enumerated() {
                    for c in 0..<channels {
                        var sum = rounding
                        for (k, w) in tap.weights.enumerated() { sum += Int(pixels[inRow + (tap.start + k) * channels + c]) * w }
                        out[outRow + xx * channels + c] = clip8(sum)
                    }
                }
            }
            source = out
            sourceWidth = outWidth
            sourceHeight = rows.1 - rows.0
        }
        guard needVertical else { return source }
        var out = [UInt8](repeating: 0, count: outHeight * outWidth * channels)
        let rowBytes = sourceWidth * channels
        for (yy, tap) in vertical.enumerated() {
            for i in 0..<rowBytes {
                var sum = rounding
                for (k, w) in tap.weights.enumerated() where tap.start + k < sourceHeight {
                    sum += Int(source[(tap.start + k) * rowBytes + i]) * w
                }
                out[yy * rowBytes + i] = clip8(sum)
            }
        }
        return out
    }

    /// Resizes an image to `width × height` the way diffusers' `VaeImageProcessor.resize` does for `mode`.
    /// Alpha is dropped first (diffusers converts to RGB).
    public static func resize(_ image: RGBImage, width: Int, height: Int, mode: ImageResizeMode) -> RGBImage {
        let rgb = image.droppingAlpha()
        return RGBImage(
            width: width, height: height, hasAlpha: false,
            pixels: resize(rgb.pixels, width: rgb.width, height: rgb.height, channels: 3, toWidth: width, height: height, mode: mode))
    }

    /// `resize(_:width:height:mode:)` on raw interleaved pixels (1 channel for masks, 3 for images).
    public static func resize(
        _ pixels: [UInt8], width: Int, height: Int, channels: Int, toWidth outWidth: Int, height outHeight: Int,
        mode: ImageResizeMode
    ) -> [UInt8] {
        func scaled(_ w: Int, _ h: Int, box: (Double, Double, Double, Double)? = nil, from src: [UInt8]? = nil,
                    srcWidth: Int? = nil, srcHeight: Int? = nil) -> [UInt8] {
            // diffusers resizes the fill bands without `resample`, i.e. with Pillow's default (bicubic).
            lanczos(src ?? pixels, width: srcWidth ?? width, height: srcHeight ?? height, channels: channels,
                    toWidth: w, height: h, box: box, bicubic: box != nil)
        }
        switch mode {
        case .justResize:
            return scaled(outWidth, outHeight)
        case .crop, .fill:
            let ratio = Double(outWidth) / Double(outHeight), sourceRatio = Double(width) / Double(height)
            let cover = mode == .crop
            let srcW = (cover ? ratio > sourceRatio : ratio < sourceRatio) ? outWidth : width * outHeight / height
            let srcH = (cover ? ratio <= sourceRatio : ratio >= sourceRatio) ? outHeight : height * outWidth / width
            let resized = scaled(srcW, srcH)
            var canvas = [UInt8](repeating: 0, count: outWidth * outHeight * channels)
            func paste(_ part: [UInt8], _ w: Int, _ h: Int, at left: Int, _ top: Int) {
                for y in 0..<h where (0..<outHeight).contains(top + y) {
                    for x in 0..<w where (0..<outWidth).contains(left + x) {
                        for c in 0..<channels {
                            canvas[((top + y) * outWidth + left + x) * channels + c] = part[(y * w + x) * channels + c]
                        }
                    }
                }
            }
            paste(resized, srcW, srcH, at: outWidth / 2 - srcW / 2, outHeight / 2 - srcH / 2)
            guard mode == .fill else { return canvas }
            // The bands are the edge row/column stretched (Pillow resize from a zero-height/width box).
            if ratio < sourceRatio {
                let band = outHeight / 2 - srcH / 2
                if band > 0 {
                    let top = scaled(outWidth, band, box: (0, 0, Double(outWidth), 0), from: resized, srcWidth: srcW, srcHeight: srcH)
                    let bottom = scaled(outWidth, band, box: (0, Double(srcH), Double(outWidth), Double(srcH)), from: resized,
                                        srcWidth: srcW, srcHeight: srcH)
                    paste(top, outWidth, band, at: 0, 0)
                    paste(bottom, outWidth, band, at: 0, band + srcH)
                }
            } else if ratio > sourceRatio {
                let band = outWidth / 2 - srcW / 2
                if band > 0 {
                    let left = scaled(band, outHeight, box: (0, 0, 0, Double(outHeight)), from: resized, srcWidth: srcW, srcHeight: srcH)
                    let right = scaled(band, outHeight, box: (Double(srcW), 0, Double(srcW), Double(outHeight)), from: resized,
                                       srcWidth: srcW, srcHeight: srcH)
                    paste(left, band, outHeight, at: 0, 0)
                    paste(right, band, outHeight, at: band + srcW, 0)
                }
            }
            return canvas
        }
    }
}
