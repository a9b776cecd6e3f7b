import ArgumentParser

/// The `latent` command line: Stable Diffusion on the CPU.
@main
struct LatentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latent",
        abstract: "Stable Diffusion image generation on the CPU, numerically equal to diffusers.",
        subcommands: [GenerateCommand.self, OutpaintCommand.self, ServeCommand.self, SchedulersCommand.self, BenchCommand.self])
}
