import ArgumentParser
import Foundation
import LatentCore
import LatentModels
import LatentPipeline
import LatentSchedulers
import LatentWeights

/// `latent bench`: times one generation phase by phase (text encoding, denoising steps, VAE decoding) and
/// reports the process's peak resident memory.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time text encoding, UNet steps and VAE decoding of one generation; report peak RSS.",
        discussion: """
            Runs the ordinary generation path. The UNet step time is the mean over all denoising steps and \
            includes the classifier-free-guidance pair (a batch-2 pass) and the scheduler update. With --json \
            the result is one JSON object on one line.
            """)

    @Option(name: .long, help: "A diffusers model folder or a single .safetensors checkpoint.")
    var model: String

    @Option(name: .long, help: "Image width in pixels (default: the model's size).")
    var width: Int?

    @Option(name: .long, help: "Image height in pixels (default: the model's size).")
    var height: Int?

    @Option(name: .long, help: "Denoising steps.")
    var steps: Int = 3

    @Option(name: .long, help: "Classifier-free guidance scale; above 1 each step is a batch-2 UNet pass.")
    var cfgScale: Float = 7

    @Option(name: .long, help: "Sampler name (see `latent schedulers`); default: the model's own scheduler.")
    var scheduler: String?

    @Option(name: .long, help: "Seed of the random stream.")
    var seed: UInt64 = 42

    @Option(name: .long, help: "Threads to split the work over, Latent's own and the native libraries' (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "The prompt to encode.")
    var prompt: String = "a photograph of an astronaut riding a horse"

    @Option(name: .long, help: "Arithmetic of the UNet and VAE: fp32 (default), bf16 or int8.")
    var weights: ArithmeticPrecision = .fp32

    @Flag(name: .long, help: "Print one JSON object on one line instead of a table.")
    var json = false

    @Flag(name: .long, help: "Stream weights from the file instead of holding them (the pipeline's low-memory mode).")
    var lowMemory = false

    @Flag(name: .long, help: "Only decode random latents of the given size with the VAE (diffusers folders; no UNet loaded).")
    var decodeOnly = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        do {
            try bench()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func bench() throws {
        if let threads {
            setThreadCount(threads)
        }
        if decodeOnly { return try benchDecode() }
        let kind = try scheduler.map { try SchedulerChoice(named: $0) }
        let loadStart = Date()
        let pipeline = try StableDiffusionPipeline.load(
            from: URL(fileURLWithPath: model), precision: weights, releasingTextEncoder: true, lowMemory: lowMemory)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let request = try pipeline.validated(GenerationRequest(
            prompt: prompt, negativePrompt: "", stepCount: steps, guidanceScale: cfgScale, seed: seed,
            width: width, height: height, scheduler: kind))

        // Text encoding is timed on its own; the generation below encodes again inside its first step,
        // and that time is subtracted from the step total.
        let encodeStart = Date(), encodeCPU = Self.processCPUSeconds()
        _ = try pipeline.encodePrompt(
            request.prompt, negativePrompt: request.negativePrompt, classifierFreeGuidance: request.usesClassifierFreeGuidance)
        let textEncodeSeconds = Date().timeIntervalSince(encodeStart)
        let textEncodeCPU = Self.processCPUSeconds() - encodeCPU

        var stepCount = 0
        var lastStep = Date(), lastStepCPU = 0.0
        let generateStart = Date(), generateCPU = Self.processCPUSeconds()
        var firstStep = generateStart
        LayerProfile.reset()
        _ = try pipeline.generate(request) { progress in
            stepCount = progress.stepCount
            lastStep = Date()
            lastStepCPU = Self.processCPUSeconds()
            if LayerProfile.isEnabled, progress.step == 1 || progress.step == progress.stepCount {
                // The first step apart: it also creates every layer's oneDNN plans.
                let since = progress.step == 1 ? generateStart : firstStep
                let label = progress.step == 1 ? "UNet step 1 (with text encoding)" : "UNet steps 2…\(progress.stepCount)"
                Self.writeProfile(label, seconds: lastStep.timeIntervalSince(since))
                firstStep = lastStep
            }
            return true
        }
        let end = Date(), endCPU = Self.processCPUSeconds()
        if LayerProfile.isEnabled { Self.writeProfile("VAE decode", seconds: end.timeIntervalSince(lastStep)) }
        let unetCPU = max(0, lastStepCPU - generateCPU - textEncodeCPU)
        let unetSeconds = max(0, lastStep.timeIntervalSince(generateStart) - textEncodeSeconds)
        let result = BenchResult(
            width: request.width ?? pipeline.defaultWidth, height: request.height ?? pipeline.defaultHeight,
            steps: stepCount, guided: request.usesClassifierFreeGuidance, loadSeconds: loadSeconds,
            textEncodeSeconds: textEncodeSeconds, unetStepSeconds: unetSeconds / Double(max(1, stepCount)),
            vaeDecodeSeconds: end.timeIntervalSince(lastStep), peakRSSBytes: Self.peakResidentBytes(),
            cpuSeconds: endCPU, textEncodeCPUSeconds: textEncodeCPU,
            unetStepCPUSeconds: unetCPU / Double(max(1, stepCount)), vaeDecodeCPUSeconds: endCPU - lastStepCPU)
        print(json ? result.jsonLine : result.table)
    }

    /// `LATENT_PROFILE=1`: the phase's per-layer table on standard error, then a fresh count for the next one.
    private static func writeProfile(_ phase: String, seconds: Double) {
        FileHandle.standardError.write(Data("\n\(phase) (\(String(format: "%.2f", seconds)) s):\n\(LayerProfile.report(total: seconds))\n".utf8))
        LayerProfile.reset()
    }

    /// `--decode-only`: the VAE of a diffusers folder decodes seeded random latents of the requested size
    /// (tiled like the pipeline); reports load and decode time and the peak RSS.
    private func benchDecode() throws {
        let loadStart = Date()
        let directory = try ModelDirectory(url: URL(fileURLWithPath: model))
        let store = WeightStore(try directory.weights("vae"), streamingWeights: lowMemory)
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true
        let configuration = try decoder.decode(AutoencoderKLConfiguration.self, from: try directory.configData("vae"))
        let vae = try AutoencoderKL(configuration: configuration, weights: store.root)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let factor = configuration.downscaleFactor
        let (w, h) = (width ?? 512, height ?? 512)
        let latents = TorchCPURandomSource(seed: seed).normal(shape: [1, configuration.latentChannels, h / factor, w / factor])
        let start = Date(), startCPU = Self.processCPUSeconds()
        let image = lowMemory ? vae.decode(latents, tiled: true) : vae.decode(latents)
        if LayerProfile.isEnabled { Self.writeProfile("VAE decode", seconds: Date().timeIntervalSince(start)) }
        let result = BenchResult(
            width: image.shape[3], height: image.shape[2], steps: 0, guided: false, loadSeconds: loadSeconds,
            textEncodeSeconds: 0, unetStepSeconds: 0, vaeDecodeSeconds: Date().timeIntervalSince(start),
            peakRSSBytes: Self.peakResidentBytes(), cpuSeconds: Self.processCPUSeconds(), textEncodeCPUSeconds: 0,
            unetStepCPUSeconds: 0, vaeDecodeCPUSeconds: Self.processCPUSeconds() - startCPU)
        print(json ? result.jsonLine : result.table)
    }

    /// `VmHWM` from /proc/self/status: the peak resident set of this process, in bytes (0 if unavailable).
    static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
        }
        return 0
    }

    /// User plus system CPU time of this process so far, in seconds.
    static func processCPUSeconds() -> Double {
        // glibc's clock() is the CPU time of the whole process (all threads).
        Double(clock()) / Double(CLOCKS_PER_SEC)
    }
}

