import CLatentKernels
import Foundation

/// A convolution layer's kernels: oneDNN primitives created once per input shape (with the weights reordered
/// into the primitive's blocked layout and the bias fused), falling back to im2col + OpenBLAS where oneDNN
/// cannot run a shape or is disabled (`LATENT_KERNELS=conv-im2col`). Inputs and outputs are NCHW.
///
/// Memory: once a oneDNN plan exists the plain weights are dropped, so a layer holds its weights once (in
/// the blocked layout, fp16 when the checkpoint was fp16); they are recovered from a plan when a new shape
/// or the fallback needs them.
///
/// Invariant (why `@unchecked Sendable` is sound): `plain` and `plans` are read and written only while
/// `lock` is held; a `latent_conv_plan` is immutable after creation and destroyed only in `deinit`, so
/// executing one after releasing the lock is safe, also from several threads at once.
public final class ConvolutionPlan: @unchecked Sendable {
    /// `[O, C, kh, kw]`
    public let weightShape: [Int]
    /// `[O]` or `nil`.
    public let bias: Tensor?
    /// The step in both directions.
    public let stride: Int
    /// Zero padding per side.
    public let padding: Padding2D

    private let lock = NSLock()
    private var plain: CompactWeights?
    private var plans: [[Int]: OpaquePointer] = [:]
    private var unsupported: Set<[Int]> = []
    private let minimumOneDNNWork: Int
    private let gemmMaximumPixels: Int
    private let ownWinograd: Bool
    /// Whether the weights are streamed (then `plain` is never dropped and plans hold no weights).
    private let streamed: Bool

    /// Output pixels (N·Ho·Wo) from which a plan keeps fp16 weights in fp16.
    /// 0: every level keeps fp16 weights in fp16 (wave 4: the pooled two-core widening made the UNet's 8×8
    /// level cheap enough, and keeping it fp32 cost ≈ 0.5 GB; docs/performance.md).
    static let halfWeightMinimumPixels = 0

    /// Multiply-adds (N·Ho·Wo·O·C·kh·kw) from which a shape runs on oneDNN by default. Smaller convolutions
    /// stay on im2col + OpenBLAS: test-size models, and in a real SD model only conv_in/conv_out (its
    /// smallest inner 3×3 convolution is ≈ 1.9·10⁹). There oneDNN's per-call set-up and reorders outweigh
    /// its gain, and its different (equally accurate) summation order moves the ill-conditioned tiny
    /// parity models by up to 1.06·10⁻⁴ relative (docs/performance.md, wave 3).
    public static let defaultMinimumOneDNNWork = 1 << 30

    /// Whether oneDNN is used at all (read once from `LATENT_KERNELS`).
    static let oneDNNEnabled = !KernelSwitches.isSet("conv-im2col")

    /// Output pixels (N·Ho·Wo) per call from which a 3×3 stride-1 convolution runs oneDNN's Winograd
    /// F(4×4, 3×3) algorithm: 2–3.3× faster than the direct one on SD's shapes, as accurate (relative error
    /// 1.0–1.6·10⁻⁶ against a float64 reference, direct 0.6–1.9·10⁻⁶), but its weights must be transformed
    /// per call (see `WinogradWeightCache`). With oneDNN's reorder that cost 0.2–0.5 µs per (in, out) channel
    /// pair and paid only from about 6000 pixels (wave 7); Latent's own transform (`winograd_weights.c`) is
    /// 18–32× faster, so the UNet's 32×32 level at batch 2 and the VAE's 64×64 level gain too (wave 9).
    public static let winogradMinimumPixels = 2048

    /// Bytes of Winograd-domain weights (36·O·C floats) up to which a layer may run Winograd: its transform
    /// is a per-call temporary (the slot of `WinogradWeightCache`), and the UNet's 1280-channel layers would
    /// need 236–472 MB of it, more than the memory target leaves (docs/performance.md, wave 9).
    public static let winogradMaximumTransformBytes = 64 << 20

    /// Whether the Winograd algorithm is allowed (`LATENT_KERNELS=conv-direct` disables it).
    static let winogradEnabled = !KernelSwitches.isSet("conv-direct")

