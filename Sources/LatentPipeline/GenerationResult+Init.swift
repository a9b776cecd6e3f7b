import LatentCore
import LatentImageIO
import LatentSchedulers

extension GenerationResult {
    /// Creates a result from its parts, for callers that run the denoising loop themselves (the server's
    /// step-level batching) and still want `InfoText` and the other result-based helpers.
    /// - Parameters:
    ///   - image: The decoded image.
    ///   - latents: The final latents, `[1, 4, h, w]`.
    ///   - request: The validated request (size and seed resolved).
    ///   - scheduler: The scheduler that ran.
    public init(image: RGBImage, latents: Tensor, request: GenerationRequest, scheduler: SchedulerChoice) {
        self.image = image
        self.latents = latents
        self.request = request
        self.scheduler = scheduler
    }
}
