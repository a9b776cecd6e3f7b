import Foundation
import Testing

@testable import LatentImageIO

@Suite("Image files")
struct ImageFileTests {
    @Test("write then read each format, format taken from the extension",
          arguments: [("png", ImageFormat.png), ("JPG", .jpeg), ("jpeg", .jpeg), ("webp", .webp)])
    func roundTrip(pathExtension: String, format: ImageFormat) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("out.\(pathExtension)")
        let image = makeImage(width: 24, height: 16, alpha: false, seed: 30, noise: 3)
        try writeImage(image, to: url, text: ["parameters": "Steps: 20"])
        let data = try Data(contentsOf: url)
        #expect(ImageFormat(sniffing: data) == format)
        let read = try readImage(at: url)
        if format == .png {
            #expect(read.image == image)
            #expect(read.text == ["parameters": "Steps: 20"])
        } else {
            #expect(psnr(image, read.image) > 30)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == [url.lastPathComponent])
    }

    @Test("an explicit format overrides the extension and lossless WebP is exact")
    func explicitFormat() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("image.bin")
        let image = makeNoiseImage(width: 9, height: 5, alpha: true, seed: 31)
        try writeImage(image, to: url, format: .webp, lossless: true)
        #expect(try readImage(at: url).image == image)
    }

    @Test("overwriting replaces the file and leaves no temporary file")
    func overwrite() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("same.png")
        let first = makeNoiseImage(width: 8, height: 8, alpha: false, seed: 32)
        let second = makeNoiseImage(width: 5, height: 3, alpha: true, seed: 33)
        try writeImage(first, to: url)
        try writeImage(second, to: url)
        #expect(try readImage(at: url).image == second)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["same.png"])
    }

    @Test("a missing directory names the path and creates nothing")
    func missingDirectory() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("absent/out.png")
        let error = imageError { try writeImage(makeImage(width: 2, height: 2, alpha: false, seed: 34), to: url) }
        guard case .cannotWrite(let path, let reason) = error else {
            Issue.record("expected cannotWrite, got \(String(describing: error))")
            return
        }
        #expect(path == url.path)
        #expect(reason.contains("No such file or directory"))
        #expect(error?.description.hasPrefix("cannot write \(url.path): ") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test("a failure after the temporary file exists removes it")
    func renameFailure() throws {
        // The destination is a non-empty directory: the temporary file is written, then rename fails.
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let target = directory.appendingPathComponent("taken.png")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try Data([1]).write(to: target.appendingPathComponent("keep"))
        let error = imageError { try writeImage(makeImage(width: 3, height: 3, alpha: false, seed: 35), to: target) }
        guard case .cannotWrite(let path, let reason) = error else {
            Issue.record("expected cannotWrite, got \(String(describing: error))")
            return
        }
        #expect(path == target.path)
        #expect(reason.contains("rename"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["taken.png"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.path) == ["keep"])
    }

    @Test("an unwritable directory names the path and leaves nothing")
    func unwritableDirectory() throws {
        // /proc refuses new files even for root, unlike a chmod-ed directory.
        let url = URL(fileURLWithPath: "/proc/latent-image-io-test.png")
        let error = imageError { try writeImage(makeImage(width: 2, height: 2, alpha: false, seed: 36), to: url) }
        guard case .cannotWrite(let path, _) = error else {
            Issue.record("expected cannotWrite, got \(String(describing: error))")
            return
        }
        #expect(path == url.path)
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test("unknown extensions and invalid images fail before anything is written")
    func failsBeforeWriting() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bmp = directory.appendingPathComponent("out.bmp")
        let error = imageError { try writeImage(makeImage(width: 2, height: 2, alpha: false, seed: 37), to: bmp) }
        #expect(error?.description.hasPrefix("cannot write \(bmp.path): unknown extension \".bmp\"") == true)
        let bad = RGBImage(width: 3, height: 3, hasAlpha: false, pixels: [1, 2, 3])
        let png = directory.appendingPathComponent("bad.png")
        let badError = imageError { try writeImage(bad, to: png) }
        #expect(badError?.description.hasPrefix("cannot write \(png.path): invalid image") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test("read errors name the path")
    func readErrors() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.png")
        let error = imageError { _ = try readImage(at: missing) }
        #expect(error == .cannotRead(path: missing.path, reason: "No such file or directory"))
        let cut = directory.appendingPathComponent("cut.png")
        let data = try encodeImage(makeImage(width: 8, height: 8, alpha: false, seed: 38), format: .png)
        try data.prefix(data.count / 2).write(to: cut)
        let cutError = imageError { _ = try readImage(at: cut) }
        #expect(cutError == .inFile(path: cut.path, .truncated(.png)))
        #expect(cutError?.description == "\(cut.path): truncated PNG data")
        #expect(imageError { _ = try readImage(at: directory) }?.description.contains("not a regular file") == true)
    }
}
