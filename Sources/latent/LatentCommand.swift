import ArgumentParser

@main
struct LatentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "latent", abstract: "Stable Diffusion on the CPU.")
}
