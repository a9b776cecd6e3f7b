import Foundation
import LatentCore
import LatentSchedulers
import Testing

/// Reference data dumped by tools/reference/dump_schedulers.py (diffusers 0.42.1).
enum SchedulerFixtures {
    /// `Tests/Fixtures/schedulers`, found by walking up from this file to the package root.
    static let directory: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("Tests/Fixtures/schedulers")
    }()

    static func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    struct Inputs: Decodable {
        let shape: [Int]
        let initialSample: [Float]
        let modelOutputs: [[Float]]
        let original: [Float]
        let noise: [Float]
        enum CodingKeys: String, CodingKey {
            case shape, original, noise
            case initialSample = "initial_sample", modelOutputs = "model_outputs"
        }
        func tensor(_ scalars: [Float]) -> Tensor { Tensor(shape: shape, scalars: scalars) }
    }

    struct AddNoise: Decodable {
        let stepIndex: Int
        let result: [Float]
        enum CodingKeys: String, CodingKey { case result; case stepIndex = "step_index" }
    }

    struct Trajectory: Decodable {
        let configName: String
        let steps: Int
        let timesteps: [Float]
        let sigmas: [Float]?
        let initNoiseSigma: Float
        let eta: Float?
        let addNoise: [AddNoise]
        let scaleFactors: [Float]
        let samples: [[Float]]
        let noises: [[Float]]
        enum CodingKeys: String, CodingKey {
            case steps, timesteps, sigmas, eta, samples, noises
            case configName = "config_name", initNoiseSigma = "init_noise_sigma", addNoise = "add_noise"
            case scaleFactors = "scale_factors"
        }
    }

    struct TrajectoryFile: Decodable {
        let kind: String
        let configs: [String: SchedulerConfiguration]
        let cases: [Trajectory]
    }

    struct TimestepCase: Decodable {
        let kind: String
        let configName: String
        let steps: Int
        let timesteps: [Float]
        let sigmas: [Float]?
        let initNoiseSigma: Float
        enum CodingKeys: String, CodingKey {
            case kind, steps, timesteps, sigmas
            case configName = "config_name", initNoiseSigma = "init_noise_sigma"
        }
    }

    struct TimestepFile: Decodable {
        let configs: [String: SchedulerConfiguration]
        let cases: [TimestepCase]
    }

    struct NoiseScheduleCase: Decodable {
        let name: String
        let config: SchedulerConfiguration
        let betas: [Float]
        let alphasCumprod: [Float]
        enum CodingKeys: String, CodingKey { case name, config, betas; case alphasCumprod = "alphas_cumprod" }
    }

    struct NoiseScheduleFile: Decodable { let cases: [NoiseScheduleCase] }
}

/// The largest element-wise relative difference, each relative to `max(|expected|, floor)`.
func maxRelativeError(_ actual: [Float], _ expected: [Float], floor: Float = 1e-6) -> Float {
    guard actual.count == expected.count else { return .infinity }
    var worst: Float = 0
    for (a, e) in zip(actual, expected) {
        let error = abs(a - e) / max(abs(e), floor)
        worst = error.isNaN ? .infinity : max(worst, error)
    }
    return worst
}

/// max |actual − expected| / max |expected|: relative error at the tensor's scale, so elements that happen
/// to be near zero do not dominate.
func tensorRelativeError(_ actual: [Float], _ expected: [Float]) -> Float {
    guard actual.count == expected.count else { return .infinity }
    let scale = expected.reduce(Float(0)) { max($0, abs($1)) }
    var difference: Float = 0
    for (a, e) in zip(actual, expected) {
        let d = abs(a - e)
        difference = d.isNaN ? .infinity : max(difference, d)
    }
    return difference / max(scale, .leastNormalMagnitude)
}

/// Replays recorded noise tensors in order, checking each request's shape.
final class ReplayRandomSource: RandomSource {
    private var queue: [Tensor]
    private(set) var draws = 0

    init(_ tensors: [Tensor]) { queue = tensors }

    var remaining: Int { queue.count }

    func normal(shape: [Int]) -> Tensor {
        draws += 1
        guard !queue.isEmpty else {
            Issue.record("scheduler drew noise #\(draws) but the reference drew only \(draws - 1)")
            return Tensor(repeating: 0, shape: shape)
        }
        let next = queue.removeFirst()
        #expect(next.shape == shape, "noise #\(draws) requested with shape \(shape), reference drew \(next.shape)")
        return next
    }
}
