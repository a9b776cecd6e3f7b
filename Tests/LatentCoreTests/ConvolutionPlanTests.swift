import CLatentKernels
import Foundation
import LatentCore
import LatentTesting
import Testing

/// oneDNN convolution plans against the im2col + OpenBLAS path, and exact narrow weight storage.
@Suite("ConvolutionPlan and CompactWeights")
struct ConvolutionPlanTests {
    /// Rounds every value to fp16 so the weights store narrow (as from an fp16 checkpoint).
    static func halfRounded(_ t: Tensor) -> Tensor {
        CompactWeights(t).format == .float16 ? t : Tensor(shape: t.shape, scalars: t.scalars.map { Float(Float16($0)) })
    }

    @Test(arguments: [
        (1, Padding2D.uniform(1), true), (2, Padding2D.uniform(1), false),
        (2, Padding2D(top: 0, left: 0, bottom: 1, right: 1), true), (1, Padding2D.uniform(1), false),
    ])
    func matchesIm2col(stride: Int, padding: Padding2D, half: Bool) {
        let random = TorchCPURandomSource(seed: 11)
        let x = random.normal(shape: [2, 24, 13, 11])
        var weight = random.normal(shape: [40, 24, 3, 3]) * 0.1
        if half { weight = Self.halfRounded(weight) }
        let bias = random.normal(shape: [40])
        let plan = ConvolutionPlan(weight: weight, bias: bias, stride: stride, padding: padding, minimumOneDNNWork: 0, gemmMaximumPixels: 0, ownWinograd: false)
        let expected = conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
        let first = plan(x)
        #expect(first.shape == expected.shape)
        #expect(relativeError(first, expected) < 1e-5)
        // The plain weights were dropped for the plan's copy; they must come back exactly.
        #expect(relativeError(plan.weight, weight) == 0)
        // A second input shape builds a second plan from the recovered weights.
        let other = random.normal(shape: [1, 24, 9, 16])
        #expect(relativeError(plan(other), conv2d(other, weight: weight, bias: bias, stride: stride, padding: padding)) < 1e-5)
    }

