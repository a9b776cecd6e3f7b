import LatentCore

/// One tensor's bytes inside a memory-mapped file, read on every use; the pages are dropped from the
/// resident set after each use (`MappedFile.withBytes(offset:length:_:)`), so streamed weights cost
/// memory only while a layer runs.
struct MappedTensorBytes: StreamedWeightBytes {
    let file: MappedFile
    let range: Range<Int>

    func withBytes<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        file.withBytes(offset: range.lowerBound, length: range.count) { body($0.baseAddress!) }
    }
}

/// A tail of another tensor's bytes (a row slice of a stored tensor).
struct OffsetWeightBytes: StreamedWeightBytes {
    let base: any StreamedWeightBytes
    let byteOffset: Int

    func withBytes<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        base.withBytes { body($0 + byteOffset) }
    }
}
