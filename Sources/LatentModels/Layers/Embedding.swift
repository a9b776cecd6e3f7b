import LatentCore
import LatentWeights

/// A lookup table from integer indices to learned vectors.
///
/// Matches: PyTorch `torch.nn.Embedding(count, dimension)` (weight `weight` `[count, dimension]`).
public struct Embedding: Sendable {
    /// Kept as fp16/bf16 when the checkpoint stored it so (exact); rows are widened as they are gathered.
    let table: CompactWeights
    /// `[count, dimension]`, one row per index (a widened fp32 copy).
    public var weight: Tensor { table.tensor }

    /// The number of rows (valid indices are `0..<count`).
    public var count: Int { table.shape[0] }
    /// The width of each vector.
    public var dimension: Int { table.shape[1] }

    /// Loads `weight` from `scope`, checking its shape.
    /// - Parameters:
    ///   - scope: The layer's scope, e.g. `embeddings.token_embedding`.
    ///   - count: Number of rows (vocabulary size, position count).
    ///   - dimension: Width of each vector.
    /// - Throws: `WeightsError` when the tensor is missing or mis-shaped.
    public init(_ scope: WeightScope, count: Int, dimension: Int) throws {
        table = try scope.compactWeights("weight", shape: [count, dimension])
    }

    /// Wraps a table already in memory.
    /// - Parameter weight: `[count, dimension]`.
    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding weight must be 2-D, got \(weight.shape)")
        table = CompactWeights(weight)
    }

    /// Gathers one row per index.
    ///
    /// An index outside `0..<count` is a programmer error (the caller validates user input first).
    /// - Parameter indices: Row indices.
    /// - Returns: `[indices.count, dimension]`.
    public func callAsFunction(_ indices: [Int]) -> Tensor {
        let d = dimension, rows = count
        for index in indices {
            precondition(index >= 0 && index < rows, "embedding index \(index) outside 0..<\(rows)")
        }
        return Tensor(uninitializedShape: [indices.count, d]) { out in
            for (row, index) in indices.enumerated() {
                table.copyFloats(from: index * d, count: d, into: out.baseAddress! + row * d)
            }
        }
    }
}
