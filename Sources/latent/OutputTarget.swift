import Foundation
import LatentImageIO

/// Checks an output path before any compute, so a bad path fails in milliseconds, not after generation.
enum OutputTarget {
    /// - Returns: The image format chosen by the extension.
    /// - Throws: `ImageIOError.cannotWrite` naming the path and the problem.
    static func check(_ url: URL) throws -> ImageFormat {
        guard let format = ImageFormat(pathExtension: url.pathExtension) else {
            throw ImageIOError.cannotWrite(path: url.path, reason: "unknown image extension; use .png, .jpg or .webp")
        }
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ImageIOError.cannotWrite(path: url.path, reason: "directory \(directory) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw ImageIOError.cannotWrite(path: url.path, reason: "directory \(directory) is not writable")
        }
        var existingIsDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &existingIsDirectory), existingIsDirectory.boolValue {
            throw ImageIOError.cannotWrite(path: url.path, reason: "it is a directory")
        }
        return format
    }
}
