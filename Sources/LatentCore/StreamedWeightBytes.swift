/// The stored bytes of one tensor, read from a memory-mapped file on every use and dropped from the
/// resident set afterwards (`--low-memory`: weights are never held in memory between uses).
public protocol StreamedWeightBytes: Sendable {
    /// Calls `body` with the tensor's bytes (little-endian, `CompactWeights.Format` as declared by the
    /// holder); the pointer is valid only inside `body`, and the pages may leave memory after it returns.
    func withBytes<R>(_ body: (UnsafeRawPointer) -> R) -> R
}
