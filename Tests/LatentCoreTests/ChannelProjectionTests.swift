import LatentCore
import LatentTesting
import Testing

/// The spatial transformer's `proj_in`/`proj_out` as GEMMs that change layout on the way, against a
/// double-precision loop over the definition.
@Suite("Channel projections")
struct ChannelProjectionTests {
    /// `[B, C, H, W]`, batch, channels, pixels: a shape on OpenBLAS and one large enough for oneDNN's GEMM.
    static let shapes: [[Int]] = [[2, 24, 5, 7], [2, 64, 64, 64]]

    static func weights(outputs: Int, inputs: Int, pointwise: Bool, half: Bool, random: TorchCPURandomSource) -> Tensor {
        let w = random.normal(shape: pointwise ? [outputs, inputs, 1, 1] : [outputs, inputs]) * 0.1
        return half ? Tensor(shape: w.shape, scalars: w.scalars.map { Float(Float16($0)) }) : w
    }

    @Test(arguments: shapes, [(true, false), (false, true), (true, true)])
    func channelsToTokensMatchesDefinition(shape: [Int], form: (pointwise: Bool, half: Bool)) {
        let random = TorchCPURandomSource(seed: 5)
        let (n, c, pixels, o) = (shape[0], shape[1], shape[2] * shape[3], shape[1] + 8)
        let x = random.normal(shape: shape)
        let w = Self.weights(outputs: o, inputs: c, pointwise: form.pointwise, half: form.half, random: random)
        let bias = random.normal(shape: [o])
        let y = projectChannelsToTokens(x, weights: CompactWeights(w), bias: bias)
        var expected = [Float](repeating: 0, count: n * pixels * o)
        for b in 0..<n { for t in 0..<pixels { for oc in 0..<o {
            var sum = Double(bias.scalars[oc])
            for ic in 0..<c { sum += Double(x.scalars[(b * c + ic) * pixels + t]) * Double(w.scalars[oc * c + ic]) }
            expected[(b * pixels + t) * o + oc] = Float(sum)
        } } }
        #expect(y.shape == [n, pixels, o])
        #expect(relativeError(y, Tensor(shape: [n, pixels, o], scalars: expected)) < 1e-6)
    }

    @Test(arguments: shapes, [(true, false), (false, true)])
    func tokensToChannelsMatchesDefinition(shape: [Int], form: (pointwise: Bool, half: Bool)) {
        let random = TorchCPURandomSource(seed: 6)
        let (n, c, height, width, o) = (shape[0], shape[1], shape[2], shape[3], shape[1] - 8)
        let pixels = height * width
        let tokens = random.normal(shape: [n, pixels, c])
        let w = Self.weights(outputs: o, inputs: c, pointwise: form.pointwise, half: form.half, random: random)
        let bias = random.normal(shape: [o])
        let residual = random.normal(shape: [n, o, height, width])
        let y = projectTokensToChannels(
            tokens, height: height, width: width, weights: CompactWeights(w), bias: bias, residual: residual)
        var expected = [Float](repeating: 0, count: n * o * pixels)
        for b in 0..<n { for oc in 0..<o { for t in 0..<pixels {
            var sum = Double(bias.scalars[oc]) + Double(residual.scalars[(b * o + oc) * pixels + t])
            for ic in 0..<c { sum += Double(tokens.scalars[(b * pixels + t) * c + ic]) * Double(w.scalars[oc * c + ic]) }
            expected[(b * o + oc) * pixels + t] = Float(sum)
        } } }
        #expect(y.shape == [n, o, height, width])
        #expect(relativeError(y, Tensor(shape: [n, o, height, width], scalars: expected)) < 1e-6)
    }
}
