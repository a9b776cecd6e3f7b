/// Caps on what one request may ask for; a request over a cap gets a 4xx naming the cap and its flag.
public struct ServerLimits: Sendable, Equatable {
    /// Largest width × height.
    public var maxPixels: Int
    /// Most denoising steps.
    public var maxSteps: Int
    /// Most images per request.
    public var maxImages: Int
    /// Largest request body in bytes.
    public var maxBodyBytes: Int
    /// Largest input image (init image or mask) in encoded bytes, after base64 decoding.
    public var maxImageBytes: Int
    /// Largest input image in pixels (it is resized to the output size, which `maxPixels` caps).
    public var maxInputPixels: Int

    /// Creates limits; the defaults fit SD 1.x at 768×768 on a CPU.
    public init(
        maxPixels: Int = 1024 * 1024, maxSteps: Int = 150, maxImages: Int = 4, maxBodyBytes: Int = 4 << 20,
        maxImageBytes: Int = 4 << 20, maxInputPixels: Int = 4096 * 4096
    ) {
        self.maxImageBytes = maxImageBytes
        self.maxInputPixels = maxInputPixels
        self.maxPixels = maxPixels
        self.maxSteps = maxSteps
        self.maxImages = maxImages
        self.maxBodyBytes = maxBodyBytes
    }

    /// Checks the request-independent caps.
    /// - Throws: `ServerError.limitExceeded` naming the first cap exceeded.
    func check(_ parameters: GenerationParameters) throws {
        if parameters.steps > maxSteps {
            throw ServerError.limitExceeded("steps \(parameters.steps) exceeds the server limit --max-steps \(maxSteps)")
        }
        if let width = parameters.width, let height = parameters.height, width > 0, height > 0,
            width.multipliedReportingOverflow(by: height).overflow || width * height > maxPixels
        {
            throw ServerError.limitExceeded(
                "image size \(width)x\(height) exceeds the server limit --max-pixels \(maxPixels) (width × height)")
        }
        if parameters.imageCount > maxImages {
            throw ServerError.limitExceeded(
                "\(parameters.imageCount) images per request exceeds the server limit of \(maxImages)")
        }
        if parameters.imageCount < 1 {
            throw ServerError.badRequest("image count must be at least 1, got \(parameters.imageCount)")
        }
    }
}