    /// Output pixels (N·Ho·Wo) per call up to which, by default, a convolution that would run oneDNN's direct
    /// kernels runs instead as GEMMs over im2col columns (`latent_conv_gemm`). On the UNet's 8×8 to 32×32
    /// levels (128–2048 pixels at batch 2) the two take about as long per call once a oneDNN plan exists
    /// (0.72–1.11× per shape, cold caches), but the GEMM needs no plan: a plan's first call reorders the
    /// layer's weights and compiles its kernels, ≈ 90 ms for a 1280-channel layer, so the first step of every
    /// generation in a new process paid ≈ 2–3 s more (one profiled run; docs/performance.md, wave 9).
    /// Winograd, where it applies (`usesWinograd`, `winogradChunk`), beats both.
    public static let defaultGEMMMaximumPixels = 2048

    /// Whether the GEMM form is allowed (`LATENT_KERNELS=conv-no-gemm` disables it).
    static let gemmEnabled = !KernelSwitches.isSet("conv-no-gemm")

    /// Whether 3×3 stride-1 padding-1 layers run Latent's own Winograd F(4×4, 3×3) (`latent_wino43_conv`)
    /// ahead of oneDNN's Winograd, its chunks and the GEMM form (`LATENT_KERNELS=conv-no-wino43` disables it).
    /// It needs no layer-sized transform and no plan, so the UNet's 16×16 and 8×8 levels, where oneDNN's
    /// Winograd does not fit or does not pay, run a quarter of the direct form's multiply-adds (wave 10). Since
    /// its input transform runs in vectors it also beats oneDNN's Winograd on the tiled VAE decoder's bands,
    /// whose cached weight transform oneDNN reuses call after call: −7 % decode CPU at 512², 2048² in 316 s
    /// instead of 415–454 s, and no plans or cached transforms held (docs/performance.md, wave 11). oneDNN's
    /// paths remain for machines without AVX-512.
    public static let ownWinogradEnabled = !KernelSwitches.isSet("conv-no-wino43")

    /// - Parameters:
    ///   - weight: `[O, C, kh, kw]`
    ///   - bias: `[O]` or `nil`
    ///   - minimumOneDNNWork: Multiply-adds per call below which the im2col path runs (0: always oneDNN).
    ///   - gemmMaximumPixels: Output pixels per call up to which the whole-batch GEMM runs instead of oneDNN
    ///     (0: never).
    ///   - ownWinograd: Whether 3×3 stride-1 padding-1 shapes run `latent_wino43_conv` (see `ownWinogradEnabled`).
    public convenience init(
        weight: Tensor, bias: Tensor?, stride: Int, padding: Padding2D,
        minimumOneDNNWork: Int = ConvolutionPlan.defaultMinimumOneDNNWork,
        gemmMaximumPixels: Int = ConvolutionPlan.defaultGEMMMaximumPixels,
        ownWinograd: Bool = ConvolutionPlan.ownWinogradEnabled
    ) {
        precondition(weight.rank == 4, "convolution weight must be 4-D, got \(weight.shape)")
        self.init(weights: CompactWeights(weight), bias: bias, stride: stride, padding: padding,
                  minimumOneDNNWork: minimumOneDNNWork, gemmMaximumPixels: gemmMaximumPixels, ownWinograd: ownWinograd)
    }

    /// A plan over stored weights. Streamed weights (`CompactWeights.isStreamed`, `--low-memory`) are never
    /// held: every call reads them from their file, widens them and reorders them into the blocked layout.
    /// - Parameters:
    ///   - weights: `[O, C, kh, kw]`
    ///   - bias: `[O]` or `nil`
    ///   - minimumOneDNNWork: Multiply-adds per call below which the im2col path runs (0: always oneDNN).
    ///   - gemmMaximumPixels: Output pixels per call up to which the whole-batch GEMM runs instead of oneDNN
    ///     (0: never).
    ///   - ownWinograd: Whether 3×3 stride-1 padding-1 shapes run `latent_wino43_conv` (see `ownWinogradEnabled`).
    public init(
        weights: CompactWeights, bias: Tensor?, stride: Int, padding: Padding2D,
        minimumOneDNNWork: Int = ConvolutionPlan.defaultMinimumOneDNNWork,
        gemmMaximumPixels: Int = ConvolutionPlan.defaultGEMMMaximumPixels,
        ownWinograd: Bool = ConvolutionPlan.ownWinogradEnabled
    ) {
        precondition(weights.shape.count == 4, "convolution weight must be 4-D, got \(weights.shape)")
        weightShape = weights.shape
        self.minimumOneDNNWork = minimumOneDNNWork
        self.gemmMaximumPixels = gemmMaximumPixels
        self.ownWinograd = ownWinograd
        plain = weights
        streamed = weights.isStreamed
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    deinit {
        WinogradWeightCache.shared.forget(ObjectIdentifier(self))
        for plan in plans.values { latent_conv_plan_destroy(plan) }
    }

    /// The weights as an fp32 tensor (recovered from a plan if the plain copy was dropped).
    public var weight: Tensor {
        lock.lock()
        defer { lock.unlock() }
        return plainWeightsLocked().tensor
    }

    /// oneDNN's implementation for `inputShape`, or `nil` when that shape runs on the fallback.
    public func implementation(for inputShape: [Int]) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return plans[inputShape].map { String(cString: latent_conv_plan_impl($0)) }
    }