    /// The wave-2 parity failure: plans created on one thread and run on others (Swift tasks hop threads;
    /// tests and the server run layers concurrently) used oneDNN's thread-local library scratchpad of the
    /// wrong thread. Creates every plan on a separate thread, then runs all shapes from many threads at once.
    @Test(arguments: [false, true])
    func sharedAcrossThreadsAndShapes(half: Bool) throws {
        let random = TorchCPURandomSource(seed: 23)
        var weight = random.normal(shape: [48, 32, 3, 3]) * 0.1
        if half { weight = Self.halfRounded(weight) }
        let bias = random.normal(shape: [48])
        let inputs = [[1, 32, 17, 19], [2, 32, 8, 8], [1, 32, 40, 33], [2, 32, 24, 24]].map { random.normal(shape: $0) }
        let plans = [1, 2].map { ConvolutionPlan(weight: weight, bias: bias, stride: $0, padding: .uniform(1), minimumOneDNNWork: 0, gemmMaximumPixels: 0, ownWinograd: false) }
        let expected = plans.map { plan in
            inputs.map { conv2d($0, weight: weight, bias: bias, stride: plan.stride, padding: plan.padding) }
        }
        // Create every (plan, shape) primitive on a thread that never runs it again.
        let created = DispatchSemaphore(value: 0)
        let creator = Thread {
            for plan in plans { for x in inputs { _ = plan(x) } }
            created.signal()
        }
        creator.stackSize = 8 << 20
        creator.start()
        created.wait()
        let jobs = 24
        let errors = LockedErrors(count: jobs)
        DispatchQueue.concurrentPerform(iterations: jobs) { job in
            let p = job % plans.count, i = (job / plans.count) % inputs.count
            errors.set(job, relativeError(plans[p](inputs[i]), expected[p][i]))
        }
        for (job, error) in errors.values.enumerated() {
            #expect(error < 1e-5, "job \(job): relative error \(error)")
        }
        // Every shape really ran on oneDNN (not the fallback), so this tests the plans.
        for plan in plans { for x in inputs { #expect(plan.implementation(for: x.shape) != nil) } }
    }

    /// Winograd plans (large 3×3 stride-1 shapes): weights transformed per call, the last layer's transform
    /// reused by the next call of the same layer, and never by another layer; also from many threads at once
    /// (the slot is then busy and callers transform into their own buffer).
    @Test(arguments: [false, true])
    func winogradMatchesIm2col(half: Bool) {
        let random = TorchCPURandomSource(seed: 31)
        let pixels = ConvolutionPlan.winogradMinimumPixels
        let side = Int(Double(pixels).squareRoot()) + 4
        let inputs = [[1, 24, side, side], [1, 24, side + 6, side], [1, 24, 9, 12]].map { random.normal(shape: $0) }
        let layers = (0..<2).map { _ in
            var weight = random.normal(shape: [40, 24, 3, 3]) * 0.1
            if half { weight = Self.halfRounded(weight) }
            let bias = random.normal(shape: [40])
            return (weight, bias, ConvolutionPlan(weight: weight, bias: bias, stride: 1, padding: .uniform(1), minimumOneDNNWork: 0, gemmMaximumPixels: 0, ownWinograd: false))
        }
        let expected = layers.map { layer in inputs.map { conv2d($0, weight: layer.0, bias: layer.1, stride: 1, padding: .uniform(1)) } }
        // Same layer twice (a cache hit), then the other layer, then a second shape of the first, then back.
        for (l, i) in [(0, 0), (0, 0), (1, 0), (0, 1), (0, 0), (1, 1), (1, 2), (0, 2)] {
            #expect(relativeError(layers[l].2(inputs[i]), expected[l][i]) < 1e-5, "layer \(l) input \(i)")
        }
        #expect(layers[0].2.implementation(for: inputs[0].shape)?.contains("wino") == true)
        #expect(layers[0].2.implementation(for: inputs[2].shape)?.contains("wino") == false)
        // The plain weights stay exact whichever plans exist.
        for layer in layers { #expect(relativeError(layer.2.weight, layer.0) == 0) }
        let jobs = 12
        let errors = LockedErrors(count: jobs)
        DispatchQueue.concurrentPerform(iterations: jobs) { job in
            let l = job % 2, i = (job / 2) % 2
            errors.set(job, relativeError(layers[l].2(inputs[i]), expected[l][i]))
        }
        for (job, error) in errors.values.enumerated() { #expect(error < 1e-5, "job \(job): relative error \(error)") }
    }

    /// The whole-batch GEMM form (few output pixels per call): batch 1 and 2, strides 1 and 2, asymmetric
    /// padding, fp16 weights, columns split over threads (C·9·N·Ho·Wo ≥ 2²⁰), and a layer whose plain weights
    /// were dropped because another input shape built a oneDNN plan; also from many threads at once.
    @Test(arguments: [
        (1, Padding2D.uniform(1), true), (2, Padding2D(top: 0, left: 0, bottom: 1, right: 1), false),
        (1, Padding2D.uniform(1), false), (2, Padding2D.uniform(1), true),
    ])
    func gemmMatchesIm2col(stride: Int, padding: Padding2D, half: Bool) {
        let random = TorchCPURandomSource(seed: 41)
        var weight = random.normal(shape: [48, 256, 3, 3]) * 0.05
        if half { weight = Self.halfRounded(weight) }
        let bias = random.normal(shape: [48])
        let plan = ConvolutionPlan(weight: weight, bias: bias, stride: stride, padding: padding, minimumOneDNNWork: 0, gemmMaximumPixels: 512, ownWinograd: false)
        let inputs = [[2, 256, 16 * stride, 16 * stride], [1, 256, 7 * stride, 12 * stride], [1, 256, 40 * stride, 40 * stride]].map { random.normal(shape: $0) }
        let expected = inputs.map { conv2d($0, weight: weight, bias: bias, stride: stride, padding: padding) }
        #expect(plan.usesGEMM(inputs[0].shape) && plan.usesGEMM(inputs[1].shape) && !plan.usesGEMM(inputs[2].shape))
        // GEMM, GEMM, oneDNN (drops the plain weights), GEMM again from the recovered weights.
        for i in [0, 1, 2, 0] { #expect(relativeError(plan(inputs[i]), expected[i]) < 1e-5, "input \(i)") }
        #expect(plan.implementation(for: inputs[0].shape) == nil && plan.implementation(for: inputs[2].shape) != nil)
        let jobs = 8
        let errors = LockedErrors(count: jobs)
        DispatchQueue.concurrentPerform(iterations: jobs) { job in errors.set(job, relativeError(plan(inputs[job % 2]), expected[job % 2])) }
        for (job, error) in errors.values.enumerated() { #expect(error < 1e-5, "job \(job): relative error \(error)") }
    }

    /// 1×1 layers (GEMMs over weights widened into the pooled buffer): batch 1 and 2, with and without bias, fp16
    /// and fp32 weights.
    @Test(arguments: [(true, true), (false, false)])
    func pointwiseMatchesIm2col(withBias: Bool, half: Bool) {
        let random = TorchCPURandomSource(seed: 61)
        var weight = random.normal(shape: [48, 72, 1, 1]) * 0.1
        if half { weight = Self.halfRounded(weight) }
        let bias = withBias ? random.normal(shape: [48]) : nil
        let plan = ConvolutionPlan(weight: weight, bias: bias, stride: 1, padding: .uniform(0))
        for shape in [[2, 72, 9, 13], [1, 72, 1, 1]] {
            let x = random.normal(shape: shape)
            #expect(relativeError(plan(x), conv2d(x, weight: weight, bias: bias, stride: 1, padding: .uniform(0))) < 1e-6, "\(shape)")
        }
    }

    /// Latent's own Winograd F(4×4, 3×3) (3×3 stride-1 padding-1 layers): output channels that fill
    /// neither a block of 32 nor a vector of 16 (56 = 32 + 16 + 8), input channels over several weight blocks
    /// (200 = 128 + 72), sizes that are not multiples of the 4×4 tile, tiles that do not fill a register
    /// block (2·3·2 = 12 of 16), several passes of tiles, with and without bias, fp16 weights (read as stored) and fp32 ones, and from
    /// many threads at once.
    @Test(arguments: [(true, true), (false, false)])
    func ownWinogradMatchesIm2col(withBias: Bool, half: Bool) {
        let random = TorchCPURandomSource(seed: 59)
        var weight = random.normal(shape: [56, 200, 3, 3]) * 0.05
        if half { weight = Self.halfRounded(weight) }
        #expect((CompactWeights(weight).format == .float16) == half)
        let bias = withBias ? random.normal(shape: [56]) : nil
        let plan = ConvolutionPlan(weight: weight, bias: bias, stride: 1, padding: .uniform(1), minimumOneDNNWork: 0)
        // The last three run in several passes of tiles (162 = 2 · 81, 289 in 3 of at most 97, 561 in 5 of at most 113).
        // The last is a tiled decoder's kind of band: 66 rows, wider than tall, more than 8192 pixels.
        let inputs = [[2, 200, 10, 7], [1, 200, 1, 1], [2, 200, 16, 16], [1, 200, 5, 33], [2, 200, 36, 33], [1, 200, 68, 68],
                      [1, 200, 66, 130]]
            .map { random.normal(shape: $0) }
        for x in inputs {
            #expect(plan.usesOwnWinograd(x.shape))
            #expect(relativeError(plan(x), conv2d(x, weight: weight, bias: bias, stride: 1, padding: .uniform(1))) < 1e-5, "\(x.shape)")
        }
        let expected = inputs.map { conv2d($0, weight: weight, bias: bias, stride: 1, padding: .uniform(1)) }
        let jobs = 8
        let errors = LockedErrors(count: jobs)
        DispatchQueue.concurrentPerform(iterations: jobs) { job in errors.set(job, relativeError(plan(inputs[job % 7]), expected[job % 7])) }
        for (job, error) in errors.values.enumerated() { #expect(error < 1e-5, "job \(job): relative error \(error)") }
        // Strides and other padding keep their paths; so do shapes below the work threshold.
        #expect(plan.usesOwnWinograd([2, 200, 64, 64]) && plan.usesOwnWinograd([1, 200, 66, 512]))
        #expect(!ConvolutionPlan(weight: weight, bias: bias, stride: 2, padding: .uniform(1), minimumOneDNNWork: 0).usesOwnWinograd([2, 200, 16, 16]))
        #expect(!ConvolutionPlan(weight: weight, bias: bias, stride: 1, padding: .uniform(0), minimumOneDNNWork: 0).usesOwnWinograd([2, 200, 16, 16]))
        #expect(!ConvolutionPlan(weight: weight, bias: bias, stride: 1, padding: .uniform(1)).usesOwnWinograd([2, 200, 16, 16]))
    }

    /// Layers whose whole Winograd transform exceeds its 64 MiB cap run Winograd in output-channel chunks
    /// (720 channels: 3 chunks of 240), batch 1 in place and batch 2 through a staging copy, with the bias
    /// added after; equal to im2col.
    @Test func chunkedWinogradMatchesIm2col() {
        let random = TorchCPURandomSource(seed: 53)
        let weight = random.normal(shape: [720, 720, 3, 3]) * 0.02, bias = random.normal(shape: [720])
        let plan = ConvolutionPlan(weight: weight, bias: bias, stride: 1, padding: .uniform(1), ownWinograd: false)
        for shape in [[2, 720, 32, 32], [1, 720, 48, 48]] {
            let x = random.normal(shape: shape)
            #expect(!plan.usesWinograd(shape) && !plan.usesGEMM(shape))
            #expect(plan.winogradChunk(shape) == 240)
            #expect(relativeError(plan(x), conv2d(x, weight: weight, bias: bias, stride: 1, padding: .uniform(1))) < 1e-5)
        }
        // Below the Winograd minimum (16×16 at batch 2) the layer is not chunked.
        #expect(plan.winogradChunk([2, 720, 16, 16]) == nil)
    }

    /// Column matrices over the GEMM form's budget (2²⁴ floats) run in bands of output rows, each GEMM
    /// writing its rows in place: several bands per item (the last one shorter), batch 1 and 2.
    @Test func gemmInBandsMatchesIm2col() {
        let random = TorchCPURandomSource(seed: 43)
        let weight = random.normal(shape: [16, 4096, 3, 3]) * 0.02, bias = random.normal(shape: [16])
        let plan = ConvolutionPlan(weight: weight, bias: bias, stride: 1, padding: .uniform(1), minimumOneDNNWork: 0, gemmMaximumPixels: 1024, ownWinograd: false)
        // 36864 · 22 · 22 ≈ 1.1 · 2²⁴ floats: bands of 20 rows and 2 rows; batch 2: the same per item.
        for shape in [[1, 4096, 22, 22], [2, 4096, 21, 21]] {
            let x = random.normal(shape: shape)
            #expect(plan.usesGEMM(shape))
            #expect(relativeError(plan(x), conv2d(x, weight: weight, bias: bias, stride: 1, padding: .uniform(1))) < 1e-5)
        }
    }

    /// Latent's Winograd F(4×4, 3×3) weight transform writes what oneDNN's reorder writes into the same layout
    /// (SD's channel counts: oneDNN picks that layout from about 128 channels; below, its F(2×2, 3×3) layout
    /// goes through oneDNN's reorder), with one and several output-channel blocks per chunk (960 → 320), and
    /// a convolution through it equals im2col.
    @Test(arguments: [(320, 320), (320, 960), (128, 256)])
    func winogradTransformEqualsOneDNNReorder(outChannels: Int, inChannels: Int) throws {
        let random = TorchCPURandomSource(seed: 47)
        let weight = random.normal(shape: [outChannels, inChannels, 3, 3])
        let shape: [Int64] = [1, Int64(inChannels), 96, 96], pad: [Int64] = [1, 1, 1, 1]
        let plan = try #require(latent_conv_plan_create(shape, Int64(outChannels), 3, 3, 1, pad, nil, nil, nil, 0, 1))
        defer { latent_conv_plan_destroy(plan) }
        let count = latent_conv_plan_blocked_weight_count(plan)
        var ours = [Float](repeating: 0, count: count), oneDNN = [Float](repeating: 0, count: count)
        weight.scalars.withUnsafeBufferPointer { w in
            #expect(latent_conv_plan_transform_weights(plan, w.baseAddress!, &ours) == 1)
            #expect(latent_conv_plan_reorder_weights(plan, w.baseAddress!, &oneDNN) == 1)
        }
        #expect(oneDNN.contains { $0 != 0 })
        #expect(relativeError(Tensor(shape: [count], scalars: ours), Tensor(shape: [count], scalars: oneDNN)) < 1e-6)
        let layer = ConvolutionPlan(weight: weight, bias: nil, stride: 1, padding: .uniform(1), minimumOneDNNWork: 0, ownWinograd: false)
        let x = random.normal(shape: [1, inChannels, 96, 96])
        #expect(relativeError(layer(x), conv2d(x, weight: weight, bias: nil, stride: 1, padding: .uniform(1))) < 1e-5)
        #expect(layer.implementation(for: x.shape)?.contains("wino") == true)
    }

    /// The per-call oneDNN buffers come from a pool (one buffer per role, grown on demand, freed by
    /// `releaseScratchBuffers`): calls of growing and shrinking sizes from many threads, with the pool being
    /// freed from other threads meanwhile, all compute the right result.
    @Test func pooledBuffersUnderConcurrentUseAndRelease() {
        let random = TorchCPURandomSource(seed: 37)
        let weight = random.normal(shape: [32, 24, 3, 3]) * 0.1, bias = random.normal(shape: [32])
        let plan = ConvolutionPlan(weight: weight, bias: bias, stride: 1, padding: .uniform(1), minimumOneDNNWork: 0, gemmMaximumPixels: 0, ownWinograd: false)
        // 1.4–3 MB per source: above the pool's 1 MiB floor.
        let inputs = [[1, 24, 120, 120], [1, 24, 176, 176], [1, 24, 130, 100]].map { random.normal(shape: $0) }
        let expected = inputs.map { conv2d($0, weight: weight, bias: bias, stride: 1, padding: .uniform(1)) }
        for i in [0, 1, 0, 2, 1] { #expect(relativeError(plan(inputs[i]), expected[i]) < 1e-5, "input \(i)") }
        let jobs = 18
        let errors = LockedErrors(count: jobs)
        DispatchQueue.concurrentPerform(iterations: jobs) { job in
            if job % 3 == 2 {
                ProcessMemory.releaseScratchBuffers()
                errors.set(job, 0)
            } else {
                let i = job % inputs.count
                errors.set(job, relativeError(plan(inputs[i]), expected[i]))
            }
        }
        for (job, error) in errors.values.enumerated() { #expect(error < 1e-5, "job \(job): relative error \(error)") }
    }

    @Test func compactWeightsAreExact() {
        let random = TorchCPURandomSource(seed: 5)
        let full = random.normal(shape: [64, 33])
        let half = Self.halfRounded(full)
        let bf16 = Tensor(shape: full.shape, scalars: full.scalars.map { Float(bitPattern: ($0 * 1e-6).bitPattern & 0xFFFF_0000) })
        #expect(CompactWeights(full).format == .float32)
        #expect(CompactWeights(half).format == .float16)
        #expect(CompactWeights(bf16).format == .bfloat16)
        for t in [full, half, bf16] { #expect(CompactWeights(t).tensor == t) }
        #expect(CompactWeights(half).byteCount == half.count * 2)
    }
}

/// Per-job results written from concurrent jobs.
final class LockedErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Double]
    init(count: Int) { storage = Array(repeating: .infinity, count: count) }
    func set(_ index: Int, _ value: Double) { lock.withLock { storage[index] = value } }
    var values: [Double] { lock.withLock { storage } }
}
