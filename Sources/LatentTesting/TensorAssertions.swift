import Foundation
import LatentCore

/// Relative error `‖actual − expected‖ / ‖expected‖`, accumulated in double.
/// - Returns: `.infinity` when the shapes differ.
public func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
    guard actual.shape == expected.shape else { return .infinity }
    return relativeError(actual.scalars, expected.scalars)
}

/// Relative error of two equally long float arrays.
public func relativeError(_ actual: [Float], _ expected: [Float]) -> Double {
    guard actual.count == expected.count else { return .infinity }
    var difference = 0.0, reference = 0.0
    for i in actual.indices {
        let d = Double(actual[i]) - Double(expected[i])
        difference += d * d
        reference += Double(expected[i]) * Double(expected[i])
    }
    if reference == 0 { return difference == 0 ? 0 : .infinity }
    return (difference / reference).squareRoot()
}

/// Peak signal-to-noise ratio of two 8-bit images in dB (`.infinity` when identical).
public func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return -.infinity }
    var sum = 0.0
    for i in a.indices {
        let d = Double(a[i]) - Double(b[i])
        sum += d * d
    }
    if sum == 0 { return .infinity }
    return 10 * log10(255 * 255 / (sum / Double(a.count)))
}
