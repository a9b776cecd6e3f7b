import Foundation
import LatentCore
import Testing

/// One recorded `torch.randn` draw: every bit pattern for small draws, head/tail plus checksums for large.
private struct RecordedDraw: Decodable {
    let shape: [Int]
    let count: Int
    let bits: [UInt32]?
    let headBits: [UInt32]?
    let tailBits: [UInt32]?
    let sumF64: Double?
    let sumBits: UInt64?

    enum CodingKeys: String, CodingKey {
        case shape, count, bits
        case headBits = "head_bits"
        case tailBits = "tail_bits"
        case sumF64 = "sum_f64"
        case sumBits = "sum_bits"
    }
}

/// A single draw from a freshly seeded generator: the seed beside the draw's own fields.
private struct RecordedCase: Decodable {
    let seed: UInt64
    let draw: RecordedDraw

    enum CodingKeys: String, CodingKey {
        case seed
    }

    init(from decoder: any Decoder) throws {
        seed = try decoder.container(keyedBy: CodingKeys.self).decode(UInt64.self, forKey: .seed)
        draw = try RecordedDraw(from: decoder)
    }
}

/// Successive draws from one generator.
private struct RecordedSequence: Decodable {
    let seed: UInt64
    let draws: [RecordedDraw]
}

/// The fixture written by tools/reference/dump_rng.py.
private struct RNGFixture: Decodable {
    let torchVersion: String
    let cases: [RecordedCase]
    let sequences: [RecordedSequence]

    enum CodingKeys: String, CodingKey {
        case cases, sequences
        case torchVersion = "torch_version"
    }

    static func load() throws -> RNGFixture {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            let parent = directory.deletingLastPathComponent()
            try #require(parent.path != directory.path, "no Package.swift above \(#filePath)")
            directory = parent
        }
        let url = directory.appendingPathComponent("Tests/Fixtures/rng/randn.json")
        return try JSONDecoder().decode(RNGFixture.self, from: Data(contentsOf: url))
    }
}

/// Checks one drawn tensor against its recording, bit for bit.
private func expectMatches(_ tensor: Tensor, _ recorded: RecordedDraw, _ label: String) {
    #expect(tensor.shape == recorded.shape, "\(label): shape")
    let bits = tensor.scalars.map(\.bitPattern)
    guard bits.count == recorded.count else {
        Issue.record("\(label): \(bits.count) elements, expected \(recorded.count)")
        return
    }
    if let expected = recorded.bits {
        let mismatches = zip(bits, expected).enumerated().filter { $1.0 != $1.1 }.map(\.offset)
        #expect(mismatches.isEmpty, "\(label): \(mismatches.count) of \(expected.count) differ, first at \(mismatches.first ?? 0)")
        return
    }
    let head = recorded.headBits ?? []
    let tail = recorded.tailBits ?? []
    #expect(Array(bits.prefix(head.count)) == head, "\(label): head differs")
    #expect(Array(bits.suffix(tail.count)) == tail, "\(label): tail differs")
    let bitSum = bits.reduce(UInt64(0)) { $0 + UInt64($1) }
    #expect(bitSum == recorded.sumBits, "\(label): bit-pattern checksum differs")
    var valueSum = 0.0
    for value in tensor.scalars {
        valueSum += Double(value)
    }
    if let expectedSum = recorded.sumF64 {
        #expect(abs(valueSum - expectedSum) <= 1e-12 * max(1, abs(expectedSum)), "\(label): value checksum")
    }
}

@Suite("TorchCPURandomSource")
struct TorchCPURandomSourceTests {
    @Test("fresh generators reproduce torch.randn bit for bit for every seed and shape")
    func singleDraws() throws {
        let fixture = try RNGFixture.load()
        #expect(fixture.cases.count == 50)
        for recorded in fixture.cases {
            let source = TorchCPURandomSource(seed: recorded.seed)
            let tensor = source.normal(shape: recorded.draw.shape)
            expectMatches(tensor, recorded.draw, "seed \(recorded.seed) shape \(recorded.draw.shape)")
        }
    }

    @Test("successive draws continue one generator as torch does, including the cached scalar sample")
    func sequences() throws {
        let fixture = try RNGFixture.load()
        #expect(!fixture.sequences.isEmpty)
        for sequence in fixture.sequences {
            let source = TorchCPURandomSource(seed: sequence.seed)
            for (step, recorded) in sequence.draws.enumerated() {
                let tensor = source.normal(shape: recorded.shape)
                expectMatches(tensor, recorded, "seed \(sequence.seed) draw \(step) shape \(recorded.shape)")
            }
        }
    }

    @Test("only the low 32 bits of the seed reach mt19937, as in torch")
    func seedTruncation() {
        let wide = TorchCPURandomSource(seed: (1 << 32) + 7).normal(shape: [40])
        let narrow = TorchCPURandomSource(seed: 7).normal(shape: [40])
        let other = TorchCPURandomSource(seed: 8).normal(shape: [40])
        #expect(wide.scalars.map(\.bitPattern) == narrow.scalars.map(\.bitPattern))
        #expect(wide.scalars.map(\.bitPattern) != other.scalars.map(\.bitPattern))
    }

    @Test("an empty shape draws nothing and leaves the stream where it was")
    func emptyDraw() {
        let source = TorchCPURandomSource(seed: 42)
        #expect(source.normal(shape: [0, 4]).count == 0)
        let after = source.normal(shape: [1]).scalars.map(\.bitPattern)
        let fresh = TorchCPURandomSource(seed: 42).normal(shape: [1]).scalars.map(\.bitPattern)
        #expect(after == fresh)
    }
}