    /// `[N, C, H, W] → [N, O, Ho, Wo]`
    public func callAsFunction(_ x: Tensor) -> Tensor {
        LayerProfile.measure("conv \(weightShape[2])×\(weightShape[3]) \(weightShape[1])→\(weightShape[0]) at \(x.shape[0])×\(x.shape[2])×\(x.shape[3])") {
            run(x)
        }
    }

    private func run(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == weightShape[1], "convolution input \(x.shape) vs weight \(weightShape)")
        if usesOwnWinograd(x.shape), let y = ownWinogradConvolution(x) { return y }
        if let chunk = winogradChunk(x.shape), let y = chunkedWinograd(x, chunk: chunk) { return y }
        if usesGEMM(x.shape), let y = gemmConvolution(x) { return y }
        if let plan = plan(for: x.shape) {
            let (ho, wo) = outputSize(x.shape)
            var ok: Int32 = 0
            let winograd = latent_conv_plan_is_winograd(plan) != 0
            let streamedWeights = streamed || winograd ? plainWeights() : nil
            let layer = ObjectIdentifier(self)
            let y = Tensor(uninitializedShape: [x.shape[0], weightShape[0], ho, wo]) { out in
                ok = x.scalars.withUnsafeBufferPointer { src in
                    if winograd, let streamedWeights, let done = WinogradWeightCache.shared.withTransformed(
                        owner: layer, plan: plan, weights: streamedWeights,
                        { latent_conv_plan_execute_widened(plan, src.baseAddress!, out.baseAddress!, $0) }) {
                        return done
                    }
                    // Streamed plans, and Winograd plans whose slot another thread holds: transform into a
                    // pooled buffer of this call's own.
                    if let streamedWeights {
                        return Self.executeStreamed(plan, streamedWeights, src.baseAddress!, out.baseAddress!)
                    }
                    return Self.withWidenedWeights(plan) { latent_conv_plan_execute_widened(plan, src.baseAddress!, out.baseAddress!, $0) }
                }
                // A failed execution leaves `out` unwritten; fill it so the tensor is initialised either way.
                if ok == 0 { out.update(repeating: 0) }
            }
            if ok != 0 { return y }
        }
        // im2col + GEMM (1×1 layers, small test models), the weights widened into the pooled buffer rather than
        // into a fresh fp32 copy per call.
        return plainWeights().withFloats {
            conv2d(x, weight: $0.baseAddress!, weightShape: weightShape, bias: bias, stride: stride, padding: padding)
        }
    }

    private func outputSize(_ shape: [Int]) -> (height: Int, width: Int) {
        ((shape[2] + padding.top + padding.bottom - weightShape[2]) / stride + 1,
         (shape[3] + padding.left + padding.right - weightShape[3]) / stride + 1)
    }

    /// Padding as oneDNN and the C kernels take it: `{top, left, bottom, right}`.
    private var paddingSides: [Int64] { [padding.top, padding.left, padding.bottom, padding.right].map(Int64.init) }

    /// Whether an input of `shape` is a Winograd candidate: a 3×3 stride-1 layer of at least
    /// `winogradMinimumPixels` output pixels and enough work for oneDNN.
    private func winogradEligible(_ shape: [Int]) -> Bool {
        guard Self.oneDNNEnabled, Self.winogradEnabled, weightShape[2] == 3 && weightShape[3] == 3 && stride == 1 else { return false }
        let (ho, wo) = outputSize(shape)
        return shape[0] * ho * wo >= Self.winogradMinimumPixels && shape[0] * ho * wo * weightShape.reduce(1, *) >= minimumOneDNNWork
    }

    /// Bytes of the whole layer's Winograd-domain weights (36·O·C floats).
    private var winogradTransformBytes: Int { 36 * weightShape[0] * weightShape[1] * 4 }

    /// Whether an input of `shape` runs oneDNN's Winograd algorithm (see `winogradMinimumPixels`).
    public func usesWinograd(_ shape: [Int]) -> Bool {
        winogradEligible(shape) && winogradTransformBytes <= Self.winogradMaximumTransformBytes
    }

    /// Output channels per Winograd chunk for an input of `shape` whose whole transform would exceed
    /// `winogradMaximumTransformBytes` (the UNet's 1280-channel layers and wide-input layers at 32×32): the
    /// largest multiple of 16 dividing O whose transform fits; `nil` when the layer runs otherwise. Each chunk
    /// runs oneDNN's Winograd over its output channels, its weights transformed per call. At 32×32 (batch 2)
    /// that took 0.47–0.71× the GEMM form's time; at 16×16 and below it was slower (tiles too few per image).
    public func winogradChunk(_ shape: [Int]) -> Int? {
        guard winogradEligible(shape), winogradTransformBytes > Self.winogradMaximumTransformBytes else { return nil }
        let (o, c) = (weightShape[0], weightShape[1])
        let most = Self.winogradMaximumTransformBytes / (36 * c * 4)
        return Swift.stride(from: most - most % 16, to: 0, by: -16).first { o % $0 == 0 }
    }

    /// `[N, C, H, W] → [N, O, Ho, Wo]` in output-channel chunks of oneDNN's Winograd (see `winogradChunk`);
    /// `nil` when the plan cannot be made or the transform slot is busy.
    private func chunkedWinograd(_ x: Tensor, chunk: Int) -> Tensor? {
        let (n, c, o) = (x.shape[0], weightShape[1], weightShape[0])
        let (ho, wo) = outputSize(x.shape)
        let key = x.shape + [-chunk]  // one plan per input shape, over `chunk` output channels
        lock.lock()
        var plan = plans[key]
        if plan == nil, !unsupported.contains(key) {
            plan = latent_conv_plan_create(x.shape.map(Int64.init), Int64(chunk), 3, 3, 1, paddingSides, nil, nil, nil, 0, 1)
            if let plan { plans[key] = plan } else { unsupported.insert(key) }
        }
        lock.unlock()
        guard let plan else { return nil }
        let weights = plainWeights()
        let perChunk = chunk * c * 9, plane = ho * wo
        var ok: Int32 = 1
        var y = Tensor(uninitializedShape: [n, o, ho, wo]) { out in
            let done = WinogradWeightCache.shared.withScratch(count: latent_conv_plan_blocked_weight_count(plan)) { transformed in
                WideningBuffers.shared.withBuffer(count: perChunk) { rows in
                    x.scalars.withUnsafeBufferPointer { src in
                        // One item writes its chunk in place; a batch goes through a chunk-sized temporary.
                        var staging = [Float](unsafeUninitializedCapacity: n > 1 ? n * chunk * plane : 0) { _, count in count = n > 1 ? n * chunk * plane : 0 }
                        for first in Swift.stride(from: 0, to: o, by: chunk) where ok != 0 {
                            weights.copyFloats(from: first * c * 9, count: perChunk, into: rows.baseAddress!)
                            ok = latent_conv_plan_transform_weights(plan, rows.baseAddress!, transformed)
                            guard ok != 0 else { break }
                            if n == 1 {
                                ok = latent_conv_plan_execute_widened(plan, src.baseAddress!, out.baseAddress! + first * plane, transformed)
                            } else {
                                ok = staging.withUnsafeMutableBufferPointer { latent_conv_plan_execute_widened(plan, src.baseAddress!, $0.baseAddress!, transformed) }
                                staging.withUnsafeBufferPointer { from in
                                    for b in 0..<n {
                                        (out.baseAddress! + (b * o + first) * plane).update(from: from.baseAddress! + b * chunk * plane, count: chunk * plane)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if done == nil { ok = 0 }
            if ok == 0 { out.update(repeating: 0) }
        }
        guard ok != 0 else { return nil }
        if let bias { y.addChannelBias(bias) }
        return y
    }

    /// Whether an input of `shape` runs as whole-batch GEMMs (see `defaultGEMMMaximumPixels`): only where
    /// oneDNN's direct kernels would run otherwise.
    public func usesGEMM(_ shape: [Int]) -> Bool {
        guard Self.gemmEnabled, Self.oneDNNEnabled, weightShape[2] > 1 || weightShape[3] > 1, !usesWinograd(shape),
              winogradChunk(shape) == nil else { return false }
        let (ho, wo) = outputSize(shape)
        return ho > 0 && wo > 0 && shape[0] * ho * wo <= gemmMaximumPixels
            && shape[0] * ho * wo * weightShape.reduce(1, *) >= minimumOneDNNWork
    }

    /// Whether an input of `shape` runs Latent's own Winograd (see `ownWinogradEnabled`): a 3×3 stride-1
    /// padding-1 layer with enough work for the native kernels (`minimumOneDNNWork`).
    public func usesOwnWinograd(_ shape: [Int]) -> Bool {
        guard ownWinograd, Self.oneDNNEnabled, weightShape[2] == 3, weightShape[3] == 3, stride == 1, padding == .uniform(1) else {
            return false
        }
        let pixels = shape[0] * shape[2] * shape[3]
        return pixels > 0 && pixels * weightShape.reduce(1, *) >= minimumOneDNNWork
    }

    /// Latent's own Winograd, reading fp16 weights as stored, also streamed ones (no widened copy of the layer
    /// is written); `nil` without AVX-512 or memory.
    private func ownWinogradConvolution(_ x: Tensor) -> Tensor? {
        let weights = plainWeights()
        let (n, c, h, w) = (Int64(x.shape[0]), Int64(x.shape[1]), Int64(x.shape[2]), Int64(x.shape[3]))
        let o = Int64(weightShape[0])
        var ok: Int32 = 0
        let y = Tensor(uninitializedShape: [x.shape[0], weightShape[0], x.shape[2], x.shape[3]]) { out in
            x.scalars.withUnsafeBufferPointer { src in
                withOptionalBias { bias in
                    ok = weights.withStoredHalfBits { half in
                        guard let half else {
                            return weights.withFloats { latent_wino43_conv(src.baseAddress!, n, c, h, w, $0.baseAddress!, nil, bias, o, out.baseAddress!) }
                        }
                        return latent_wino43_conv(src.baseAddress!, n, c, h, w, nil, half, bias, o, out.baseAddress!)
                    }
                }
            }
            if ok == 0 { out.update(repeating: 0) }
        }
        return ok != 0 ? y : nil
    }

    /// The GEMM form with the plain weights widened into a pooled buffer; `nil` when out of memory.
    private func gemmConvolution(_ x: Tensor) -> Tensor? {
        let (ho, wo) = outputSize(x.shape)
        let weights = plainWeights()
        let shape = x.shape.map(Int64.init)
        var ok: Int32 = 0
        let y = Tensor(uninitializedShape: [x.shape[0], weightShape[0], ho, wo]) { out in
            ok = weights.withFloats { w in
                x.scalars.withUnsafeBufferPointer { src in
                    withOptionalBias { bias in
                        latent_conv_gemm(src.baseAddress!, shape, w.baseAddress!, Int64(weightShape[0]), Int64(weightShape[2]),
                                         Int64(weightShape[3]), Int64(stride), paddingSides, bias, out.baseAddress!)
                    }
                }
            }
            if ok == 0 { out.update(repeating: 0) }
        }
        return ok != 0 ? y : nil
    }

    /// Calls `body` with the plan's blocked weights widened to fp32 on all cores into a pooled buffer when
    /// the plan stores them as fp16, else with `nil` (the plan uses its own fp32 weights).
    private static func withWidenedWeights<R>(_ plan: OpaquePointer, _ body: (UnsafePointer<Float>?) -> R) -> R {
        var count = 0
        guard let half = latent_conv_plan_half_weights(plan, &count) else { return body(nil) }
        return WideningBuffers.shared.withBuffer(count: count) { buffer in
            widenInParallel(half, into: buffer.baseAddress!, count: count, bfloat16: false)
            return body(UnsafePointer(buffer.baseAddress!))
        }
    }

    /// Streamed weights: read and widened from their file, reordered into the blocked layout, both into
    /// pooled buffers that are reused by the next layer.
    private static func executeStreamed(
        _ plan: OpaquePointer, _ weights: CompactWeights, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>
    ) -> Int32 {
        weights.withFloats { plainWeights in
            WideningBuffers.shared.withBuffer(count: latent_conv_plan_blocked_weight_count(plan)) { blocked in
                latent_conv_plan_execute_streamed(plan, src, dst, plainWeights.baseAddress!, blocked.baseAddress!)
            }
        }
    }

    /// The weights as stored (fp16, bf16 or fp32; streamed ones stay streamed), for kernels outside the plan
    /// such as ``projectChannelsToTokens(_:weights:bias:)``.
    public var storedWeights: CompactWeights { plainWeights() }

    private func plainWeights() -> CompactWeights {
        lock.lock()
        defer { lock.unlock() }
        return plainWeightsLocked()
    }

    /// The plan for `shape`, creating it on first use; `nil` when the fallback should run.
    private func plan(for shape: [Int]) -> OpaquePointer? {
        guard Self.oneDNNEnabled, weightShape[2] > 1 || weightShape[3] > 1 else { return nil }
        let (ho, wo) = outputSize(shape)
        // A few output channels (a VAE's conv_out: 3) over many pixels: im2col's GEMM has M = 3 there and ran at
        // ≈ 2 GFLOP/s (0.77 s of a 512² decode); oneDNN pads the channels to a vector and runs 30× faster.
        let work = shape[0] * ho * wo * weightShape.reduce(1, *)
        let fewOutputs = weightShape[0] < 16 && work >= minimumOneDNNWork / 16
        guard work >= minimumOneDNNWork || fewOutputs else { return nil }
        lock.lock()
        defer { lock.unlock() }
        if let plan = plans[shape] { return plan }
        if unsupported.contains(shape) { return nil }
        let weights = plainWeightsLocked()
        let shape64 = shape.map(Int64.init)
        // fp16 weights stay fp16 only where widening them per call is cheap next to the convolution: the
        // work per weight is 2·N·Ho·Wo flops, and below 512 output pixels (the UNet's 8×8 level at batch 2)
        // widening costs as much as the convolution itself (docs/performance.md), so those keep fp32.
        let keepHalf: Int32 = shape[0] * ho * wo >= Self.halfWeightMinimumPixels ? 1 : 0
        if usesWinograd(shape), let created = withOptionalBias({ bp in
            latent_conv_plan_create(shape64, Int64(weightShape[0]), 3, 3, 1, paddingSides, nil, nil, bp, 0, 1)
        }) {
            plans[shape] = created
            // A Winograd plan holds no weights: keep the plain ones (as stored, e.g. fp16) for its calls.
            plain = weights
            return created
        }
        let created: OpaquePointer? = withOptionalBias { bp in
            if streamed {
                return latent_conv_plan_create(shape64, Int64(weightShape[0]), Int64(weightShape[2]), Int64(weightShape[3]),
                                               Int64(stride), paddingSides, nil, nil, bp, 0, 0)
            }
            return weights.withStoredHalfBits { half in
                if let half {
                    return latent_conv_plan_create(shape64, Int64(weightShape[0]), Int64(weightShape[2]), Int64(weightShape[3]),
                                                   Int64(stride), paddingSides, nil, half, bp, keepHalf, 0)
                }
                return weights.withFloats { wp in
                    latent_conv_plan_create(shape64, Int64(weightShape[0]), Int64(weightShape[2]), Int64(weightShape[3]),
                                            Int64(stride), paddingSides, wp.baseAddress!, nil, bp, 0, 0)
                }
            }
        }
        guard let created else {
            unsupported.insert(shape)
            return nil
        }
        plans[shape] = created
        // The plan's blocked copy is now the layer's weights; the plain copy is recovered from it on demand
        // (unless a Winograd plan, which holds none, needs it).
        let needsPlain = streamed || plans.values.contains { latent_conv_plan_is_winograd($0) != 0 }
        if !needsPlain { plain = nil }
        return created
    }

    private func withOptionalBias<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let bias else { return body(nil) }
        return bias.scalars.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Plain weights; must be called with `lock` held.
    private func plainWeightsLocked() -> CompactWeights {
        if let plain { return plain }
        let count = weightShape.reduce(1, *)
        var recovered = [Float](repeating: 0, count: count)
        var ok: Int32 = 0
        for plan in plans.values where ok == 0 {  // weightless (streamed, Winograd) plans return 0
            ok = recovered.withUnsafeMutableBufferPointer { latent_conv_plan_plain_weights(plan, $0.baseAddress!) }
        }
        precondition(ok != 0, "convolution weights \(weightShape) could not be recovered from oneDNN")
        let weights = CompactWeights(Tensor(shape: weightShape, scalars: recovered))
        // Not cached again: keeping it would double the layer's memory for a rare path.
        return weights
    }
}
