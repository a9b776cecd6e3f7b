import Foundation
@testable import LatentWeights

/// A tensor to write into a test safetensors file.
struct StoredTensor {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: [UInt8]

    /// Random values in [-2, 2) stored as `dtype` (F32, F16 or BF16), plus the exact fp32 values they denote.
    static func random(_ name: String, _ shape: [Int], dtype: String = "F32", generator: inout SplitMix) -> (StoredTensor, [Float]) {
        let count = shape.reduce(1, *)
        var values: [Float] = []
        var bytes: [UInt8] = []
        for _ in 0..<count {
            let value = Float(generator.nextUnit() * 4 - 2)
            switch dtype {
            case "F16":
                let half = Float16(value)
                values.append(Float(half))
                bytes += littleEndian(UInt64(half.bitPattern), width: 2)
            case "BF16":
                // Truncation is a valid bf16 value; what matters is the round trip of the stored bits.
                let bits = value.bitPattern >> 16
                values.append(Float(bitPattern: bits << 16))
                bytes += littleEndian(UInt64(bits), width: 2)
            default:
                values.append(value)
                bytes += littleEndian(UInt64(value.bitPattern), width: 4)
            }
        }
        return (StoredTensor(name: name, dtype: dtype, shape: shape, bytes: bytes), values)
    }

    static func littleEndian(_ value: UInt64, width: Int) -> [UInt8] {
        (0..<width).map { UInt8(truncatingIfNeeded: value >> (UInt64($0) * 8)) }
    }
}

/// A small deterministic generator (SplitMix64) for test data.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Writes safetensors files the way the reference writer does (tensors packed in order, header padded).
enum SafeTensorsWriter {
    /// The file bytes for `tensors`.
    static func encode(_ tensors: [StoredTensor], metadata: [String: String]? = nil) -> Data {
        var entries: [String] = []
        var body: [UInt8] = []
        if let metadata {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(quoted($0.key)):\(quoted($0.value))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        for tensor in tensors {
            let begin = body.count
            body += tensor.bytes
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(quoted(tensor.name)):{\"dtype\":\"\(tensor.dtype)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(begin),\(body.count)]}")
        }
        var header = "{" + entries.joined(separator: ",") + "}"
        while (header.utf8.count + 8) % 8 != 0 { header += " " }
        return raw(header: header, body: body)
    }

    /// A file with an arbitrary header text and body.
    static func raw(header: String, body: [UInt8], declaredLength: UInt64? = nil) -> Data {
        let headerBytes = Array(header.utf8)
        let length = declaredLength ?? UInt64(headerBytes.count)
        return Data(StoredTensor.littleEndian(length, width: 8) + headerBytes + body)
    }

    static func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
}

/// A temporary folder removed when the test ends.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("latent-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `data` to `name` (creating subfolders) and returns its URL.
    @discardableResult
    func write(_ data: Data, to name: String) throws -> URL {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file)
        return file
    }
}

/// The error a throwing expression raised, as `WeightsError`.
func weightsError(_ body: () throws -> Void) -> WeightsError? {
    do {
        try body()
        return nil
    } catch let error as WeightsError {
        return error
    } catch {
        return nil
    }
}
