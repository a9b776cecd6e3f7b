import Foundation
import LatentCore
import LatentModels
import LatentWeights
import Testing

/// Compares `CLIPTextModel` with transformers on two tiny random models (see tools/reference/dump_clip.py).
@Suite("CLIPTextModel")
struct CLIPTextModelTests {
    static let modelNames = ["tiny-quick-gelu", "tiny-gelu"]

    @Test("last_hidden_state matches transformers", arguments: modelNames)
    func matchesTransformers(name: String) throws {
        let fixture = try CLIPFixture(name)
        let store = WeightStore(fixture.weights)
        let model = try CLIPTextModel(configuration: fixture.configuration, weights: store.root)
        try store.verifyAllUsed()

        let output = try model(inputIDs: fixture.inputIDs)
        let expected = try fixture.reference("last_hidden_state")
        #expect(output.shape == [2, 77, 64])
        #expect(relativeError(output, expected) < 1e-5)
    }

    @Test("earlier hidden states and clip skip match transformers/diffusers", arguments: modelNames)
    func matchesEarlierLayers(name: String) throws {
        let fixture = try CLIPFixture(name)
        let model = try CLIPTextModel(configuration: fixture.configuration, weights: WeightStore(fixture.weights).root)

        let hidden = try model.hiddenState(inputIDs: fixture.inputIDs, layerCount: 2)
        #expect(relativeError(hidden, try fixture.reference("hidden_state_2")) < 1e-5)
        let skipped = try model(inputIDs: fixture.inputIDs, clipSkip: 1)
        #expect(relativeError(skipped, try fixture.reference("clip_skip_1")) < 1e-5)
        #expect(relativeError(model.applyFinalLayerNorm(hidden), skipped) < 1e-6)
    }

    /// Guards the fixture's sensitivity: running a model with the other activation must miss by far more than
    /// the tolerance, so a wrong `hidden_act` mapping cannot pass `matchesTransformers`.
    @Test("a wrong activation is detected", arguments: modelNames)
    func wrongActivationFails(name: String) throws {
        let fixture = try CLIPFixture(name)
        var configuration = fixture.configuration
        configuration.hiddenActivation = configuration.hiddenActivation == .gelu ? .quickGelu : .gelu
        let model = try CLIPTextModel(configuration: configuration, weights: WeightStore(fixture.weights).root)
        let output = try model(inputIDs: fixture.inputIDs)
        #expect(relativeError(output, try fixture.reference("last_hidden_state")) > 1e-3)
    }

    @Test("configuration decodes transformers' config.json")
    func decodesConfiguration() throws {
        let fixture = try CLIPFixture("tiny-gelu")
        #expect(fixture.configuration == CLIPTextConfiguration(
            vocabularySize: 1000, hiddenSize: 64, intermediateSize: 128, projectionDimension: 64,
            hiddenLayerCount: 3, attentionHeadCount: 4, maxPositionEmbeddings: 77, hiddenActivation: .gelu,
            layerNormEpsilon: 1e-5, padTokenID: 1, bosTokenID: 0, eosTokenID: 2))

        let decoder = JSONDecoder()
        #expect(try decoder.decode(CLIPTextConfiguration.self, from: Data("{}".utf8)) == CLIPTextConfiguration())
        let listed = try decoder.decode(
            CLIPTextConfiguration.self, from: Data(#"{"eos_token_id": [7, 8], "pad_token_id": null}"#.utf8))
        #expect(listed.eosTokenID == 7)
        #expect(listed.padTokenID == nil)
        #expect(throws: DecodingError.self) {
            try decoder.decode(CLIPTextConfiguration.self, from: Data(#"{"hidden_act": "relu"}"#.utf8))
        }
        let roundTrip = try decoder.decode(
            CLIPTextConfiguration.self, from: JSONEncoder().encode(CLIPTextConfiguration.stableDiffusion2))
        #expect(roundTrip == .stableDiffusion2)
    }

    @Test("invalid input ids throw instead of crashing")
    func rejectsInvalidInput() throws {
        let fixture = try CLIPFixture("tiny-quick-gelu")
        let model = try CLIPTextModel(configuration: fixture.configuration, weights: WeightStore(fixture.weights).root)
        let good = Array(fixture.inputIDs[0])

        var tooLarge = good
        tooLarge[5] = 1000
        #expect(throws: CLIPTextModelError.tokenOutOfRange(id: 1000, row: 1, position: 5, vocabularySize: 1000)) {
            try model(inputIDs: [good, tooLarge])
        }
        var negative = good
        negative[0] = -1
        #expect(throws: CLIPTextModelError.tokenOutOfRange(id: -1, row: 0, position: 0, vocabularySize: 1000)) {
            try model(inputIDs: [negative])
        }
        #expect(throws: CLIPTextModelError.sequenceTooLong(length: 78, maximum: 77)) {
            try model(inputIDs: [good + [3]])
        }
        #expect(throws: CLIPTextModelError.raggedInput(row: 1, length: 76, expected: 77)) {
            try model(inputIDs: [good, Array(good.dropLast())])
        }
        #expect(throws: CLIPTextModelError.emptyInput) { try model(inputIDs: []) }
        #expect(throws: CLIPTextModelError.layerOutOfRange(requested: 4, available: 3)) {
            try model.hiddenState(inputIDs: [good], layerCount: 4)
        }
        #expect(throws: CLIPTextModelError.layerOutOfRange(requested: -1, available: 3)) {
            try model(inputIDs: [good], clipSkip: 4)
        }
    }

    @Test("a shorter sequence equals the prefix of the full one (causal mask)")
    func causalPrefix() throws {
        let fixture = try CLIPFixture("tiny-gelu")
        let model = try CLIPTextModel(configuration: fixture.configuration, weights: WeightStore(fixture.weights).root)
        let full = try model(inputIDs: [fixture.inputIDs[0]])  // [1, 77, 64]
        let prefix = try model(inputIDs: [Array(fixture.inputIDs[0].prefix(10))])  // [1, 10, 64]
        let head = Tensor(shape: [1, 10, 64], scalars: Array(full.scalars.prefix(10 * 64)))
        #expect(relativeError(prefix, head) < 1e-6)
    }

    @Test("a position_ids buffer is accepted and ignored")
    func ignoresPositionIDs() throws {
        let fixture = try CLIPFixture("tiny-quick-gelu")
        var tensors = fixture.weights.tensors
        tensors["text_model.embeddings.position_ids"] = Tensor(shape: [1, 77], scalars: (0..<77).map(Float.init))
        let store = WeightStore(DictionaryTensorSource(tensors))
        _ = try CLIPTextModel(configuration: fixture.configuration, weights: store.root)
        try store.verifyAllUsed()
    }

    @Test("mismatched checkpoints are rejected")
    func rejectsMismatchedWeights() throws {
        let fixture = try CLIPFixture("tiny-quick-gelu")
        var wide = fixture.configuration
        wide.intermediateSize = 256
        #expect(throws: WeightsError.shapeMismatch(
            key: "text_model.encoder.layers.0.mlp.fc1.weight", expected: [256, 64], actual: [128, 64],
            source: fixture.weights.sourceName)) {
            try CLIPTextModel(configuration: wide, weights: WeightStore(fixture.weights).root)
        }

        var shallow = fixture.configuration
        shallow.hiddenLayerCount = 2
        let store = WeightStore(fixture.weights)
        _ = try CLIPTextModel(configuration: shallow, weights: store.root)
        #expect(throws: WeightsError.self) { try store.verifyAllUsed() }

        var oddHeads = fixture.configuration
        oddHeads.attentionHeadCount = 5
        #expect(throws: CLIPTextModelError.self) {
            try CLIPTextModel(configuration: oddHeads, weights: WeightStore(fixture.weights).root)
        }
    }
}

