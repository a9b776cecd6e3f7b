import LatentCore
import LatentImageIO
import LatentSchedulers

extension GenerationResult {
    /// Assembles a result from its parts, for callers that run the denoising loop themselves (the server's
    /// step-level batching) and still want `InfoText` and the other result-based helpers.
    /// - Parameters:
    ///   - image: The decoded image.
    ///   - latents: The final latents, `[1, 4, h, w]`.
    ///   - request: The validated request (size and seed resolved).
    ///   - scheduler: The scheduler that ran.
    /// - Returns: The result.
    public static func assembled(
        image: RGBImage, latents: Tensor, request: GenerationRequest, scheduler: SchedulerChoice
    ) -> GenerationResult {
        GenerationResult(image: image, latents: latents, request: request, scheduler: scheduler)
    }
}
