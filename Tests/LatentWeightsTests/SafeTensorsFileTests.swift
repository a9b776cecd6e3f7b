import Foundation
import LatentCore
import Testing
@testable import LatentWeights

@Suite("SafeTensorsFile")
struct SafeTensorsFileTests {
    @Test("round-trips F32, F16 and BF16 tensors, with metadata and file-order keys")
    func roundTrip() throws {
        let folder = try TemporaryDirectory()
        var generator = SplitMix(seed: 7)
        let (a, aValues) = StoredTensor.random("a.weight", [3, 5], dtype: "F32", generator: &generator)
        let (b, bValues) = StoredTensor.random("b.weight", [2, 3, 4], dtype: "F16", generator: &generator)
        let (c, cValues) = StoredTensor.random("c.bias", [17], dtype: "BF16", generator: &generator)
        let (scalar, scalarValues) = StoredTensor.random("scalar", [], dtype: "F32", generator: &generator)
        let empty = StoredTensor(name: "empty", dtype: "F32", shape: [0, 4], bytes: [])
        let url = try folder.write(
            SafeTensorsWriter.encode([a, b, c, scalar, empty], metadata: ["format": "pt"]), to: "model.safetensors")

        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.keys == ["a.weight", "b.weight", "c.bias", "scalar", "empty"])
        #expect(file.metadata == ["format": "pt"])
        #expect(file.info(for: "b.weight") == TensorInfo(dtype: .float16, shape: [2, 3, 4]))
        #expect(file.info(for: "c.bias") == TensorInfo(dtype: .bfloat16, shape: [17]))
        #expect(file.info(for: "nope") == nil)
        #expect(try file.load("a.weight") == Tensor(shape: [3, 5], scalars: aValues))
        #expect(try file.load("b.weight") == Tensor(shape: [2, 3, 4], scalars: bValues))
        #expect(try file.load("c.bias") == Tensor(shape: [17], scalars: cValues))
        #expect(try file.load("scalar") == Tensor(shape: [], scalars: scalarValues))
        #expect(try file.load("empty").shape == [0, 4])
        let raw = try file.withRawBytes("b.weight") { entry, bytes in (entry.dtypeName, Array(bytes)) }
        #expect(raw.0 == "F16")
        #expect(raw.1 == b.bytes)
        #expect(weightsError { _ = try file.load("nope") }?.description
            == "missing tensor 'nope' in \(url.path)")
    }

    @Test("widens every F16 and BF16 bit pattern exactly, including at odd offsets")
    func exhaustiveWidening() throws {
        let folder = try TemporaryDirectory()
        let patterns = (0...UInt16.max).flatMap { StoredTensor.littleEndian(UInt64($0), width: 2) }
        // A 1-byte U8 tensor first puts the second F16 copy at an odd offset, exercising the unaligned path.
        let tensors = [
            StoredTensor(name: "half", dtype: "F16", shape: [65_536], bytes: patterns),
            StoredTensor(name: "brain", dtype: "BF16", shape: [65_536], bytes: patterns),
            StoredTensor(name: "pad", dtype: "U8", shape: [1], bytes: [9]),
            StoredTensor(name: "half_odd", dtype: "F16", shape: [65_536], bytes: patterns),
        ]
        let file = try SafeTensorsFile(contentsOf: try folder.write(SafeTensorsWriter.encode(tensors), to: "all.safetensors"))
        let half = try file.load("half").scalars
        let halfOdd = try file.load("half_odd").scalars
        let brain = try file.load("brain").scalars
        var halfMismatches = 0, brainMismatches = 0
        for bits in 0...UInt16.max {
            let index = Int(bits)
            let halfReference = Float(Float16(bitPattern: bits))
            let halfDecoded = decode(bits, exponentBits: 5, mantissaBits: 10)
            if !sameValue(halfReference, halfDecoded) || !sameValue(half[index], halfReference)
                || !sameValue(halfOdd[index], halfReference) { halfMismatches += 1 }
            if !sameValue(brain[index], decode(bits, exponentBits: 8, mantissaBits: 7)) { brainMismatches += 1 }
        }
        #expect(halfMismatches == 0)
        #expect(brainMismatches == 0)
        #expect(weightsError { _ = try file.load("pad") }?.description
            == "tensor 'pad' in \(file.sourceName) has unsupported dtype U8 (supported: F32, F16, BF16)")
        #expect(file.info(for: "pad") == nil)
        #expect(file.entries["pad"]?.dtypeName == "U8")
    }

    /// An IEEE-style binary16/bfloat16 decoder from sign, exponent and mantissa fields.
    private func decode(_ bits: UInt16, exponentBits: Int, mantissaBits: Int) -> Float {
        let sign: Float = bits >> 15 == 1 ? -1 : 1
        let exponent = Int(bits >> UInt16(mantissaBits)) & ((1 << exponentBits) - 1)
        let mantissa = Float(Int(bits) & ((1 << mantissaBits) - 1))
        let bias = (1 << (exponentBits - 1)) - 1
        let scale = Float(1 << mantissaBits)
        if exponent == (1 << exponentBits) - 1 { return mantissa == 0 ? sign * .infinity : .nan }
        if exponent == 0 { return sign * Float(sign: .plus, exponent: 1 - bias, significand: mantissa / scale) }
        return sign * Float(sign: .plus, exponent: exponent - bias, significand: 1 + mantissa / scale)
    }

    /// Bit-identical, or both NaN (payloads are not part of the contract).
    private func sameValue(_ lhs: Float, _ rhs: Float) -> Bool {
        (lhs.isNaN && rhs.isNaN) || lhs.bitPattern == rhs.bitPattern
    }

    struct Corruption: CustomTestStringConvertible, Sendable {
        let label: String
        let data: Data
        let reason: String
        var testDescription: String { label }
    }

    static let valid = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    static let corruptions: [Corruption] = [
        Corruption(label: "empty", data: Data(), reason: "empty file"),
        Corruption(label: "short", data: Data([1, 2, 3, 4, 5]), reason: "file is 5 bytes, too short for the 8-byte header length"),
        Corruption(label: "header too long", data: SafeTensorsWriter.raw(header: "{}", body: [], declaredLength: 1000),
                   reason: "header length 1000 exceeds the 2 bytes after the length field (truncated or not a safetensors file)"),
        Corruption(label: "zip", data: Data([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 1, 2]),
                   reason: "this is a PyTorch zip (pickle) checkpoint, not safetensors"),
        Corruption(label: "garbage", data: SafeTensorsWriter.raw(header: "{not json", body: []), reason: "header is not valid JSON"),
        Corruption(label: "array", data: SafeTensorsWriter.raw(header: "[1, 2]", body: []), reason: "header is not a JSON object"),
        Corruption(label: "entry not object", data: SafeTensorsWriter.raw(header: #"{"t": 3}"#, body: []),
                   reason: "tensor 't' is not described by a JSON object"),
        Corruption(label: "no dtype", data: SafeTensorsWriter.raw(header: #"{"t":{"shape":[2],"data_offsets":[0,8]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has no dtype"),
        Corruption(label: "unknown dtype", data: SafeTensorsWriter.raw(header: #"{"t":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has unknown dtype 'F99'"),
        Corruption(label: "no shape", data: SafeTensorsWriter.raw(header: #"{"t":{"dtype":"F32","data_offsets":[0,8]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has no valid shape (expected an array of non-negative integers)"),
        Corruption(label: "negative shape", data: SafeTensorsWriter.raw(header: #"{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has no valid shape (expected an array of non-negative integers)"),
        Corruption(label: "fractional shape", data: SafeTensorsWriter.raw(header: #"{"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has no valid shape (expected an array of non-negative integers)"),
        Corruption(label: "no offsets", data: SafeTensorsWriter.raw(header: #"{"t":{"dtype":"F32","shape":[2]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has no valid data_offsets (expected [begin, end])"),
        Corruption(label: "three offsets", data: SafeTensorsWriter.raw(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has no valid data_offsets (expected [begin, end])"),
        Corruption(label: "reversed offsets", data: SafeTensorsWriter.raw(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has data_offsets [8, 0] with end before begin"),
        Corruption(label: "truncated data", data: SafeTensorsWriter.raw(header: valid, body: Array(repeating: 0, count: 6)),
                   reason: "tensor 't' has data_offsets [0, 8] outside the data section of 6 bytes"),
        Corruption(label: "size mismatch", data: SafeTensorsWriter.raw(header: #"{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#, body: Array(repeating: 0, count: 8)),
                   reason: "tensor 't' has 8 bytes but shape [2] of F16 needs 4"),
        Corruption(label: "overlap", data: SafeTensorsWriter.raw(
            header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            body: Array(repeating: 0, count: 12)),
                   reason: "tensors 'a' [0, 8] and 'b' [4, 12] overlap"),
        Corruption(label: "metadata not object", data: SafeTensorsWriter.raw(header: #"{"__metadata__":[1]}"#, body: []),
                   reason: "__metadata__ is not an object"),
        Corruption(label: "metadata value", data: SafeTensorsWriter.raw(header: #"{"__metadata__":{"n":1}}"#, body: []),
                   reason: "__metadata__ value 'n' is not a string"),
    ]

    @Test("rejects corrupt files with a message naming the path and the reason", arguments: corruptions)
    func corruption(_ corruption: Corruption) throws {
        let folder = try TemporaryDirectory()
        let url = try folder.write(corruption.data, to: "bad.safetensors")
        let error = weightsError { _ = try SafeTensorsFile(contentsOf: url) }
        #expect(error == .invalidFile(path: url.path, reason: corruption.reason))
        #expect(error?.description == "invalid safetensors file \(url.path): \(corruption.reason)")
    }

    @Test("a truncated copy of a valid file is rejected")
    func truncatedCopy() throws {
        let folder = try TemporaryDirectory()
        var generator = SplitMix(seed: 3)
        let tensors = (0..<3).map { StoredTensor.random("t\($0)", [4, 4], dtype: "F16", generator: &generator).0 }
        let data = SafeTensorsWriter.encode(tensors)
        for cut in [1, 7, 8, 20, data.count - 1] {
            let url = try folder.write(data.prefix(cut), to: "cut\(cut).safetensors")
            guard case let .invalidFile(path, _)? = weightsError({ _ = try SafeTensorsFile(contentsOf: url) }) else {
                Issue.record("cut at \(cut) was accepted")
                continue
            }
            #expect(path == url.path)
        }
    }

    @Test("a missing file and a folder give clear errors")
    func notAFile() throws {
        let folder = try TemporaryDirectory()
        let missing = folder.url.appendingPathComponent("absent.safetensors")
        #expect(weightsError { _ = try SafeTensorsFile(contentsOf: missing) } == .missingFile(path: missing.path))
        #expect(weightsError { _ = try SafeTensorsFile(contentsOf: folder.url) }
            == .invalidFile(path: folder.url.path, reason: "not a regular file"))
    }
}
