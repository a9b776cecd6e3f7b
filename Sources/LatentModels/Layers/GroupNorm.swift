import LatentCore
import LatentWeights

/// Group normalisation with affine parameters, PyTorch `nn.GroupNorm`, optionally fused with SiLU.
public struct GroupNorm: Sendable {
    public let groups: Int
    public let weight: Tensor  // [C]
    public let bias: Tensor  // [C]
    public let epsilon: Float

    public init(_ scope: WeightScope, groups: Int, channels: Int, epsilon: Float) throws {
        precondition(channels % groups == 0, "\(groups) groups do not divide \(channels) channels")
        self.groups = groups
        weight = try scope.tensor("weight", shape: [channels])
        bias = try scope.tensor("bias", shape: [channels])
        self.epsilon = epsilon
    }

    /// Normalises `[N, C, ...]`; `silu` fuses the activation that follows every GroupNorm in ResNet blocks.
    public func callAsFunction(_ x: Tensor, silu: Bool = false) -> Tensor {
        LayerProfile.measure("groupnorm\(silu ? "+silu" : "") \(x.shape.dropFirst().map(String.init).joined(separator: "×"))") {
            groupNorm(x, groups: groups, weight: weight, bias: bias, epsilon: epsilon, applySiLU: silu)
        }
    }
}
