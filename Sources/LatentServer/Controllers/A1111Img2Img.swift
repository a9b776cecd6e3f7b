import Foundation
import Hummingbird
import LatentImageIO
import LatentPipeline

/// A1111's `POST /sdapi/v1/img2img`: image-to-image, and inpainting when `mask` is given, with A1111's
/// field names and defaults (`StableDiffusionProcessingImg2Img`). Runs through the same queue as txt2img.
extension A1111Controller {
    /// The img2img fields on top of txt2img's.
    struct Img2ImgRequest: Decodable {
        var base: Txt2ImgRequest
        var initImages: [String]
        var resizeMode: Int
        var denoisingStrength: Float
        var mask: String?
        var maskBlur: Int
        var inpaintingFill: Int
        var inpaintFullRes: Bool
        var inpaintFullResPadding: Int
        var inpaintingMaskInvert: Int

        enum CodingKeys: String, CodingKey {
            case mask
            case initImages = "init_images", resizeMode = "resize_mode", denoisingStrength = "denoising_strength"
            case maskBlur = "mask_blur", maskBlurX = "mask_blur_x", inpaintingFill = "inpainting_fill"
            case inpaintFullRes = "inpaint_full_res", inpaintFullResPadding = "inpaint_full_res_padding"
            case inpaintingMaskInvert = "inpainting_mask_invert"
        }

        init(from decoder: any Decoder) throws {
            base = try Txt2ImgRequest(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            initImages = try c.decodeIfPresent([String].self, forKey: .initImages) ?? []
            resizeMode = try c.decodeIfPresent(Int.self, forKey: .resizeMode) ?? 0
            denoisingStrength = try c.decodeIfPresent(Float.self, forKey: .denoisingStrength) ?? 0.75
            mask = try c.decodeIfPresent(String.self, forKey: .mask)
            // A1111 ≥ 1.6 splits the blur into x/y (Latent's blur is isotropic); `mask_blur` wins when both are sent.
            maskBlur = try c.decodeIfPresent(Int.self, forKey: .maskBlur) ?? c.decodeIfPresent(Int.self, forKey: .maskBlurX) ?? 4
            inpaintingFill = try c.decodeIfPresent(Int.self, forKey: .inpaintingFill) ?? 0
            inpaintFullRes = try Self.flag(c, .inpaintFullRes) ?? true
            inpaintFullResPadding = try c.decodeIfPresent(Int.self, forKey: .inpaintFullResPadding) ?? 0
            inpaintingMaskInvert = try Self.flag(c, .inpaintingMaskInvert).map { $0 ? 1 : 0 } ?? 0
        }

        /// A1111 clients send these as booleans or as 0/1.
        private static func flag(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Bool? {
            if let value = try? c.decodeIfPresent(Bool.self, forKey: key) { return value }
            return try c.decodeIfPresent(Int.self, forKey: key).map { $0 != 0 }
        }
    }

    /// Fields img2img honours beyond txt2img's.
    static let img2imgHonoured: Set<String> = honoured.union([
        "init_images", "resize_mode", "denoising_strength", "mask", "mask_blur", "mask_blur_x", "mask_blur_y",
        "inpainting_fill", "inpaint_full_res", "inpaint_full_res_padding", "inpainting_mask_invert",
    ])

    /// A1111's `resize_mode` numbers.
    static let resizeModes: [Int: ImageResizeMode] = [0: .justResize, 1: .crop, 2: .fill]
    /// A1111's `inpainting_fill` numbers.
    static let maskedContents: [Int: MaskedContent] = [0: .fill, 1: .original, 2: .latentNoise, 3: .latentNothing]

    @Sendable func img2img(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await RequestDecoding.body(of: request, limit: api.limits.maxBodyBytes)
        let input = try RequestDecoding.decode(Img2ImgRequest.self, from: body)
        let base = input.base
        let ignored = RequestDecoding.keys(of: body).subtracting(Self.img2imgHonoured).sorted()
        var notes: [String] = []
        guard let first = input.initImages.first else {
            throw ServerError.badRequest("field 'init_images': expected at least one base64 image")
        }
        if input.initImages.count > 1 { notes.append("only the first of \(input.initImages.count) init_images is used") }
        if base.batchSize < 1 || base.nIter < 1 { throw ServerError.badRequest("batch_size and n_iter must be at least 1") }
        let limits = api.limits
        let image = try EditInput.image(EditInput.base64(first, field: "init_images[0]", limits: limits), field: "init_images[0]", limits: limits)
        var resizeMode = Self.resizeModes[input.resizeMode]
        if resizeMode == nil {
            guard input.resizeMode == 3 else {
                throw ServerError.badRequest("field 'resize_mode': \(input.resizeMode) is not one of 0, 1, 2, 3")
            }
            notes.append("resize_mode 3 (Just resize (latent upscale)) is not supported; used 0 (Just resize)")
            resizeMode = .justResize
        }
        guard let maskedContent = Self.maskedContents[input.inpaintingFill] else {
            throw ServerError.badRequest("field 'inpainting_fill': \(input.inpaintingFill) is not one of 0 (fill), 1 (original), 2 (latent noise), 3 (latent nothing)")
        }
        var maskPNG: Data?
        if let maskText = input.mask {
            let decoded = try EditInput.image(EditInput.base64(maskText, field: "mask", limits: limits), field: "mask", limits: limits)
            let mask = try EditInput.fitted(EditInput.a1111Mask(decoded), to: image, field: "mask", allowScaled: true)
            try EditInput.checkNotEmpty(mask, inverted: input.inpaintingMaskInvert != 0, field: "mask")
            maskPNG = try EditInput.png(mask)
        }
        let size = try EditInput.defaultSize(width: base.width, height: base.height, image: image)
        let editing = EditingParameters(
            image: try EditInput.png(image), mask: maskPNG, strength: input.denoisingStrength, resizeMode: resizeMode ?? .justResize,
            maskBlur: max(input.maskBlur, 0), maskedContent: maskedContent, invertMask: input.inpaintingMaskInvert != 0,
            onlyMasked: input.inpaintFullRes, padding: max(input.inpaintFullResPadding, 0))
        try editing.check()
        let parameters = GenerationParameters(
            prompt: base.prompt, negativePrompt: base.negativePrompt, steps: base.steps, cfgScale: base.cfgScale,
            seed: base.seed, width: size.width, height: size.height,
            sampler: base.samplerName ?? base.samplerIndex ?? "Euler", scheduleType: base.scheduler,
            model: base.overrideSettings["sd_model_checkpoint"], imageCount: base.batchSize * base.nIter, editing: editing)
        let (job, images) = try await api.run(parameters, context: context)
        let settings: [String: Any] = [
            "denoising_strength": Double(input.denoisingStrength), "resize_mode": input.resizeMode,
            "mask_blur": input.maskBlur, "inpainting_fill": input.inpaintingFill, "inpaint_full_res": input.inpaintFullRes,
            "inpaint_full_res_padding": input.inpaintFullResPadding, "inpainting_mask_invert": input.inpaintingMaskInvert,
        ]
        var info = settings
        info["notes"] = notes
        info["is_inpainting"] = input.mask != nil
        return try respond(base, job: job, images: images, ignored: ignored, info: info, parameters: settings)
    }
}
