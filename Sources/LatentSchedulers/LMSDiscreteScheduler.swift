import Foundation
import LatentCore

/// Linear multistep sampling in σ: each step integrates the Lagrange polynomial through the last (up to four)
/// derivatives dx/dσ over the step's σ interval (A1111's "LMS").
///
/// Matches: diffusers `LMSDiscreteScheduler` (scheduling_lms_discrete.py, diffusers 0.42.1) with `step`'s default
/// order 4. diffusers integrates the coefficients with scipy's `quad`; the integrand is a polynomial of degree
/// below the order, so a Gauss–Legendre rule of enough points gives them exactly (to rounding).
/// Paper: Karras, Aittala, Aila & Laine, "Elucidating the Design Space of Diffusion-Based Generative Models"
/// (NeurIPS 2022), arXiv:2206.00364, as Crowson's k-diffusion `sample_lms` implements it.
public struct LMSDiscreteScheduler: Scheduler {
    /// The training schedule.
    public let schedule: NoiseSchedule
    /// What the model predicts.
    public let predictionType: PredictionType
    /// The multistep order (number of derivatives combined), 4 as diffusers' `step` defaults to.
    public let order: Int
    /// σ of each model call, followed by 0.
    public let sigmas: [Float]
    public let timesteps: [Float]
    public let initNoiseSigma: Float
    /// The coefficients of each step, newest derivative first, rounded to float32 as torch applies them.
    public let coefficients: [[Float]]
    /// dx/dσ of the most recent steps, oldest first (at most `order`).
    private var derivatives: [Tensor] = []

    /// Builds the scheduler diffusers' `LMSDiscreteScheduler.from_config(configuration)` + `set_timesteps(stepCount)`
    /// gives.
    /// - Parameters:
    ///   - configuration: The model's scheduler configuration; absent keys take LMS's defaults (linear betas
    ///     0.0001 … 0.02, `linspace` spacing).
    ///   - stepCount: Inference steps, 1 … `num_train_timesteps`.
    ///   - order: The multistep order, at least 1.
    /// - Throws: `SchedulerError` for an unknown value, conflicting sigma options, beta sigmas or a bad step count.
    public init(configuration: SchedulerConfiguration, stepCount: Int, order: Int = 4) throws {
        schedule = try NoiseSchedule.checked(configuration: configuration, stepCount: stepCount, allowsZeroSNRRescale: false)
        guard order >= 1 else { throw SchedulerError.invalidConfiguration("LMS order \(order) must be at least 1") }
        predictionType = try PredictionType.parse(configuration.predictionType, key: "prediction_type", default: .epsilon)
        self.order = order
        // LMS's Karras conversion ignores configured bounds; its exponential one reads them.
        let base = try DiscreteSigmaSchedule(configuration: configuration, schedule: schedule, stepCount: stepCount,
                                             honoursBounds: .init(karras: false, exponential: true))
        timesteps = base.timesteps
        sigmas = base.sigmas
        initNoiseSigma = base.initNoiseSigma(for: base.sigmas)
        let sigmas = base.sigmas.map { Double($0) }
        coefficients = (0..<stepCount).map { index in
            let stepOrder = min(index + 1, order)
            return (0..<stepOrder).map { current in
                Float(Self.coefficient(sigmas: sigmas, order: stepOrder, index: index, current: current))
            }
        }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return SigmaSampling.scaledInput(sample, sigma: sigma)
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: any RandomSource) throws -> Tensor {
        try SigmaSampling.checkStepIndex(stepIndex, count: timesteps.count)
        let sigma = sigmas[stepIndex]
        let predictedOriginal = eulerPredictedOriginal(modelOutput: modelOutput, sample: sample, sigma: sigma,
                                                      prediction: predictionType)
        derivatives.append(sample.zip(predictedOriginal) { (x, x0) in (x - x0) / sigma })
        if derivatives.count > order { derivatives.removeFirst() }
        // Σ cₖ·dₖ accumulated newest first, as diffusers' `sum` over the reversed history does.
        var total: Tensor?
        for (coefficient, derivative) in zip(coefficients[stepIndex], derivatives.reversed()) {
            let term = derivative * coefficient
            total = total.map { $0 + term } ?? term
        }
        guard let total else { return sample }
        return sample + total
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return original.zip(noise) { (x, z) in x + z * sigma }
    }

    /// ∫ from σᵢ to σᵢ₊₁ of the Lagrange basis polynomial that is 1 at σ_{i−current} and 0 at the other
    /// σ_{i−k}, k < order (`get_lms_coefficient`), in double.
    /// - Parameters:
    ///   - sigmas: The step sigmas, final 0 included.
    ///   - order: The number of interpolation points, at most `index + 1`.
    ///   - index: The step i.
    ///   - current: Which point's basis polynomial, 0 being σᵢ itself.
    /// - Returns: The coefficient of the derivative taken at σ_{i−current}.
    public static func coefficient(sigmas: [Double], order: Int, index: Int, current: Int) -> Double {
        let basis: (Double) -> Double = { tau in
            var product = 1.0
            for k in 0..<order where k != current {
                product *= (tau - sigmas[index - k]) / (sigmas[index - current] - sigmas[index - k])
            }
            return product
        }
        return GaussLegendre.integrate(basis, from: sigmas[index], to: sigmas[index + 1])
    }
}

/// Gauss–Legendre quadrature: exact for polynomials of degree below 2·`pointCount`.
enum GaussLegendre {
    /// Points used; exact for LMS's integrands (degree < order ≤ 16).
    static let pointCount = 16
    /// Nodes and weights on [−1, 1].
    static let rule: [(node: Double, weight: Double)] = makeRule(pointCount)

    /// ∫ₐᵇ f.
    static func integrate(_ f: (Double) -> Double, from a: Double, to b: Double) -> Double {
        let half = (b - a) / 2, middle = (a + b) / 2
        var sum = 0.0
        for (node, weight) in rule { sum += weight * f(middle + half * node) }
        return sum * half
    }

    /// The n-point rule: nodes are the roots of Pₙ, found by Newton's method from Chebyshev-like guesses,
    /// weights 2 / ((1 − x²)·Pₙ′(x)²).
    static func makeRule(_ n: Int) -> [(node: Double, weight: Double)] {
        (0..<n).map { i in
            var x = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
            var derivative = 0.0
            for _ in 0..<100 {
                // P₀ … Pₙ by the three-term recurrence (p1 = Pₙ, p0 = Pₙ₋₁), then Pₙ′ from them.
                var p0 = 1.0, p1 = x
                if n >= 2 {
                    for k in 2...n {
                        let p2 = (Double(2 * k - 1) * x * p1 - Double(k - 1) * p0) / Double(k)
                        p0 = p1
                        p1 = p2
                    }
                }
                derivative = Double(n) * (x * p1 - p0) / (x * x - 1)
                let delta = p1 / derivative
                x -= delta
                if abs(delta) < 1e-16 { break }
            }
            return (x, 2 / ((1 - x * x) * derivative * derivative))
        }
    }
}
