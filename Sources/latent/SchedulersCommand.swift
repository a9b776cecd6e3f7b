import ArgumentParser
import LatentPipeline

/// `latent schedulers`: every sampler name with its A1111 label and what it does.
struct SchedulersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedulers", abstract: "List the sampler names --scheduler accepts.")

    func run() {
        let width = SchedulerChoice.allChoices.map(\.cliName.count).max() ?? 0
        let labelWidth = SchedulerChoice.allChoices.map(\.a1111Label.count).max() ?? 0
        for kind in SchedulerChoice.allChoices {
            let name = kind.cliName.padding(toLength: width, withPad: " ", startingAt: 0)
            let label = kind.a1111Label.padding(toLength: labelWidth, withPad: " ", startingAt: 0)
            print("\(name)  \(label)  \(kind.summary)")
        }
    }
}
