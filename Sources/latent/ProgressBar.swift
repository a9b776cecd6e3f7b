import Foundation

/// A one-line progress bar on standard error, drawn only when standard error is a terminal.
final class ProgressBar {
    private let enabled = isatty(STDERR_FILENO) == 1
    private let start = Date()

    func update(_ step: Int, of total: Int) {
        guard enabled else { return }
        let width = 30
        let filled = total == 0 ? width : step * width / total
        let elapsed = Date().timeIntervalSince(start)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ %d/%d  %.1fs", bar, step, total, elapsed).utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
