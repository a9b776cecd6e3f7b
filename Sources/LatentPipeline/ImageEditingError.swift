/// Errors an image-to-image, inpainting or outpainting request can raise; each names the problem in one line.
public enum ImageEditingError: Error, CustomStringConvertible, Equatable {
    case invalidStrength(Float)
    case noStepsLeft(strength: Float, steps: Int)
    case maskSizeMismatch(maskWidth: Int, maskHeight: Int, imageWidth: Int, imageHeight: Int)
    case emptyMask
    case imageTooSmall(width: Int, height: Int)
    case inpaintingModelNeedsMask
    case unsupportedUNetChannels(Int)
    case invalidOption(String)

    public var description: String {
        switch self {
        case let .invalidStrength(value):
            "invalid denoising strength \(value): must be greater than 0 and at most 1"
        case let .noStepsLeft(strength, steps):
            "denoising strength \(strength) with \(steps) steps leaves no step to run (strength × steps must be at least 1)"
        case let .maskSizeMismatch(mw, mh, iw, ih):
            "mask is \(mw)×\(mh) but the image is \(iw)×\(ih)"
        case .emptyMask:
            "the mask is entirely black: there is nothing to repaint"
        case let .imageTooSmall(width, height):
            "image \(width)×\(height) is too small: both sides must be at least 8 pixels"
        case .inpaintingModelNeedsMask:
            "this is a 9-channel inpainting model: it needs an init image and a mask"
        case let .unsupportedUNetChannels(channels):
            "the UNet takes \(channels) input channels; image editing supports 4 (ordinary) and 9 (inpainting)"
        case let .invalidOption(message):
            message
        }
    }
}
