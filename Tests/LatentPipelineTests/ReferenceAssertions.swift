import Foundation
import LatentCore
import LatentImageIO
import LatentTesting
import LatentWeights
import Testing

/// The parity check every dumped diffusers case gets: each step's latents within 1e-4 relative error of
/// `latents.step` in `tensors`, and the image ≥ 40 dB PSNR of `png`.
/// - Returns: The reference image, for callers that check its size.
@discardableResult
func expectMatchesReference(stepLatents: [Tensor], image: RGBImage, tensors: URL, png: URL) throws -> RGBImage {
    let reference = try SafeTensorsFile(contentsOf: tensors)
    let expectedSteps = try reference.load("latents.step")  // [steps, 1, 4, h, w]
    let perStep = expectedSteps.count / expectedSteps.shape[0]
    #expect(stepLatents.count == expectedSteps.shape[0])
    for (i, latents) in stepLatents.enumerated() where i < expectedSteps.shape[0] {
        let expected = Array(expectedSteps.scalars[(i * perStep)..<((i + 1) * perStep)])
        let error = relativeError(latents.scalars, expected)
        #expect(error < 1e-4, "step \(i + 1): relative error \(error)")
    }
    let (expectedImage, _) = try readImage(at: png)
    let quality = psnr(image.pixels, expectedImage.droppingAlpha().pixels)
    #expect(quality >= 40, "PSNR \(quality) dB")
    return expectedImage
}
