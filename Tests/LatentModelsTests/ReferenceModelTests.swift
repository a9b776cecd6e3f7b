import Foundation
import LatentCore
import LatentModels
import LatentTesting
import LatentWeights
import Testing

/// UNet, VAE and text encoder of the tiny fixture models against tensors dumped from diffusers/transformers.
@Suite("Components equal diffusers on the fixture models")
struct ReferenceModelTests {
    static let models = ["sd15-tiny", "sd2v-tiny"]

    struct Loaded {
        let directory: ModelDirectory
        let reference: SafeTensorsFile

        init(_ name: String) throws {
            directory = try ModelDirectory(url: Fixtures.url("models/\(name)"))
            reference = try SafeTensorsFile(contentsOf: Fixtures.url("reference/components-\(name).safetensors"))
        }

        func store(_ component: String) throws -> WeightStore { WeightStore(try directory.weights(component)) }

        func configuration<T: Decodable>(_ type: T.Type, _ component: String) throws -> T {
            try JSONDecoder().decode(type, from: directory.configData(component))
        }
    }

    @Test(arguments: models)
    func unet(_ name: String) throws {
        let model = try Loaded(name)
        let store = try model.store("unet")
        let unet = try UNet2DConditionModel(configuration: model.configuration(UNet2DConditionConfiguration.self, "unet"), weights: store.root)
        try store.verifyAllUsed()
        let reference = model.reference
        let out = unet(
            try reference.load("unet.sample"), timesteps: try reference.load("unet.timesteps").scalars,
            context: try reference.load("unet.encoder_hidden_states"))
        let error = relativeError(out, try reference.load("unet.out"))
        #expect(error < 1e-4, "relative error \(error)")
    }

    @Test(arguments: models)
    func vae(_ name: String) throws {
        let model = try Loaded(name)
        let store = try model.store("vae")
        let vae = try AutoencoderKL(configuration: model.configuration(AutoencoderKLConfiguration.self, "vae"), weights: store.root)
        try store.verifyAllUsed()
        let reference = model.reference
        let decoded = vae.decode(try reference.load("vae.decode.latents"))
        #expect(relativeError(decoded, try reference.load("vae.decode.out")) < 1e-4)
        let posterior = vae.encode(try reference.load("vae.encode.image"))
        #expect(relativeError(posterior.mean, try reference.load("vae.encode.mean")) < 1e-4)
        #expect(relativeError(posterior.logVariance, try reference.load("vae.encode.logvar")) < 1e-4)
    }

    @Test(arguments: models)
    func textEncoder(_ name: String) throws {
        let model = try Loaded(name)
        let store = try model.store("text_encoder")
        let encoder = try CLIPTextModel(configuration: model.configuration(CLIPTextConfiguration.self, "text_encoder"), weights: store.root)
        try store.verifyAllUsed()
        let ids = try model.reference.load("text.input_ids").scalars.map { Int($0) }
        let out = try encoder(inputIDs: [ids])
        #expect(relativeError(out, try model.reference.load("text.last_hidden_state")) < 1e-4)
    }

    /// The chunked GEGLU feed-forward gives the rows of the whole-tensor one (chunks that split a batch, and
    /// a last, shorter chunk), with the fixture UNet's real weights.
    @Test func feedForwardChunksEqualWhole() throws {
        let model = try Loaded("sd15-tiny")
        let block = try BasicTransformerBlock(
            model.store("unet").scoped("down_blocks.0.attentions.0.transformer_blocks.0"), dimension: 32, heads: 4,
            contextDimension: 4)
        let x = TorchCPURandomSource(seed: 3).normal(shape: [2, 37, 32])
        let whole = block.feedForward(x, chunkRows: .max)
        for rows in [1, 5, 36, 37, 73] {
            #expect(relativeError(block.feedForward(x, chunkRows: rows), whole) < 1e-6, "chunks of \(rows) rows")
        }
        #expect(relativeError(whole, Tensor(zeros: whole.shape)) > 0.1)
    }
}
