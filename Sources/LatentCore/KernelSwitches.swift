import Foundation

/// A/B switches between kernel implementations, from the comma-separated `LATENT_KERNELS` environment
/// variable (read once per process): `conv-im2col` (no oneDNN convolutions), `conv-direct` (no Winograd),
/// `conv-no-gemm` (no GEMM convolutions at low resolution), `conv-no-wino43` (no
/// Latent's own Winograd for 3×3 layers), `gemm-openblas` (every GEMM on OpenBLAS), `gemm-no-matmul` (no
/// oneDNN matmul primitive for linear layers),
/// `attention-gemm` (no fused attention). For benchmarks (docs/performance.md); results are the same to
/// rounding either way.
enum KernelSwitches {
    private static let names: Set<String> = Set(
        (ProcessInfo.processInfo.environment["LATENT_KERNELS"] ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) })

    /// Whether `name` is listed in `LATENT_KERNELS`.
    static func isSet(_ name: String) -> Bool { names.contains(name) }
}
