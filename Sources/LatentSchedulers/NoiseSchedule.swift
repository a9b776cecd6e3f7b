import Foundation

/// The training noise schedule: betas and their cumulative products ᾱ, computed in the precision diffusers uses
/// (float32 tensors; `cumprod` accumulating in double, as PyTorch's CPU kernel does).
///
/// Matches: the beta/ᾱ set-up shared by diffusers' schedulers (`__init__` of scheduling_ddim.py and siblings,
/// `betas_for_alpha_bar`, `rescale_zero_terminal_snr`, diffusers 0.42.1).
public struct NoiseSchedule: Sendable, Equatable {
    /// βₜ for t in `0 ..< trainTimesteps`.
    public let betas: [Float]
    /// ᾱₜ = ∏ₛ≤ₜ (1 − βₛ).
    public private(set) var alphasCumprod: [Float]

    /// The number of training timesteps.
    public var trainTimesteps: Int { alphasCumprod.count }

    /// Builds the schedule a diffusers scheduler class would build from `configuration`.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take diffusers' common defaults
    ///     (1000 steps, linear 0.0001 … 0.02).
    ///   - allowsZeroSNRRescale: Whether the class accepts `rescale_betas_zero_snr` (PNDM does not).
    /// - Throws: `SchedulerError.invalidValue` for an unknown `beta_schedule`, `.invalidConfiguration` for a bad
    ///   `trained_betas` list.
    public init(configuration: SchedulerConfiguration, allowsZeroSNRRescale: Bool) throws {
        let count = configuration.numTrainTimesteps ?? 1000
        guard count >= 2 else { throw SchedulerError.invalidConfiguration("num_train_timesteps \(count) must be at least 2") }
        var betas: [Float]
        if let trained = configuration.trainedBetas {
            guard trained.count == count else {
                throw SchedulerError.invalidConfiguration("trained_betas has \(trained.count) values for num_train_timesteps \(count)")
            }
            betas = trained.map { Float($0) }
        } else {
            let start = configuration.betaStart ?? 0.0001, end = configuration.betaEnd ?? 0.02
            switch try BetaSchedule.parse(configuration.betaSchedule, key: "beta_schedule", default: .linear) {
            case .linear:
                betas = Self.torchLinspace(start, end, count: count)
            case .scaledLinear:
                betas = Self.torchLinspace(start.squareRoot(), end.squareRoot(), count: count).map { $0 * $0 }
            case .squaredcosCapV2:
                betas = Self.cosineBetas(count: count)
            }
        }
        if allowsZeroSNRRescale, configuration.rescaleBetasZeroSnr ?? false {
            betas = Self.rescaleZeroTerminalSNR(betas)
        }
        self.betas = betas
        self.alphasCumprod = Self.cumulativeProduct(betas.map { 1 - $0 })
    }

    /// ᾱ at a training timestep, indexing from the end for negative timesteps as Python does (diffusers' trailing
    /// spacing can schedule timestep −1).
    public func alphaCumprod(at timestep: Int) -> Float {
        alphasCumprod[timestep < 0 ? timestep + alphasCumprod.count : timestep]
    }

    /// Overrides the last ᾱ; Euler schedulers set it to 2⁻²⁴ after a zero-SNR rescale so σ stays finite.
    mutating func setLastAlphaCumprod(_ value: Float) {
        alphasCumprod[alphasCumprod.count - 1] = value
    }

    /// σₜ = √((1 − ᾱₜ) / ᾱₜ) for every training timestep, in float32 (ascending in t).
    public var sigmas: [Float] {
        alphasCumprod.map { ((1 - $0) / $0).squareRoot() }
    }
}

// MARK: - Pure helpers reproducing the reference's arithmetic

extension NoiseSchedule {
    /// `torch.linspace(start, end, count, dtype=float32)`: float32 endpoints and step, each value one fused
    /// multiply-add from the nearer end (PyTorch's CPU kernel, which the compiler contracts to FMA).
    public static func torchLinspace(_ start: Double, _ end: Double, count: Int) -> [Float] {
        let a = Float(start), b = Float(end)
        guard count > 1 else { return count == 1 ? [a] : [] }
        let step = (b - a) / Float(count - 1)
        let halfway = count / 2
        return (0..<count).map { i in
            i < halfway ? a.addingProduct(step, Float(i)) : b.addingProduct(-step, Float(count - 1 - i))
        }
    }

    /// Betas of the `squaredcos_cap_v2` schedule: ᾱ(t) = cos²((t + 0.008) / 1.008 · π/2), β capped at 0.999,
    /// computed in double and stored as float32.
    public static func cosineBetas(count: Int, maxBeta: Double = 0.999) -> [Float] {
        func alphaBar(_ t: Double) -> Double {
            let c = cos((t + 0.008) / 1.008 * Double.pi / 2)
            return c * c
        }
        return (0..<count).map { i in
            let t1 = Double(i) / Double(count), t2 = Double(i + 1) / Double(count)
            return Float(min(1 - alphaBar(t2) / alphaBar(t1), maxBeta))
        }
    }

