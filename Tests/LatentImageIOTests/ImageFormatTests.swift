import Foundation
import Testing

@testable import LatentImageIO

@Suite("Image formats")
struct ImageFormatTests {
    @Test("extensions map to formats, case-insensitively")
    func extensions() {
        #expect(ImageFormat(pathExtension: "PNG") == .png)
        #expect(ImageFormat(pathExtension: "jpg") == .jpeg)
        #expect(ImageFormat(pathExtension: "Jpeg") == .jpeg)
        #expect(ImageFormat(pathExtension: "webp") == .webp)
        #expect(ImageFormat(pathExtension: "gif") == nil)
        #expect(ImageFormat(pathExtension: "") == nil)
    }

    @Test("sniffing needs the whole signature")
    func sniffing() {
        #expect(ImageFormat(sniffing: Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0])) == .png)
        #expect(ImageFormat(sniffing: Data([0x89, 0x50, 0x4E, 0x47])) == nil)
        #expect(ImageFormat(sniffing: Data([0xFF, 0xD8, 0xFF, 0xE0])) == .jpeg)
        #expect(ImageFormat(sniffing: Data("RIFF\u{1}\u{2}\u{3}\u{4}WEBPVP8 ".utf8)) == .webp)
        #expect(ImageFormat(sniffing: Data("RIFF\u{1}\u{2}\u{3}\u{4}WAVEfmt ".utf8)) == nil)
        #expect(ImageFormat(sniffing: Data()) == nil)
        // A slice that does not start at index 0 must still be read from its own start.
        let padded = Data([0, 0xFF, 0xD8, 0xFF])
        #expect(ImageFormat(sniffing: padded.dropFirst()) == .jpeg)
    }
}
