import Foundation
import LatentCore
import LatentPipeline
import LatentTesting
import Testing

/// Editing behaviour beyond diffusers parity: overlay, options, errors, outpainting.
@Suite("Image editing behaviour")
struct EditingBehaviourTests {
    static func image(_ name: String) throws -> RGBImage { try readImage(at: EditingCase.fixture(name)).image }
    static func mask(_ name: String) throws -> MaskImage { MaskImage(luminanceOf: try image(name)) }
    static let generation = GenerationRequest(prompt: "a red cube", stepCount: 3, guidanceScale: 7.5, seed: 5, scheduler: .init(.ddim))

    /// With the overlay, every pixel the (binarised) mask keeps is the original's, for both model kinds.
    @Test(arguments: ["models/sd15-tiny", "models/sd15-inpaint-tiny"])
    func overlayKeepsUnmaskedPixels(_ model: String) async throws {
        let pipeline = try await PipelineCache.shared.pipeline("Tests/Fixtures/\(model)")
        let original = try Self.image("init-64x64.png"), mask = try Self.mask("mask-64x64.png")
        let request = ImageEditingRequest(generation: Self.generation, image: original, inpainting: InpaintingOptions(mask: mask))
        let result = try pipeline.edit(request)
        var changed = 0
        for i in 0..<(64 * 64) {
            if mask.values[i] == 0 { #expect(result.image.pixels[(i * 3)..<(i * 3 + 3)] == original.pixels[(i * 3)..<(i * 3 + 3)]) }
            if mask.values[i] == 255 && result.image.pixels[i * 3] != original.pixels[i * 3] { changed += 1 }
        }
        #expect(changed > 100)
    }

    /// "Only masked" generates a crop and pastes it back: pixels outside the crop region are untouched, the
    /// output has the original's size even when it is not a multiple of 8.
    @Test func onlyMaskedPastesBack() async throws {
        let pipeline = try await PipelineCache.shared.pipeline("Tests/Fixtures/models/sd15-inpaint-tiny")
        let original = try Self.image("init-70x69.png")
        var values = [UInt8](repeating: 0, count: 70 * 69)
        for y in 30..<40 { for x in 10..<25 { values[y * 70 + x] = 255 } }
        let mask = MaskImage(width: 70, height: 69, values: values)
        var generation = Self.generation
        generation.width = 64
        generation.height = 64
        let options = InpaintingOptions(mask: mask, blur: 2, onlyMasked: true, padding: 4, maskedContent: .fill)
        let result = try pipeline.edit(ImageEditingRequest(generation: generation, image: original, strength: 0.9, inpainting: options))
        #expect(result.image.width == 70 && result.image.height == 69)
        let region = try #require(mask.blurred(radius: 2).cropRegion(width: 64, height: 64, padding: 4))
        var inside = 0
        for y in 0..<69 {
            for x in 0..<70 {
                let i = (y * 70 + x) * 3
                let same = result.image.pixels[i..<(i + 3)] == original.pixels[i..<(i + 3)]
                if !(region.x0..<region.x1).contains(x) || !(region.y0..<region.y1).contains(y) { #expect(same) } else if !same { inside += 1 }
            }
        }
        #expect(inside > 50)
    }

    /// Latent noise / nothing change the result; inversion repaints the other side.
    @Test func optionsChangeTheResult() async throws {
        let pipeline = try await PipelineCache.shared.pipeline("Tests/Fixtures/models/sd15-tiny")
        let original = try Self.image("init-64x64.png"), mask = try Self.mask("mask-64x64.png")
        func run(_ options: InpaintingOptions) throws -> RGBImage {
            try pipeline.edit(ImageEditingRequest(generation: Self.generation, image: original, strength: 0.7, inpainting: options)).image
        }
        let base = try run(InpaintingOptions(mask: mask))
        let noise = try run(InpaintingOptions(mask: mask, maskedContent: .latentNoise))
        let nothing = try run(InpaintingOptions(mask: mask, maskedContent: .latentNothing))
        #expect(base != noise && base != nothing && noise != nothing)
        let inverted = try run(InpaintingOptions(mask: mask, inverted: true))
        // Inverted: the former mask area (255) is kept exactly.
        let kept = (0..<(64 * 64)).filter { mask.values[$0] == 255 }
        #expect(!kept.isEmpty)
        #expect(kept.allSatisfy { inverted.pixels[$0 * 3] == original.pixels[$0 * 3] })
    }

    /// Outpainting: the canvas grows, the original survives outside the blend seam.
    @Test func outpaintingKeepsOriginal() async throws {
        let pipeline = try await PipelineCache.shared.pipeline("Tests/Fixtures/models/sd15-inpaint-tiny")
        let original = try Self.image("init-64x64.png")
        let (canvas, mask, _) = try ImageEditing.outpaintingCanvas(original, left: 16, right: 0, top: 8, bottom: 0)
        let blur = 4
        let options = InpaintingOptions(mask: mask, blur: blur, maskedContent: .fill)
        let result = try pipeline.edit(ImageEditingRequest(generation: Self.generation, image: canvas, inpainting: options))
        #expect(result.image.width == 80 && result.image.height == 72)
        let seam = Int(2.5 * Double(blur) + 0.5) + 1
        for y in (8 + seam)..<72 {
            for x in (16 + seam)..<80 {
                let r = (y * 80 + x) * 3, o = ((y - 8) * 64 + x - 16) * 3
                for c in 0..<3 { #expect(abs(Int(result.image.pixels[r + c]) - Int(original.pixels[o + c])) <= 1) }
            }
        }
    }

    /// Bad input: clear errors before any compute.
    @Test func badInputIsRefused() async throws {
        let pipeline = try await PipelineCache.shared.pipeline("Tests/Fixtures/models/sd15-tiny")
        let inpainting = try await PipelineCache.shared.pipeline("Tests/Fixtures/models/sd15-inpaint-tiny")
        let original = try Self.image("init-64x64.png")
        for strength: Float in [0, -0.5, 1.5, .nan] {
            #expect(throws: ImageEditingError.self) {
                try pipeline.edit(ImageEditingRequest(generation: Self.generation, image: original, strength: strength))
            }
        }
        #expect(throws: ImageEditingError.noStepsLeft(strength: 0.2, steps: 3)) {
            try pipeline.edit(ImageEditingRequest(generation: Self.generation, image: original, strength: 0.2))
        }
        let small = MaskImage(width: 32, height: 32, values: [UInt8](repeating: 255, count: 1024))
        #expect(throws: ImageEditingError.maskSizeMismatch(maskWidth: 32, maskHeight: 32, imageWidth: 64, imageHeight: 64)) {
            try pipeline.edit(ImageEditingRequest(generation: Self.generation, image: original, inpainting: InpaintingOptions(mask: small)))
        }
        let black = MaskImage(width: 64, height: 64, values: [UInt8](repeating: 0, count: 4096))
        #expect(throws: ImageEditingError.emptyMask) {
            try pipeline.edit(ImageEditingRequest(generation: Self.generation, image: original, inpainting: InpaintingOptions(mask: black)))
        }
        #expect(throws: ImageEditingError.inpaintingModelNeedsMask) {
            try inpainting.edit(ImageEditingRequest(generation: Self.generation, image: original))
        }
        #expect(throws: ImageEditingError.inpaintingModelNeedsMask) {
            try inpainting.generate(GenerationRequest(prompt: "x", stepCount: 2, width: 64, height: 64))
        }
    }
}