/// `‖a − b‖ / ‖b‖`, accumulated in double.
private func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
    var difference = 0.0, norm = 0.0
    for (x, y) in zip(a.scalars, b.scalars) {
        difference += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    return (difference / norm).squareRoot()
}

/// One dumped model: weights, config and reference tensors from Tests/Fixtures/clip.
private struct CLIPFixture {
    let weights: DictionaryTensorSource
    let configuration: CLIPTextConfiguration
    let references: [String: Tensor]

    init(_ name: String) throws {
        let directory = try fixturesDirectory().appendingPathComponent("clip")
        weights = DictionaryTensorSource(
            try readF32SafeTensors(directory.appendingPathComponent("\(name).safetensors")),
            name: "\(name).safetensors")
        configuration = try JSONDecoder().decode(
            CLIPTextConfiguration.self, from: Data(contentsOf: directory.appendingPathComponent("\(name)-config.json")))
        references = try readF32SafeTensors(directory.appendingPathComponent("\(name)-ref.safetensors"))
    }

    func reference(_ key: String) throws -> Tensor {
        try #require(references[key], "reference tensor \(key) missing")
    }

    /// The dumped ids, stored as F32 (exact for ids < 2²⁴).
    var inputIDs: [[Int]] {
        guard let ids = references["input_ids"] else { return [] }
        let length = ids.shape[1]
        return (0..<ids.shape[0]).map { row in ids.scalars[(row * length)..<((row + 1) * length)].map { Int($0) } }
    }
}

/// The package's Tests/Fixtures folder, found by walking up from this file to Package.swift.
private func fixturesDirectory() throws -> URL {
    var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while directory.path != "/" {
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            return directory.appendingPathComponent("Tests/Fixtures")
        }
        directory.deleteLastPathComponent()
    }
    throw FixtureError("no Package.swift above \(#filePath)")
}

private struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A minimal F32-only safetensors reader for this suite; the full reader in LatentWeights replaces it.
/// Layout: u64 little-endian header size, JSON header `{name: {dtype, shape, data_offsets}}`, raw data.
private func readF32SafeTensors(_ url: URL) throws -> [String: Tensor] {
    let data = try Data(contentsOf: url)
    guard data.count >= 8 else { throw FixtureError("\(url.path): too short") }
    let headerSize = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    guard 8 + headerSize <= data.count,
          let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerSize))) as? [String: Any]
    else { throw FixtureError("\(url.path): unreadable header") }
    let body = data.subdata(in: (8 + headerSize)..<data.count)
    var tensors: [String: Tensor] = [:]
    for (key, value) in header where key != "__metadata__" {
        guard let entry = value as? [String: Any], entry["dtype"] as? String == "F32",
              let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2,
              offsets[0] <= offsets[1], offsets[1] <= body.count,
              offsets[1] - offsets[0] == shape.reduce(1, *) * 4
        else { throw FixtureError("\(url.path): tensor \(key) is not a valid F32 entry") }
        let scalars = body.subdata(in: offsets[0]..<offsets[1]).withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
        tensors[key] = Tensor(shape: shape, scalars: scalars)
    }
    return tensors
}
