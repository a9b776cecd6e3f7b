import CLatentKernels
import Foundation

/// Matches: torch `torch.Generator("cpu")` with `torch.randn(..., dtype=torch.float32)` (ATen
/// `CPUGeneratorImpl` + cpu `normal_kernel`, torch 2.13, AVX2 kernel as dispatched on AVX2/AVX-512 CPUs).
///
/// PyTorch's CPU random generator, reproduced bit for bit.
///
/// One instance is one generator: successive `normal(shape:)` calls continue its stream exactly as
/// successive `torch.randn` calls on the same generator do (diffusers draws the initial latents, then
/// per-step noise, from one generator).
///
/// torch picks one of two algorithms per call, by element count:
/// - 16 or more elements: all uniforms are drawn first (24-bit floats), then a float32 Box-Muller runs
///   per block of 16 using torch's AVX2 vector log/sincos; a ragged tail redraws the last 16 slots.
///   That kernel lives in C (`latent_torch_normal_fill_f32`) because its exact FMA pattern matters.
/// - fewer than 16: each element is a double-precision Box-Muller sample (53-bit uniforms, libm
///   `log1p`/`sin`/`cos`) rounded to float; the sine half is cached in the generator and returned by
///   the next scalar sample, even one in a later call.
public final class TorchCPURandomSource: RandomSource {
    /// The seed this generator was created with (torch keeps all 64 bits; only the low 32 seed mt19937).
    public let seed: UInt64

    /// The mt19937 engine; heap-allocated so the C kernels can advance it in place.
    private let engine: UnsafeMutablePointer<latent_mt19937>

    /// The second sample of the last scalar Box-Muller pair, returned by the next scalar draw.
    private var cachedNormal: Double?

    /// Creates a generator in the state of `torch.Generator("cpu").manual_seed(seed)`.
    /// - Parameter seed: The seed; values that agree in their low 32 bits give the same stream, as in torch.
    public init(seed: UInt64) {
        self.seed = seed
        engine = .allocate(capacity: 1)
        latent_mt19937_seed(engine, seed)
    }

    deinit {
        engine.deallocate()
    }

    /// Draws a standard-normal float32 tensor exactly as `torch.randn(shape, generator: self)`.
    /// - Parameter shape: The tensor shape; the element count decides the algorithm, as in torch.
    /// - Returns: A contiguous tensor of `shape`.
    public func normal(shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(uninitializedShape: shape) { buffer in
            guard let base = buffer.baseAddress, count > 0 else { return }
            if count >= 16 {
                latent_torch_normal_fill_f32(engine, base, count, 0, 1)
            } else {
                for index in 0..<count {
                    base[index] = Float(nextScalarNormal())
                }
            }
        }
    }

    /// One sample of torch's `normal_distribution<double>(0, 1)`, honouring the cached second sample.
    private func nextScalarNormal() -> Double {
        let mean = 0.0
        let std = 1.0
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached * std + mean
        }
        // torch draws the angle's uniform first, then the radius's.
        let angleUniform = latent_torch_uniform_f64(engine)
        let radiusUniform = latent_torch_uniform_f64(engine)
        // log1p(-u) keeps the argument of log in (0, 1] since u is in [0, 1).
        let radius = (-2.0 * log1p(-radiusUniform)).squareRoot()
        let theta = 2.0 * Double.pi * angleUniform
        cachedNormal = radius * sin(theta)
        return radius * cos(theta) * std + mean
    }
}
