import Foundation
import LatentCore
import LatentPipeline
import LatentTesting
import Testing

/// Resizing, masks, compositing and outpainting.
@Suite("Image editing operations")
struct EditingImageTests {
    struct ResizeCase: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let mode: String
        let width: Int
        let height: Int
        let source: String
        var testDescription: String { file }
    }

    static let resizeCases: [ResizeCase] = {
        guard let data = try? Data(contentsOf: EditingCase.fixture("resize.json")) else { return [] }
        return (try? JSONDecoder().decode([ResizeCase].self, from: data)) ?? []
    }()

    /// Lanczos resizing and diffusers' crop/fill modes give Pillow's bytes exactly.
    @Test(arguments: resizeCases)
    func resizeEqualsPillow(_ testCase: ResizeCase) throws {
        let (source, _) = try readImage(at: EditingCase.fixture(testCase.source))
        let (expected, _) = try readImage(at: EditingCase.fixture(testCase.file))
        let mode: ImageResizeMode = testCase.mode == "default" ? .justResize : try #require(ImageResizeMode(rawValue: testCase.mode))
        let resized = ImageResampler.resize(source, width: testCase.width, height: testCase.height, mode: mode)
        #expect(resized.width == testCase.width && resized.height == testCase.height)
        let expectedPixels = expected.droppingAlpha().pixels
        let differing = zip(resized.pixels, expectedPixels).filter { $0 != $1 }.count
        let first = zip(resized.pixels, expectedPixels).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(differing == 0, "\(differing) of \(expectedPixels.count) bytes differ; first at byte \(first?.offset ?? -1): \(String(describing: first?.element))")
        #expect(resized.pixels.count == expectedPixels.count)
    }

    /// diffusers' crop region: bounding box, padding, grown to the target aspect ratio, inside the image.
    @Test func cropRegionMatchesDiffusersRule() {
        var values = [UInt8](repeating: 0, count: 100 * 60)
        for y in 20..<30 { for x in 40..<50 { values[y * 100 + x] = 255 } }
        let mask = MaskImage(width: 100, height: 60, values: values)
        // Box 40..<50 × 20..<30, padding 4 → 36..<54 × 16..<34 (18 × 18), widened to 2:1 → 36 wide.
        let region = mask.cropRegion(width: 64, height: 32, padding: 4)
        #expect(region == MaskRegion(x0: 27, y0: 16, x1: 63, y1: 34))
        #expect(MaskImage(width: 4, height: 4, values: [UInt8](repeating: 0, count: 16)).cropRegion(width: 8, height: 8, padding: 0) == nil)
    }

    /// The blur is symmetric, keeps flat areas and spreads an edge over about 2.5σ.
    @Test func maskBlurSpreadsTheEdge() {
        var values = [UInt8](repeating: 0, count: 40 * 40)
        for y in 0..<40 { for x in 20..<40 { values[y * 40 + x] = 255 } }
        let blurred = MaskImage(width: 40, height: 40, values: values).blurred(radius: 4)
        let row = Array(blurred.values[(10 * 40)..<(11 * 40)])
        #expect(row[0] == 0 && row[39] == 255)
        #expect(row[19] > 100 && row[19] < 128 && row[20] > 128 && row[20] < 155)
        #expect(Int(row[19]) + Int(row[20]) == 255)
        #expect(row[8] == 0 && row[31] == 255)
    }

    /// The canvas has the extended (8-aligned) size, the original in place and the mask on the new area.
    @Test func outpaintingCanvas() throws {
        let image = RGBImage(width: 20, height: 16, hasAlpha: false, pixels: (0..<(20 * 16 * 3)).map { UInt8($0 % 251) })
        let (canvas, mask, margins) = try ImageEditing.outpaintingCanvas(image, left: 8, right: 5, top: 0, bottom: 8)
        #expect(margins.right == 12 && margins.left == 8 && margins.top == 0 && margins.bottom == 8)
        #expect(canvas.width == 40 && canvas.height == 24)
        for y in 0..<16 {
            for x in 0..<20 {
                let source = (y * 20 + x) * 3, target = (y * 40 + x + 8) * 3
                #expect(canvas.pixels[target..<(target + 3)] == image.pixels[source..<(source + 3)])
                #expect(mask.values[y * 40 + x + 8] == 0)
            }
        }
        #expect(mask.values[0] == 255 && mask.values[23 * 40 + 39] == 255)
        #expect(throws: ImageEditingError.self) { try ImageEditing.outpaintingCanvas(image, left: 0, right: 0, top: 0, bottom: 0) }
    }

    /// Fill keeps unmasked pixels and gives masked ones the surrounding colour.
    @Test func fillSpreadsSurroundingColour() {
        var pixels = [UInt8](repeating: 0, count: 32 * 32 * 3)
        for i in 0..<(32 * 32) { pixels[i * 3] = 200; pixels[i * 3 + 1] = 40; pixels[i * 3 + 2] = 90 }
        var maskValues = [UInt8](repeating: 0, count: 32 * 32)
        for y in 8..<24 { for x in 8..<24 { maskValues[y * 32 + x] = 255; pixels[(y * 32 + x) * 3] = 0 } }
        let filled = ImageEditing.fill(RGBImage(width: 32, height: 32, hasAlpha: false, pixels: pixels),
                                       mask: MaskImage(width: 32, height: 32, values: maskValues))
        let center = (16 * 32 + 16) * 3
        #expect(abs(Int(filled.pixels[center]) - 200) <= 2 && abs(Int(filled.pixels[center + 1]) - 40) <= 2)
        #expect(filled.pixels[0..<3] == pixels[0..<3])
    }
}
