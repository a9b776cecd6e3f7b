import CLatentKernels
import Foundation

/// Layer weights kept in the narrowest format that holds them exactly: fp16 or bf16 bit patterns when every
/// value survives the round trip (checkpoints stored in fp16/bf16), fp32 otherwise. Widened per use.
///
/// `LATENT_WEIGHTS=f32` in the environment keeps everything fp32 (A/B runs of the widening cost).
public struct CompactWeights: Sendable {
    /// How the elements are held.
    public enum Format: Sendable, Equatable {
        case float32, float16, bfloat16
    }

    /// The logical shape, e.g. `[O, C, kh, kw]`.
    public let shape: [Int]
    /// The stored format.
    public let format: Format
    private let full: [Float]
    private let bits: [UInt16]
    /// Low-memory storage: the bytes stay in the mapped file and are read (and widened) on every use.
    private let streamed: (any StreamedWeightBytes)?

    /// Whether narrow storage is allowed (read once from `LATENT_WEIGHTS`).
    static let narrowAllowed: Bool = ProcessInfo.processInfo.environment["LATENT_WEIGHTS"] != "f32"

    /// Stores `tensor`, narrowing it when that is exact.
    public init(_ tensor: Tensor) {
        shape = tensor.shape
        let count = tensor.count
        let (format, bits): (Format, [UInt16]) = tensor.scalars.withUnsafeBufferPointer { src in
            guard Self.narrowAllowed, count > 0 else { return (.float32, []) }
            if latent_f16_inexact_count(src.baseAddress!, count) == 0 {
                let half = [UInt16](unsafeUninitializedCapacity: count) { dst, initialized in
                    latent_f32_to_f16(src.baseAddress!, dst.baseAddress!, count)
                    initialized = count
                }
                return (.float16, half)
            }
            // bf16 is the top half of a float: exact when every low half is zero.
            let exactBF16 = src.allSatisfy { $0.bitPattern & 0xFFFF == 0 }
            return exactBF16 ? (.bfloat16, src.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }) : (.float32, [])
        }
        self.format = format
        self.bits = bits
        full = format == .float32 ? tensor.scalars : []
        streamed = nil
    }

    /// Weights that are not held in memory: every use reads `bytes` (stored as `format`) again.
    /// - Parameters:
    ///   - bytes: The stored elements, e.g. a tensor in a memory-mapped safetensors file.
    ///   - shape: The logical shape.
    ///   - format: How the stored elements are encoded.
    public init(streaming bytes: any StreamedWeightBytes, shape: [Int], format: Format) {
        self.shape = shape
        self.format = format
        full = []
        bits = []
        streamed = bytes
    }

    /// Whether the weights are read from their file on every use instead of being held.
    public var isStreamed: Bool { streamed != nil }

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Bytes held in memory.
    public var byteCount: Int { format == .float32 ? full.count * 4 : bits.count * 2 }

    /// Calls `body` with the fp16 bit patterns as stored — held, or read in place from their file when
    /// streamed at an even offset — else `nil`; for kernels that widen as they read (`latent_wino43_conv`) and
    /// for oneDNN plans that keep fp16 weights.
    public func withStoredHalfBits<R>(_ body: (UnsafePointer<UInt16>?) -> R) -> R {
        guard format == .float16 else { return body(nil) }
        guard let streamed else { return bits.withUnsafeBufferPointer { body($0.baseAddress!) } }
        return streamed.withBytes { raw in
            Int(bitPattern: raw) % 2 == 0 ? body(raw.assumingMemoryBound(to: UInt16.self)) : body(nil)
        }
    }

    /// Streamed weights widened into a pooled buffer, valid only inside `body`.
    private func withStreamedFloats<R>(_ source: any StreamedWeightBytes, _ body: (UnsafeBufferPointer<Float>) -> R) -> R {
        let count = self.count, format = self.format
        return WideningBuffers.shared.withBuffer(count: count) { buffer in
            source.withBytes { raw in
                let destination = buffer.baseAddress!
                if format == .float32 {
                    // memcpy tolerates any alignment of the tensor inside the file.
                    UnsafeMutableRawPointer(destination).copyMemory(from: raw, byteCount: count * 4)
                } else if Int(bitPattern: raw) % 2 == 0 {
                    widenInParallel(raw.assumingMemoryBound(to: UInt16.self), into: destination, count: count, bfloat16: format == .bfloat16)
                } else {
                    // Odd offsets are legal in safetensors; stage through an aligned copy.
                    let staging = [UInt16](unsafeUninitializedCapacity: count) { b, n in
                        UnsafeMutableRawPointer(b.baseAddress!).copyMemory(from: raw, byteCount: count * 2)
                        n = count
                    }
                    staging.withUnsafeBufferPointer { widenInParallel($0.baseAddress!, into: destination, count: count, bfloat16: format == .bfloat16) }
                }
            }
            return body(UnsafeBufferPointer(buffer))
        }
    }

    /// Calls `body` with the fp32 elements; narrow storage is widened on all cores into a pooled buffer
    /// (`WideningBuffers`) that is valid only inside `body`.
    public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) -> R) -> R {
        if let streamed { return withStreamedFloats(streamed, body) }
        if format == .float32 { return full.withUnsafeBufferPointer(body) }
        let count = bits.count
        return WideningBuffers.shared.withBuffer(count: count) { buffer in
            bits.withUnsafeBufferPointer { widenInParallel($0.baseAddress!, into: buffer.baseAddress!, count: count, bfloat16: format == .bfloat16) }
            return body(UnsafeBufferPointer(buffer))
        }
    }

    /// Widens elements `offset ..< offset+count` into `destination` (row gathers, e.g. embeddings).
    public func copyFloats(from offset: Int, count: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(offset >= 0 && offset + count <= self.count, "range \(offset)+\(count) outside \(shape)")
        if let streamed {
            let format = self.format
            streamed.withBytes { raw in
                switch format {
                case .float32:
                    UnsafeMutableRawPointer(destination).copyMemory(from: raw + offset * 4, byteCount: count * 4)
                case .float16, .bfloat16:
                    // Row gathers are small: stage through an aligned copy whatever the file offset.
                    let staging = [UInt16](unsafeUninitializedCapacity: count) { b, n in
                        UnsafeMutableRawPointer(b.baseAddress!).copyMemory(from: raw + offset * 2, byteCount: count * 2)
                        n = count
                    }
                    staging.withUnsafeBufferPointer {
                        format == .float16 ? latent_f16_to_f32($0.baseAddress!, destination, count) : latent_bf16_to_f32($0.baseAddress!, destination, count)
                    }
                }
            }
            return
        }
        switch format {
        case .float32:
            full.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + offset, count: count) }
        case .float16:
            bits.withUnsafeBufferPointer { latent_f16_to_f32($0.baseAddress! + offset, destination, count) }
        case .bfloat16:
            bits.withUnsafeBufferPointer { latent_bf16_to_f32($0.baseAddress! + offset, destination, count) }
        }
    }

    /// A widened fp32 copy.
    public var tensor: Tensor {
        if let streamed {
            return Tensor(uninitializedShape: shape) { out in
                withStreamedFloats(streamed) { out.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
            }
        }
        return Tensor(shape: shape, scalars: format == .float32 ? full : widened())
    }

    private func widened() -> [Float] {
        let count = bits.count
        return [Float](unsafeUninitializedCapacity: count) { dst, initialized in
            bits.withUnsafeBufferPointer { widenInParallel($0.baseAddress!, into: dst.baseAddress!, count: count, bfloat16: format == .bfloat16) }
            initialized = count
        }
    }
}

/// A fully connected layer over stored weights: `x · Wᵀ + b`, narrow weights widened just before use into
/// a pooled buffer (no per-call allocation).
/// - Parameters:
///   - x: `[..., in]`
///   - weights: `[out, in]`
///   - bias: `[out]` or `nil`
/// - Returns: `[..., out]`
public func linear(_ x: Tensor, weights: CompactWeights, bias: Tensor?) -> Tensor {
    precondition(weights.shape.count == 2, "linear weight must be 2-D, got \(weights.shape)")
    return LayerProfile.measure("linear \(weights.shape[1])→\(weights.shape[0]) × \(x.count / max(1, weights.shape[1])) rows") {
        weights.withFloats { wp in
            linear(x, weight: wp.baseAddress!, outFeatures: weights.shape[0], inFeatures: weights.shape[1], bias: bias)
        }
    }
}
