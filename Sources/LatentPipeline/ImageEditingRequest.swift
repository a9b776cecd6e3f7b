import LatentImageIO

/// What fills the area to repaint before it is encoded (A1111's "Masked content").
public enum MaskedContent: String, Sendable, CaseIterable, Equatable {
    /// The image as it is (diffusers' behaviour).
    case original
    /// The surrounding colours, spread in by successively sharper blurs (A1111 `masking.fill`).
    case fill
    /// The encoded latents of the masked area replaced by fresh standard-normal noise.
    case latentNoise = "latent-noise"
    /// The encoded latents of the masked area set to zero.
    case latentNothing = "latent-nothing"

    /// The name A1111 shows and writes.
    public var a1111Label: String {
        switch self {
        case .original: "original"
        case .fill: "fill"
        case .latentNoise: "latent noise"
        case .latentNothing: "latent nothing"
        }
    }
}

/// The inpainting part of an editing request.
public struct InpaintingOptions: Sendable, Equatable {
    /// Where to repaint (white) and where to keep (black); the image's size.
    public var mask: MaskImage
    /// A1111 mask blur: Gaussian σ in pixels applied to the mask before use; softens the paste-back seam.
    public var blur: Int
    /// Repaint the black area instead of the white one (A1111 "Inpaint not masked").
    public var inverted: Bool
    /// Generate only a crop around the mask (its bounding box plus `padding`, grown to the output's aspect
    /// ratio) at the full requested resolution, then paste it back (A1111 "Only masked"; diffusers
    /// `padding_mask_crop`).
    public var onlyMasked: Bool
    /// Pixels added around the mask's bounding box with `onlyMasked`.
    public var padding: Int
    /// What the masked area starts from.
    public var maskedContent: MaskedContent
    /// Paste the result over the original with the (blurred) mask, so unmasked pixels stay exactly the
    /// original's (A1111 always does; diffusers only with `padding_mask_crop`). Off gives diffusers' raw output.
    public var overlaysOriginal: Bool

    /// Creates inpainting options; defaults give diffusers' `StableDiffusionInpaintPipeline` plus the overlay.
    public init(
        mask: MaskImage, blur: Int = 0, inverted: Bool = false, onlyMasked: Bool = false, padding: Int = 32,
        maskedContent: MaskedContent = .original, overlaysOriginal: Bool = true
    ) {
        self.mask = mask
        self.blur = blur
        self.inverted = inverted
        self.onlyMasked = onlyMasked
        self.padding = padding
        self.maskedContent = maskedContent
        self.overlaysOriginal = overlaysOriginal
    }
}

/// An image-to-image or inpainting request: a text-to-image request plus the image to start from.
public struct ImageEditingRequest: Sendable, Equatable {
    /// Prompt, steps, CFG, seed, scheduler and the output size (`nil` width/height: the image's size rounded
    /// down to a multiple of 8).
    public var generation: GenerationRequest
    /// The image to edit.
    public var image: RGBImage
    /// How much to change, in (0, 1]: the share of the schedule that is run (diffusers' `strength`).
    public var strength: Float
    /// How the image is fitted when its size differs from the output size.
    public var resizeMode: ImageResizeMode
    /// `nil` for image-to-image.
    public var inpainting: InpaintingOptions?

    /// Creates a request; `strength` defaults to diffusers' 0.8 for image-to-image and 1 for inpainting.
    public init(
        generation: GenerationRequest, image: RGBImage, strength: Float? = nil, resizeMode: ImageResizeMode = .justResize,
        inpainting: InpaintingOptions? = nil
    ) {
        self.generation = generation
        self.image = image
        self.strength = strength ?? (inpainting == nil ? 0.8 : 1.0)
        self.resizeMode = resizeMode
        self.inpainting = inpainting
    }
}