/// One benchmark's measurements.
struct BenchResult: Codable {
    var width: Int
    var height: Int
    var steps: Int
    var guided: Bool
    var loadSeconds: Double
    var textEncodeSeconds: Double
    var unetStepSeconds: Double
    var vaeDecodeSeconds: Double
    var peakRSSBytes: Int
    var cpuSeconds: Double
    /// CPU seconds (all threads) per phase: steadier than wall time on a shared machine.
    var textEncodeCPUSeconds: Double
    var unetStepCPUSeconds: Double
    var vaeDecodeCPUSeconds: Double

    enum CodingKeys: String, CodingKey {
        case width, height, steps, guided
        case loadSeconds = "load_s"
        case textEncodeSeconds = "text_encode_s"
        case unetStepSeconds = "unet_step_s"
        case vaeDecodeSeconds = "vae_decode_s"
        case peakRSSBytes = "peak_rss_bytes"
        case cpuSeconds = "cpu_s"
        case textEncodeCPUSeconds = "text_encode_cpu_s"
        case unetStepCPUSeconds = "unet_step_cpu_s"
        case vaeDecodeCPUSeconds = "vae_decode_cpu_s"
    }

    var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    var table: String {
        func row(_ name: String, _ value: String) -> String {
            name.padding(toLength: 22, withPad: " ", startingAt: 0) + value
        }
        let gib = Double(peakRSSBytes) / Double(1 << 30)
        return [
            "latent bench: \(width)×\(height), \(steps) steps, \(guided ? "CFG (batch 2)" : "no CFG")",
            row("load", String(format: "%.2f s", loadSeconds)),
            row("text encode", String(format: "%.3f s (CPU %.2f s)", textEncodeSeconds, textEncodeCPUSeconds)),
            row("UNet step (mean)", String(format: "%.3f s (CPU %.2f s)", unetStepSeconds, unetStepCPUSeconds)),
            row("VAE decode", String(format: "%.3f s (CPU %.2f s)", vaeDecodeSeconds, vaeDecodeCPUSeconds)),
            row("peak RSS", String(format: "%.2f GiB", gib) + " (\(peakRSSBytes) bytes)"),
            row("process CPU time", String(format: "%.1f s", cpuSeconds)),
        ].joined(separator: "\n")
    }
}
