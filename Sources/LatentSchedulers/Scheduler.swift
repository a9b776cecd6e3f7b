import LatentCore

/// A denoising scheduler: the timesteps a generation visits and the update that moves the latent sample from one
/// to the next, given the denoiser's output.
///
/// A generation loop calls, for each `stepIndex` in `0 ..< timesteps.count` (in order):
/// `scaleModelInput` → model at `timesteps[stepIndex]` → `step`. The initial noise is scaled by
/// `initNoiseSigma` before the loop. Schedulers are value types built for one step count; multistep schedulers
/// keep their history in the value, so one instance drives one generation.
public protocol Scheduler: Sendable {
    /// The model timestep of each model call, in call order (PNDM repeats one; some spacings give `-1` last,
    /// exactly as diffusers does).
    var timesteps: [Float] { get }

    /// The factor the initial standard-normal latent is multiplied by.
    var initNoiseSigma: Float { get }

    /// Scales the sample before it is given to the model at `stepIndex` (identity for DDIM/PNDM).
    /// - Parameters:
    ///   - sample: The current latent `[B, C, H, W]`.
    ///   - stepIndex: Index into `timesteps`.
    /// - Returns: The model input, same shape.
    func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor

    /// Advances the sample by one model call.
    /// - Parameters:
    ///   - modelOutput: The model's prediction at `timesteps[stepIndex]` (noise, v or sample, per the
    ///     configuration's prediction type), same shape as `sample`.
    ///   - stepIndex: Index into `timesteps`; calls must come in order.
    ///   - sample: The current latent.
    ///   - random: Stochastic schedulers draw `random.normal(shape: modelOutput.shape)` exactly when diffusers
    ///     draws noise; deterministic ones never touch it.
    /// - Returns: The latent for the next call (after the last call: the denoised latent).
    /// - Throws: `SchedulerError.stepIndexOutOfRange` for an index outside `timesteps`.
    mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor

    /// Noises a clean latent to the level the schedule has at `stepIndex` (img2img / inpainting start).
    /// - Parameters:
    ///   - original: The clean latent `x₀`.
    ///   - noise: Standard-normal noise of the same shape.
    ///   - stepIndex: Index into `timesteps` of the first step that will be run.
    /// - Returns: The noisy latent, same shape.
    func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor
}
