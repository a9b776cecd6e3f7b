import ArgumentParser
import Foundation
import LatentCore
import LatentServer

/// `latent serve`: the HTTP server (A1111, OpenAI and async-job APIs over one queue).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve image generation over HTTP (A1111 /sdapi/v1, OpenAI /v1/images, async /v1/jobs).",
        discussion: """
            Binds to loopback unless --host says otherwise. With --api-key or --api-keys-file every route but \
            /v2/health/* needs 'Authorization: Bearer KEY'. SIGTERM drains: readiness turns 503, the running \
            job stops after its current step and stays queued (with --data-dir) for the next start.
            """)

    @Option(name: .long, help: "The default model: a diffusers folder or a .safetensors checkpoint.")
    var model: String

    @Option(name: .long, help: "A folder of further models, addressable by name only.")
    var modelsDir: String?

    @Option(name: .long, help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Port to bind.")
    var port: Int = 7860

    @Option(name: .long, help: "Most jobs waiting; more get 429 with Retry-After.")
    var maxQueue: Int = 16

    @Option(name: .long, help: "Seconds a job may run before it is stopped (0 = no limit).")
    var jobTimeout: Double = 600

    @Option(name: .long, help: "Largest width × height a request may ask for.")
    var maxPixels: Int = 1024 * 1024

    @Option(name: .long, help: "Most denoising steps a request may ask for.")
    var maxSteps: Int = 150

    @Option(name: .long, help: "Most images per request.")
    var maxImages: Int = 4

    @Option(name: .long, help: "Largest request body in bytes.")
    var maxBodyBytes: Int = 4 << 20

    @Option(name: .long, help: "Largest input image (init image or mask) in encoded bytes.")
    var maxImageBytes: Int = 4 << 20

    @Option(name: .long, help: "Largest input image in pixels (width × height).")
    var maxInputPixels: Int = 4096 * 4096

    @Option(name: .long, help: "Most estimated model weight memory kept loaded, e.g. 4GB or 512MB (LRU eviction).")
    var maxModelMemory: String?

    @Option(name: .long, help: "An API key clients must send as 'Authorization: Bearer KEY'.")
    var apiKey: String?

    @Option(name: .long, help: "A file with one API key per line.")
    var apiKeysFile: String?

    @Option(name: .long, help: "Folder for the job database (jobs survive restarts); default: memory only.")
    var dataDir: String?

    @Option(name: .long, help: "How many models may stay loaded at once.")
    var maxLoadedModels: Int = 1

    @Option(name: .long, help: "Seconds finished results are kept.")
    var resultTtl: Double = 3600

    @Option(name: .long, help: "Step-level batching: most concurrent jobs sharing one UNet call per step (1 = off).")
    var maxBatch: Int = 1

    @Option(name: .long, help: "Arithmetic of the UNet and VAE: fp32 (default, equal to diffusers), bf16 or int8 (faster, approximate).")
    var weights: ArithmeticPrecision = .fp32

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1…65535") }
        guard maxQueue >= 1, maxSteps >= 1, maxPixels >= 64, maxImages >= 1, maxBodyBytes >= 1024, maxLoadedModels >= 1 else {
            throw ValidationError("limits must be positive (--max-queue, --max-steps, --max-images ≥ 1, --max-pixels ≥ 64, --max-body-bytes ≥ 1024)")
        }
        guard maxImageBytes >= 1024, maxInputPixels >= 64 else {
            throw ValidationError("--max-image-bytes must be ≥ 1024 and --max-input-pixels ≥ 64")
        }
        if let maxModelMemory, Self.parseBytes(maxModelMemory) == nil {
            throw ValidationError("--max-model-memory '\(maxModelMemory)' is not a size such as 4GB, 512MB or 1073741824")
        }
    }

    /// `4GB`, `512MB`, `1.5G`, `300M`, `64K` or plain bytes (binary units: 1 GB = 2^30 bytes).
    static func parseBytes(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let (kib, mib, gib) = (1024.0, 1024.0 * 1024, 1024.0 * 1024 * 1024)
        let units: [(String, Double)] = [
            ("GIB", gib), ("MIB", mib), ("KIB", kib), ("GB", gib), ("MB", mib), ("KB", kib), ("G", gib), ("M", mib),
            ("K", kib), ("B", 1),
        ]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let value = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value > 0 else { return nil }
            return Int(value * scale)
        }
        return Int(trimmed).flatMap { $0 > 0 ? $0 : nil }
    }

    func run() async throws {
        // glibc keeps a heap arena per thread that ever allocated, and freed model weights stay spread over
        // them: RSS grew 7–11 % over 50 model switches, and fell instead with two arenas
        // (bench/model_switch.py, bench/load-results.md).
        ProcessMemory.limitHeapArenas(2)
        var keys = apiKey.map { [$0] } ?? []
        if let apiKeysFile {
            let text = try String(contentsOfFile: apiKeysFile, encoding: .utf8)
            keys += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        let arguments = ServerArguments(
            model: URL(fileURLWithPath: model), modelsDirectory: modelsDir.map { URL(fileURLWithPath: $0) }, host: host,
            port: port,
            queue: .init(maxQueue: maxQueue, jobTimeout: jobTimeout > 0 ? jobTimeout : nil, resultTTL: resultTtl),
            limits: .init(
                maxPixels: maxPixels, maxSteps: maxSteps, maxImages: maxImages, maxBodyBytes: maxBodyBytes,
                maxImageBytes: maxImageBytes, maxInputPixels: maxInputPixels),
            apiKeys: keys, dataDirectory: dataDir.map { URL(fileURLWithPath: $0) }, maxLoadedModels: maxLoadedModels,
            maxBatch: max(1, maxBatch), maxModelBytes: maxModelMemory.flatMap(Self.parseBytes), precision: weights)
        do {
            try await runServer(arguments)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
