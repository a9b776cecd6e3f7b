import CLatentKernels
import Foundation

/// The arithmetic a model's convolutions and linear layers use (`--weights`).
///
/// `fp32` is exact to the reference; `bf16` and `int8` trade accuracy for speed on CPUs with AMX or
/// AVX-512 BF16/VNNI (docs/performance.md states the PSNR each costs).
public enum ArithmeticPrecision: String, Sendable, CaseIterable, Codable {
    /// fp32 weights and arithmetic (the default; matches diffusers).
    case fp32
    /// bf16 weights and activations, fp32 accumulation.
    case bf16
    /// int8 weights (per output channel) and activations (per call), int32 accumulation.
    case int8

    var cValue: Int32 {
        switch self {
        case .fp32: 0
        case .bf16: Int32(LATENT_PRECISION_BF16)
        case .int8: Int32(LATENT_PRECISION_INT8)
        }
    }
}

/// A layer's reduced-precision oneDNN kernels, one per input shape, created on first use from the layer's
/// fp32 weights and kept for the model's lifetime.
///
/// Invariant (why `@unchecked Sendable` is sound): `operations` is read and written only while `lock` is
/// held; an operation is immutable after creation and destroyed only in `deinit`, so executing one after
/// releasing the lock is safe, also from several threads at once.
public final class ReducedPrecisionKernel: @unchecked Sendable {
    /// The arithmetic of every operation of this kernel (never `.fp32`).
    public let precision: ArithmeticPrecision
    private let lock = NSLock()
    private var operations: [[Int]: OpaquePointer] = [:]
    private var unsupported: Set<[Int]> = []

    /// - Parameter precision: `.bf16` or `.int8`.
    public init(precision: ArithmeticPrecision) {
        precondition(precision != .fp32, "a reduced-precision kernel needs bf16 or int8")
        self.precision = precision
    }

    deinit {
        for operation in operations.values { latent_lowp_destroy(operation) }
    }

    /// Runs the convolution, or returns `nil` when oneDNN cannot (the caller runs fp32).
    /// - Parameters:
    ///   - x: `[N, C, H, W]`
    ///   - weight: `[O, C, kh, kw]`, read only when the shape is new.
    /// - Returns: `[N, O, Ho, Wo]`
    public func convolution(
        _ x: Tensor, weight: () -> Tensor, weightShape: [Int], bias: Tensor?, stride: Int, padding: Padding2D
    ) -> Tensor? {
        let operation = self.operation(for: x.shape) {
            let w = weight()
            let shape64 = x.shape.map(Int64.init)
            let pad = [padding.top, padding.left, padding.bottom, padding.right].map(Int64.init)
            return w.scalars.withUnsafeBufferPointer { wp in
                withOptional(bias) { bp in
                    latent_lowp_conv_create(shape64, Int64(weightShape[0]), Int64(weightShape[2]), Int64(weightShape[3]),
                                            Int64(stride), pad, wp.baseAddress!, bp, precision.cValue)
                }
            }
        }
        guard let operation else { return nil }
        let ho = (x.shape[2] + padding.top + padding.bottom - weightShape[2]) / stride + 1
        let wo = (x.shape[3] + padding.left + padding.right - weightShape[3]) / stride + 1
        return run(operation, x, outputShape: [x.shape[0], weightShape[0], ho, wo], execute: latent_lowp_conv_execute)
    }

    /// Runs `x · Wᵀ + b` over the last dimension, or returns `nil` when oneDNN cannot.
    /// - Parameters:
    ///   - x: `[..., in]`
    ///   - weight: `[out, in]`, read only when the shape is new.
    /// - Returns: `[..., out]`
    public func linear(_ x: Tensor, weight: () -> Tensor, outFeatures: Int, inFeatures: Int, bias: Tensor?) -> Tensor? {
        let rows = x.count / inFeatures
        let operation = self.operation(for: [rows, inFeatures]) {
            let w = weight()
            return w.scalars.withUnsafeBufferPointer { wp in
                withOptional(bias) { bp in
                    latent_lowp_linear_create(Int64(rows), Int64(inFeatures), Int64(outFeatures), wp.baseAddress!, bp,
                                              precision.cValue)
                }
            }
        }
        guard let operation else { return nil }
        return run(operation, x, outputShape: Array(x.shape.dropLast()) + [outFeatures], execute: latent_lowp_linear_execute)
    }

    private func operation(for shape: [Int], create: () -> OpaquePointer?) -> OpaquePointer? {
        lock.lock()
        defer { lock.unlock() }
        if let operation = operations[shape] { return operation }
        if unsupported.contains(shape) { return nil }
        guard let created = create() else {
            unsupported.insert(shape)
            return nil
        }
        operations[shape] = created
        return created
    }

    private func run(
        _ operation: OpaquePointer, _ x: Tensor, outputShape: [Int],
        execute: (OpaquePointer?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Int32
    ) -> Tensor? {
        var ok: Int32 = 0
        let y = Tensor(uninitializedShape: outputShape) { out in
            ok = x.scalars.withUnsafeBufferPointer { execute(operation, $0.baseAddress!, out.baseAddress!) }
            if ok == 0 { out.update(repeating: 0) }
        }
        return ok != 0 ? y : nil
    }
}

private func withOptional<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.scalars.withUnsafeBufferPointer { body($0.baseAddress!) }
}
