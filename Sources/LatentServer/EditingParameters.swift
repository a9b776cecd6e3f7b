import Foundation
import LatentImageIO
import LatentPipeline

/// The image-editing part of a job (image-to-image, inpainting): settings under Latent's names plus the input
/// image and mask. The settings are persisted as JSON with the job; the pixels as PNG blobs in their own table
/// (so a queued edit survives a restart without bloating every row update).
public struct EditingParameters: Codable, Sendable, Equatable {
    /// The image to edit: a PNG of RGB pixels (alpha already dropped). Not part of the JSON encoding.
    public var image: Data
    /// Where to repaint: a PNG of gray pixels at the image's size, white = repaint (before `invertMask`),
    /// already converted from the client's convention; `nil` for image-to-image. Not part of the JSON encoding.
    public var mask: Data?
    /// Denoising strength in (0, 1].
    public var strength: Float
    /// How the image is fitted to the output size.
    public var resizeMode: String
    /// Gaussian σ of the mask blur in pixels.
    public var maskBlur: Int
    /// What the masked area starts from (`MaskedContent` raw value).
    public var maskedContent: String
    /// A1111 "Inpaint not masked": repaint the black area.
    public var invertMask: Bool
    /// A1111 "Only masked" (`inpaint_full_res`).
    public var onlyMasked: Bool
    /// Pixels around the mask's bounding box with `onlyMasked`.
    public var padding: Int

    enum CodingKeys: String, CodingKey {
        case strength
        case resizeMode = "resize_mode"
        case maskBlur = "mask_blur"
        case maskedContent = "masked_content"
        case invertMask = "invert_mask"
        case onlyMasked = "inpaint_only_masked"
        case padding = "inpaint_padding"
    }

    /// Creates editing parameters; the defaults are A1111's (strength 0.75, blur 4, masked content "fill").
    public init(
        image: Data, mask: Data? = nil, strength: Float = 0.75, resizeMode: ImageResizeMode = .justResize, maskBlur: Int = 4,
        maskedContent: MaskedContent = .fill, invertMask: Bool = false, onlyMasked: Bool = false, padding: Int = 32
    ) {
        self.image = image
        self.mask = mask
        self.strength = strength
        self.resizeMode = resizeMode.rawValue
        self.maskBlur = maskBlur
        self.maskedContent = maskedContent.rawValue
        self.invertMask = invertMask
        self.onlyMasked = onlyMasked
        self.padding = padding
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        image = Data()
        mask = nil
        strength = try c.decodeIfPresent(Float.self, forKey: .strength) ?? 0.75
        resizeMode = try c.decodeIfPresent(String.self, forKey: .resizeMode) ?? ImageResizeMode.justResize.rawValue
        maskBlur = try c.decodeIfPresent(Int.self, forKey: .maskBlur) ?? 4
        maskedContent = try c.decodeIfPresent(String.self, forKey: .maskedContent) ?? MaskedContent.fill.rawValue
        invertMask = try c.decodeIfPresent(Bool.self, forKey: .invertMask) ?? false
        onlyMasked = try c.decodeIfPresent(Bool.self, forKey: .onlyMasked) ?? false
        padding = try c.decodeIfPresent(Int.self, forKey: .padding) ?? 32
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(strength, forKey: .strength)
        try c.encode(resizeMode, forKey: .resizeMode)
        try c.encode(maskBlur, forKey: .maskBlur)
        try c.encode(maskedContent, forKey: .maskedContent)
        try c.encode(invertMask, forKey: .invertMask)
        try c.encode(onlyMasked, forKey: .onlyMasked)
        try c.encode(padding, forKey: .padding)
    }

    /// Checks the settings' ranges and names.
    /// - Throws: `ServerError.badRequest` naming the field.
    func check() throws {
        guard strength.isFinite, strength > 0, strength <= 1 else {
            throw ServerError.badRequest("denoising strength \(strength) is out of range: must be greater than 0 and at most 1")
        }
        guard ImageResizeMode(rawValue: resizeMode) != nil else {
            throw ServerError.badRequest("resize_mode '\(resizeMode)' is not one of just-resize, crop, fill")
        }
        guard MaskedContent(rawValue: maskedContent) != nil else {
            throw ServerError.badRequest("masked_content '\(maskedContent)' is not one of original, fill, latent-noise, latent-nothing")
        }
        guard (0...256).contains(maskBlur) else { throw ServerError.badRequest("mask_blur \(maskBlur) must be between 0 and 256") }
        guard (0...4096).contains(padding) else { throw ServerError.badRequest("inpaint padding \(padding) must be between 0 and 4096") }
    }

    /// The engine's request for `generation`: decodes the stored PNGs.
    /// - Throws: `ImageIOError` if the stored bytes are not an image (a damaged store).
    func editingRequest(_ generation: GenerationRequest) throws -> ImageEditingRequest {
        let source = try decodeImage(image, format: .png).image.droppingAlpha()
        var inpainting: InpaintingOptions?
        if let mask {
            let maskImage = MaskImage(luminanceOf: try decodeImage(mask, format: .png).image)
            inpainting = InpaintingOptions(
                mask: maskImage, blur: maskBlur, inverted: invertMask, onlyMasked: onlyMasked, padding: padding,
                maskedContent: MaskedContent(rawValue: maskedContent) ?? .fill)
        }
        return ImageEditingRequest(
            generation: generation, image: source, strength: strength,
            resizeMode: ImageResizeMode(rawValue: resizeMode) ?? .justResize, inpainting: inpainting)
    }
}
