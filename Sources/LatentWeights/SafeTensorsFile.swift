import CLatentKernels
import Foundation
import LatentCore

/// A `.safetensors` file, memory-mapped and validated at open.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of JSON mapping each tensor name to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the data section that follows the
/// header), and an optional `__metadata__` object of strings. Every entry is checked when the file is opened,
/// so `load` can only fail for a dtype Latent cannot widen (reported with the tensor's name).
///
/// `@unchecked Sendable` invariant: every stored property is immutable after `init`, and the mapping is
/// read-only (see `MappedFile`).
public final class SafeTensorsFile: TensorSource, @unchecked Sendable {
    /// One tensor as described by the header.
    public struct Entry: Sendable, Equatable {
        /// The tensor's name.
        public let name: String
        /// The dtype string exactly as stored (`F32`, `F16`, `BF16`, `I64`, …).
        public let dtypeName: String
        /// The dimensions, outermost first.
        public let shape: [Int]
        /// Byte range in the file (absolute, i.e. already offset by the header).
        public let byteRange: Range<Int>

        /// The dtype, when Latent can widen it to fp32.
        public var dtype: DType? { DType(rawValue: dtypeName) }
        /// The number of elements.
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// Byte widths of every dtype the safetensors format defines; widths are needed to validate entries
    /// even for dtypes Latent does not load.
    static let knownDTypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4,
        "I64": 8, "U64": 8, "F64": 8,
    ]

    /// The mapped file.
    public let file: MappedFile
    /// The file's location.
    public var url: URL { file.url }
    /// The `__metadata__` strings (empty when absent).
    public let metadata: [String: String]
    /// Every entry by name.
    public let entries: [String: Entry]
    /// Tensor names in file order (by data offset), for deterministic iteration.
    public let keys: [String]

    /// The path, for error messages.
    public var sourceName: String { file.url.path }