    /// Rescales betas so the last timestep has zero SNR (Lin et al. 2023, "Common Diffusion Noise Schedules and
    /// Sample Steps are Flawed", Algorithm 1), in float32.
    public static func rescaleZeroTerminalSNR(_ betas: [Float]) -> [Float] {
        var root = cumulativeProduct(betas.map { 1 - $0 }).map { $0.squareRoot() }
        guard let first = root.first, let last = root.last else { return betas }
        let scale = first / (first - last)
        root = root.map { ($0 - last) * scale }
        let alphaBar = root.map { $0 * $0 }
        var alphas = [alphaBar[0]]
        for i in 1..<alphaBar.count { alphas.append(alphaBar[i] / alphaBar[i - 1]) }
        return alphas.map { 1 - $0 }
    }

    /// Running product in double, rounded to float32 per element (PyTorch's CPU `cumprod` for float32).
    public static func cumulativeProduct(_ values: [Float]) -> [Float] {
        var product = 1.0
        return values.map { value in
            product *= Double(value)
            return Float(product)
        }
    }

    /// `numpy.linspace(start, stop, count)` in double: `i · step + start`, the last value exactly `stop`.
    public static func numpyLinspace(_ start: Double, _ stop: Double, count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { Double($0) * step + start }
        values[count - 1] = stop
        return values
    }

    /// `numpy.arange(start, stop, step)` for doubles: the length is `ceil((stop − start) / step)` and values are
    /// `start + i · δ` with δ = (start + step) − start, which is why it can yield one value more than expected.
    public static func numpyArange(_ start: Double, _ stop: Double, step: Double) -> [Double] {
        let length = Int(max(0, ((stop - start) / step).rounded(.up)))
        guard length > 0 else { return [] }
        let delta = (start + step) - start
        return (0..<length).map { $0 == 0 ? start : start + Double($0) * delta }
    }

    /// `numpy.interp(x, arange(table.count), table)` in double, clamping outside the table.
    public static func interpolate(_ x: Double, table: [Float]) -> Double {
        guard let first = table.first, let last = table.last else { return .nan }
        if x <= 0 { return Double(first) }
        if x >= Double(table.count - 1) { return Double(last) }
        let j = Int(x.rounded(.down))
        if Double(j) == x { return Double(table[j]) }
        // Unit spacing between table entries: the slope is the plain difference.
        let slope = Double(table[j + 1]) - Double(table[j])
        return slope * (x - Double(j)) + Double(table[j])
    }

    /// Inference timesteps in descending order, before the per-class rounding and casting.
    ///
    /// `linspace` values are unrounded (DDIM/PNDM round them, Euler keeps them); `trailing` values are rounded
    /// but not yet shifted by −1; `leading` values include `steps_offset`.
    /// - Parameters:
    ///   - spacing: The timestep spacing.
    ///   - count: Inference steps n.
    ///   - trainTimesteps: Training steps T.
    ///   - stepsOffset: Added to `leading` timesteps.
    public static func spacedTimesteps(_ spacing: TimestepSpacing, count: Int, trainTimesteps: Int, stepsOffset: Int) -> [Double] {
        switch spacing {
        case .linspace:
            return numpyLinspace(0, Double(trainTimesteps - 1), count: count).reversed()
        case .leading:
            let ratio = trainTimesteps / count
            return (0..<count).reversed().map { Double($0 * ratio + stepsOffset) }
        case .trailing:
            let ratio = Double(trainTimesteps) / Double(count)
            return numpyArange(Double(trainTimesteps), 0, step: -ratio).map { $0.rounded(.toNearestOrEven) }
        }
    }

    /// Karras et al. 2022 sigmas: evenly spaced in σ^(1/ρ) from `sigmaMax` down to `sigmaMin`, ρ = 7 (double).
    public static func karrasSigmas(sigmaMin: Double, sigmaMax: Double, count: Int, rho: Double = 7) -> [Double] {
        let minInv = pow(sigmaMin, 1 / rho), maxInv = pow(sigmaMax, 1 / rho)
        return numpyLinspace(0, 1, count: count).map { pow(maxInv + $0 * (minInv - maxInv), rho) }
    }

    /// Sigmas evenly spaced in log σ from `sigmaMax` down to `sigmaMin` (double).
    public static func exponentialSigmas(sigmaMin: Double, sigmaMax: Double, count: Int) -> [Double] {
        numpyLinspace(log(sigmaMax), log(sigmaMin), count: count).map { exp($0) }
    }

    /// The fractional training timestep whose σ is `sigma`, interpolating linearly in log σ between the two
    /// neighbouring training sigmas (`_sigma_to_t`).
    /// - Parameters:
    ///   - sigma: The sigma to place.
    ///   - logSigmas: log σₜ of the training schedule (float32, ascending).
    public static func timestep(forSigma sigma: Double, logSigmas: [Float]) -> Double {
        let logSigma = log(max(sigma, 1e-10))
        // The last training index whose log σ does not exceed this one (0 when none), kept below the end.
        var low = 0
        for (i, value) in logSigmas.enumerated() where logSigma - Double(value) >= 0 { low = i }
        low = min(low, logSigmas.count - 2)
        let lowValue = Double(logSigmas[low]), highValue = Double(logSigmas[low + 1])
        let w = min(max((lowValue - logSigma) / (lowValue - highValue), 0), 1)
        return (1 - w) * Double(low) + w * Double(low + 1)
    }
}
