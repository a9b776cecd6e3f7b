// swift-tools-version: 6.0
import PackageDescription

/// Compiler settings shared by every Swift target. The test command builds in release (numeric code is far
/// too slow unoptimised), so release builds keep `-enable-testing` for the suites' `@testable` imports.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .unsafeFlags(["-enable-testing"]),
]

let package = Package(
    name: "Latent",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "latent", targets: ["latent"]),
        .library(name: "LatentPipeline", targets: ["LatentPipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Native math: OpenBLAS's CBLAS interface (Debian `libopenblas-dev`).
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        // zlib's gzip reader for the bundled CLIP merge list (Debian `zlib1g-dev`).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // oneDNN's C API (Debian `libdnnl-dev`) for convolutions.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        // SQLite for the server's job store (Debian `libsqlite3-dev`).
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        // Hand-written C kernels (softmax, norms, fp16 conversion, oneDNN convolution plans) with vector extensions.
        .target(
            name: "CLatentKernels",
            dependencies: ["CDNNL"],
            cSettings: [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-mf16c"])],
            // libgomp: the OpenMP runtime oneDNN runs on, whose team Latent's own loops share (parallel.c).
            linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]
        ),
        .target(
            name: "LatentCore",
            dependencies: ["COpenBLAS", "CLatentKernels"],
            swiftSettings: swiftSettings
        ),
        .target(name: "LatentWeights", dependencies: ["LatentCore", "CLatentKernels"], swiftSettings: swiftSettings),
        .target(
            name: "LatentTokenizer",
            dependencies: ["CZlib"],
            resources: [.copy("Resources/bpe_simple_vocab_16e6.txt.gz")],
            swiftSettings: swiftSettings,
            linkerSettings: [.linkedLibrary("z")]
        ),
        .target(name: "LatentModels", dependencies: ["LatentCore", "LatentWeights"], swiftSettings: swiftSettings),
        .target(name: "LatentSchedulers", dependencies: ["LatentCore"], swiftSettings: swiftSettings),
        // Image codecs: libpng, libjpeg-turbo, libwebp through a small C shim (setjmp stays in C).
        .target(
            name: "CLatentImageIO",
            linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg"), .linkedLibrary("webp"), .linkedLibrary("z")]
        ),
        .target(name: "LatentImageIO", dependencies: ["CLatentImageIO"], swiftSettings: swiftSettings),
        .target(
            name: "LatentPipeline",
            dependencies: [
                "LatentCore", "LatentWeights", "LatentTokenizer", "LatentModels", "LatentSchedulers", "LatentImageIO",
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "LatentTesting", dependencies: ["LatentCore", "LatentWeights"], swiftSettings: swiftSettings),
        // HTTP server: A1111 / OpenAI / async-jobs APIs over one queue and engine.
        .target(
            name: "LatentServer",
            dependencies: [
                "LatentCore", "LatentWeights", "LatentPipeline", "LatentImageIO", "CSQLite",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("Resources/web")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "latent",
            dependencies: [
                "LatentPipeline", "LatentServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "LatentCoreTests", dependencies: ["LatentCore", "LatentTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "LatentWeightsTests", dependencies: ["LatentWeights", "LatentTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "LatentTokenizerTests", dependencies: ["LatentTokenizer", "LatentTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "LatentModelsTests", dependencies: ["LatentModels", "LatentTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "LatentSchedulersTests", dependencies: ["LatentSchedulers", "LatentTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "LatentImageIOTests", dependencies: ["LatentImageIO", "LatentTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "LatentPipelineTests", dependencies: ["LatentPipeline", "LatentTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "LatentServerTests",
            dependencies: [
                "LatentServer", "LatentPipeline", "LatentImageIO", "LatentTesting",
                // In-process requests through the router (HummingbirdTesting would pull in AsyncHTTPClient and
                // BoringSSL, far too slow to build on 2 cores for what the router tests need).
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "LatentCommandTests", dependencies: ["latent", "LatentTesting"], swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
