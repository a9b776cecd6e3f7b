import Foundation

/// Locates the committed test fixtures.
public enum Fixtures {
    /// The package root: the nearest folder above `file` holding `Package.swift`.
    public static func packageRoot(from file: String = #filePath) -> URL {
        var url = URL(fileURLWithPath: file).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    /// `Tests/Fixtures/<relativePath>`.
    public static func url(_ relativePath: String, file: String = #filePath) -> URL {
        packageRoot(from: file).appendingPathComponent("Tests/Fixtures").appendingPathComponent(relativePath)
    }
}
