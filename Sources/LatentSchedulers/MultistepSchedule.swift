import Foundation
import LatentCore

/// The timesteps and σ grid shared by diffusers' exponential-integrator multistep solvers.
///
/// Matches: `set_timesteps` of diffusers `UniPCMultistepScheduler` (scheduling_unipc_multistep.py) and
/// `DEISMultistepScheduler` (scheduling_deis_multistep.py), diffusers 0.42.1: their own spacing (n + 1 points with
/// the last dropped, unlike DDIM/Euler), integer timesteps, σ in float32 with one entry more than timesteps.
struct MultistepSchedule: Sendable, Equatable {
    /// The integer training timestep of each model call.
    let trainingTimesteps: [Int]
    /// σ of each call followed by the σ after the last call.
    let sigmas: [Float]

    /// - Parameters:
    ///   - schedule: The training schedule.
    ///   - spacing: `timestep_spacing`.
    ///   - stepsOffset: `steps_offset` (leading spacing only).
    ///   - stepCount: Inference steps n.
    ///   - variant: The sigma schedule (`use_karras_sigmas` / `use_exponential_sigmas`).
    ///   - sigmaBounds: `sigma_min` / `sigma_max` overrides for the Karras / exponential ramps.
    ///   - finalZero: Whether the σ after the last call is 0 (UniPC's `final_sigmas_type` "zero"); otherwise the
    ///     standard grid ends at σ of training step 0 and the Karras / exponential grids repeat their last σ.
    init(schedule: NoiseSchedule, spacing: TimestepSpacing, stepsOffset: Int, stepCount: Int,
         variant: SigmaScheduleVariant, sigmaBounds: (min: Double?, max: Double?), finalZero: Bool) {
        let trainCount = schedule.trainTimesteps
        var timesteps: [Int]
        switch spacing {
        case .linspace:
            timesteps = NoiseSchedule.numpyLinspace(0, Double(trainCount - 1), count: stepCount + 1)
                .map { Int($0.rounded(.toNearestOrEven)) }.reversed().dropLast()
        case .leading:
            let ratio = trainCount / (stepCount + 1)
            timesteps = (1...stepCount).reversed().map { $0 * ratio + stepsOffset }
        case .trailing:
            timesteps = NoiseSchedule.spacedTimesteps(.trailing, count: stepCount, trainTimesteps: trainCount, stepsOffset: 0)
                .map { Int($0) - 1 }
        }
        let table = schedule.sigmas  // float32, ascending in t
        switch variant {
        case .standard:
            let last: Float = finalZero ? 0 : table[0]
            // np.interp clamps outside the table (trailing spacing can schedule timestep −1).
            sigmas = timesteps.map { table[min(max($0, 0), trainCount - 1)] } + [last]
        case .karras, .exponential:
            let count = timesteps.count
            let sigmaMin = sigmaBounds.min ?? Double(table[0])
            let sigmaMax = sigmaBounds.max ?? Double(table[trainCount - 1])
            let ramp = variant == .karras
                ? NoiseSchedule.karrasSigmas(sigmaMin: sigmaMin, sigmaMax: sigmaMax, count: count)
                : NoiseSchedule.exponentialSigmas(sigmaMin: sigmaMin, sigmaMax: sigmaMax, count: count)
            let logSigmas = table.map { logf($0) }
            let fractional = ramp.map { NoiseSchedule.timestep(forSigma: $0, logSigmas: logSigmas) }
            // Karras timesteps are rounded; exponential ones are only cast to int64, which truncates.
            timesteps = fractional.map { variant == .karras ? Int($0.rounded(.toNearestOrEven)) : Int($0) }
            let last = finalZero ? 0 : ramp[ramp.count - 1]
            sigmas = (ramp + [last]).map { Float($0) }
        }
        trainingTimesteps = timesteps
    }

    /// The sigma schedule selected by the configuration's flags.
    /// - Throws: `SchedulerError` for beta or flow sigmas, or for more than one flag.
    static func variant(of configuration: SchedulerConfiguration) throws -> SigmaScheduleVariant {
        if configuration.useBetaSigmas ?? false { throw SchedulerError.unsupportedOption("use_beta_sigmas") }
        if configuration.useFlowSigmas ?? false { throw SchedulerError.unsupportedOption("use_flow_sigmas") }
        let karras = configuration.useKarrasSigmas ?? false, exponential = configuration.useExponentialSigmas ?? false
        if karras && exponential {
            throw SchedulerError.invalidConfiguration("only one of use_karras_sigmas and use_exponential_sigmas can be set")
        }
        return karras ? .karras : exponential ? .exponential : .standard
    }
}

/// The variance-preserving pair (α, σ) of a k-diffusion σ: α = 1/√(σ² + 1), σ_vp = σ·α, in float32 as diffusers'
/// `_sigma_to_alpha_sigma_t` computes it on 0-d tensors.
func vpAlphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
    let alpha = 1 / (sigma * sigma + 1).squareRoot()
    return (alpha, sigma * alpha)
}

/// The half log-SNR λ = log α − log σ (+∞ at σ = 0).
func vpLambda(_ sigma: Float) -> Float {
    let (alpha, vpSigma) = vpAlphaSigma(sigma)
    return logf(alpha) - logf(vpSigma)
}

/// Solves the small dense system `matrix · x = rhs` by Gaussian elimination with partial pivoting in float32,
/// the LU factorisation `torch.linalg.solve` runs (LAPACK `sgesv`).
/// - Parameters:
///   - matrix: Row-major n × n.
///   - rhs: n values.
/// - Returns: x.
func solveLinearSystem(_ matrix: [[Float]], _ rhs: [Float]) -> [Float] {
    let n = rhs.count
    var a = matrix, b = rhs
    for column in 0..<n {
        var pivot = column
        for row in (column + 1)..<max(n, column + 1) where abs(a[row][column]) > abs(a[pivot][column]) { pivot = row }
        if pivot != column {
            a.swapAt(pivot, column)
            b.swapAt(pivot, column)
        }
        for row in (column + 1)..<max(n, column + 1) {
            let factor = a[row][column] / a[column][column]
            for k in column..<n { a[row][k] -= factor * a[column][k] }
            b[row] -= factor * b[column]
        }
    }
    var x = [Float](repeating: 0, count: n)
    for row in stride(from: n - 1, through: 0, by: -1) {
        var sum = b[row]
        for k in (row + 1)..<max(n, row + 1) { sum -= a[row][k] * x[k] }
        x[row] = sum / a[row][row]
    }
    return x
}

/// x̂₀ from the model output for the VP-parameterised solvers (`convert_model_output` with `predict_x0`).
func vpPredictedOriginal(modelOutput: Tensor, sample: Tensor, alpha: Float, sigma: Float, prediction: PredictionType) -> Tensor {
    switch prediction {
    case .epsilon: sample.zip(modelOutput) { (x, e) in (x - sigma * e) / alpha }
    case .sample: modelOutput
    case .vPrediction: sample.zip(modelOutput) { (x, v) in alpha * x - sigma * v }
    }
}