    /// Opens, maps and validates a safetensors file.
    /// - Parameter url: The file to open.
    /// - Throws: `WeightsError.missingFile` when absent; `WeightsError.invalidFile` naming the path and the
    ///   reason for an empty, truncated or malformed file.
    public init(contentsOf url: URL) throws {
        let file = try MappedFile(contentsOf: url)
        self.file = file
        let parsed = try file.withBytes { try Self.parse($0, path: url.path) }
        metadata = parsed.metadata
        entries = parsed.entries
        keys = parsed.entries.values.sorted { ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name) }
            .map(\.name)
    }

    /// The dtype and shape of `key`; `nil` when absent or stored in a dtype Latent cannot widen
    /// (see `entries` for those).
    public func info(for key: String) -> TensorInfo? {
        guard let entry = entries[key], let dtype = entry.dtype else { return nil }
        return TensorInfo(dtype: dtype, shape: entry.shape)
    }

    /// Reads `key` and widens it to fp32 (F16 through F16C, BF16 by a 16-bit shift).
    /// - Throws: `WeightsError.missingTensor` or `.unsupportedDType`, naming the tensor and file.
    public func load(_ key: String) throws -> Tensor {
        guard let entry = entries[key] else { throw WeightsError.missingTensor(key: key, source: sourceName) }
        guard let dtype = entry.dtype else {
            throw WeightsError.unsupportedDType(key: key, dtype: entry.dtypeName, source: sourceName)
        }
        let count = entry.elementCount
        return Tensor(uninitializedShape: entry.shape) { output in
            guard count > 0 else { return }
            file.withBytes(offset: entry.byteRange.lowerBound, length: entry.byteRange.count) { raw in
                Self.widen(raw, dtype: dtype, count: count, into: output)
            }
        }
    }

    /// Calls `body` with the stored bytes of `key`, unconverted (little-endian, dtype as in the header).
    /// - Parameters:
    ///   - key: The tensor name.
    ///   - body: Receives the bytes; they are valid only inside the call.
    /// - Returns: What `body` returns.
    /// - Throws: `WeightsError.missingTensor`, or what `body` throws.
    public func withRawBytes<R>(_ key: String, _ body: (Entry, UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[key] else { throw WeightsError.missingTensor(key: key, source: sourceName) }
        return try file.withBytes(offset: entry.byteRange.lowerBound, length: entry.byteRange.count) {
            try body(entry, $0)
        }
    }

    /// The stored bytes of `key` in the mapping; each use drops the pages again afterwards (`MappedFile`).
    public func streamedBytes(for key: String) -> (any StreamedWeightBytes)? {
        guard let entry = entries[key], entry.dtype != nil, !entry.byteRange.isEmpty else { return nil }
        return MappedTensorBytes(file: file, range: entry.byteRange)
    }

    /// Converts `count` stored elements to fp32.
    static func widen(_ raw: UnsafeRawBufferPointer, dtype: DType, count: Int, into output: UnsafeMutableBufferPointer<Float>) {
        let source = raw.baseAddress!
        let destination = output.baseAddress!
        switch dtype {
        case .float32:
            // memcpy tolerates the arbitrary alignment of offsets inside the mapping.
            memcpy(destination, source, count * 4)
        case .float16, .bfloat16:
            let convert = dtype == .float16 ? latent_f16_to_f32 : latent_bf16_to_f32
            if Int(bitPattern: source) % MemoryLayout<UInt16>.alignment == 0 {
                convert(source.assumingMemoryBound(to: UInt16.self), destination, count)
            } else {
                // Odd offsets are legal in the format; stage through an aligned copy.
                let staging = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                    memcpy(buffer.baseAddress!, source, count * 2)
                    initialized = count
                }
                staging.withUnsafeBufferPointer { convert($0.baseAddress!, destination, count) }
            }
        }
    }

    // MARK: - Header parsing

    private struct Parsed {
        var metadata: [String: String]
        var entries: [String: Entry]
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Parsed {
        func invalid(_ reason: String) -> WeightsError { .invalidFile(path: path, reason: reason) }
        guard bytes.count > 0 else { throw invalid("empty file") }
        guard bytes.count >= 8 else {
            throw invalid("file is \(bytes.count) bytes, too short for the 8-byte header length")
        }
        var headerLength: UInt64 = 0
        for index in (0..<8).reversed() { headerLength = headerLength << 8 | UInt64(bytes[index]) }
        let available = bytes.count - 8
        guard headerLength <= UInt64(available) else {
            let isZip = bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04
            if isZip { throw invalid("this is a PyTorch zip (pickle) checkpoint, not safetensors") }
            throw invalid("header length \(headerLength) exceeds the \(available) bytes after the length field "
                + "(truncated or not a safetensors file)")
        }
        let headerCount = Int(headerLength)
        let headerData = Data(bytes: bytes.baseAddress! + 8, count: headerCount)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerData, options: [])
        } catch {
            throw invalid("header is not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw invalid("header is not a JSON object") }

        let dataStart = 8 + headerCount
        let dataSize = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let strings = value as? [String: Any] else { throw invalid("__metadata__ is not an object") }
                for (key, item) in strings {
                    guard let text = item as? String else {
                        throw invalid("__metadata__ value '\(key)' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            entries[name] = try parseEntry(name: name, value: value, dataStart: dataStart, dataSize: dataSize, path: path)
        }
        try checkOverlaps(entries.values, dataStart: dataStart, path: path)
        return Parsed(metadata: metadata, entries: entries)
    }

    private static func parseEntry(name: String, value: Any, dataStart: Int, dataSize: Int, path: String) throws -> Entry {
        func invalid(_ reason: String) -> WeightsError { .invalidFile(path: path, reason: "tensor '\(name)' " + reason) }
        guard let fields = value as? [String: Any] else { throw invalid("is not described by a JSON object") }
        guard let dtypeName = fields["dtype"] as? String else { throw invalid("has no dtype") }
        guard let elementSize = knownDTypeSizes[dtypeName] else { throw invalid("has unknown dtype '\(dtypeName)'") }
        guard let shapeValues = fields["shape"] as? [Any], let shape = integers(shapeValues),
              shape.allSatisfy({ $0 >= 0 })
        else { throw invalid("has no valid shape (expected an array of non-negative integers)") }
        guard let offsetValues = fields["data_offsets"] as? [Any], let offsets = integers(offsetValues),
              offsets.count == 2, offsets[0] >= 0
        else { throw invalid("has no valid data_offsets (expected [begin, end])") }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else { throw invalid("has data_offsets [\(begin), \(end)] with end before begin") }
        guard end <= dataSize else {
            throw invalid("has data_offsets [\(begin), \(end)] outside the data section of \(dataSize) bytes")
        }
        var expected = elementSize
        for dimension in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw invalid("has shape \(shape) too large to address") }
            expected = product
        }
        guard end - begin == expected else {
            throw invalid("has \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(expected)")
        }
        return Entry(name: name, dtypeName: dtypeName, shape: shape, byteRange: (dataStart + begin)..<(dataStart + end))
    }

    /// JSON numbers as integers; `nil` when any element is not an exact integer.
    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let number = value as? NSNumber, let integer = Int(exactly: number.doubleValue),
                  number.int64Value == Int64(integer)
            else { return nil }
            result.append(integer)
        }
        return result
    }

    private static func checkOverlaps(_ entries: some Sequence<Entry>, dataStart: Int, path: String) throws {
        let sorted = entries.filter { !$0.byteRange.isEmpty }
            .sorted { ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name) }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where next.byteRange.lowerBound < previous.byteRange.upperBound {
            func offsets(_ entry: Entry) -> String {
                "[\(entry.byteRange.lowerBound - dataStart), \(entry.byteRange.upperBound - dataStart)]"
            }
            throw WeightsError.invalidFile(
                path: path,
                reason: "tensors '\(previous.name)' \(offsets(previous)) and '\(next.name)' \(offsets(next)) overlap"
            )
        }
    }
}
