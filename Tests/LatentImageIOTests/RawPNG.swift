import Foundation

/// A minimal PNG writer for tests: every colour type and bit depth, optional PLTE/tRNS and Adam7
/// interlacing, with stored (uncompressed) deflate blocks. It produces the kinds of files Latent's own
/// encoder never writes, so the decoder can be checked against independently computed pixels.
struct RawPNG {
    var width: Int
    var height: Int
    var bitDepth: Int
    /// 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    var colorType: Int
    /// Samples per pixel in file order, `channelsInFile` each, already within the bit depth.
    var samples: [Int]
    var palette: [UInt8] = []
    var transparency: [UInt8] = []
    var interlaced = false

    var channelsInFile: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 1 }

    func encoded() -> Data {
        var data = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.append(bigEndian: UInt32(width))
        header.append(bigEndian: UInt32(height))
        header.append(contentsOf: [UInt8(bitDepth), UInt8(colorType), 0, 0, interlaced ? 1 : 0])
        data.appendChunk("IHDR", header)
        if !palette.isEmpty { data.appendChunk("PLTE", Data(palette)) }
        if !transparency.isEmpty { data.appendChunk("tRNS", Data(transparency)) }
        data.appendChunk("IDAT", RawPNG.zlibStored(scanlines()))
        data.appendChunk("IEND", Data())
        return data
    }

    /// Filter-type-0 scanlines, pass by pass when interlaced.
    private func scanlines() -> Data {
        let passes: [(x: Int, y: Int, dx: Int, dy: Int)] = interlaced
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            : [(0, 0, 1, 1)]
        var out = Data()
        for pass in passes {
            let xs = Array(stride(from: pass.x, to: width, by: pass.dx))
            let ys = Array(stride(from: pass.y, to: height, by: pass.dy))
            guard !xs.isEmpty, !ys.isEmpty else { continue }
            for y in ys {
                out.append(0)
                var bits = 0, accumulator = 0
                for x in xs {
                    for c in 0..<channelsInFile {
                        let value = samples[(y * width + x) * channelsInFile + c]
                        if bitDepth == 16 {
                            out.append(contentsOf: [UInt8(value >> 8), UInt8(value & 0xFF)])
                        } else if bitDepth == 8 {
                            out.append(UInt8(value))
                        } else {
                            accumulator = accumulator << bitDepth | value
                            bits += bitDepth
                            if bits == 8 {
                                out.append(UInt8(accumulator))
                                bits = 0
                                accumulator = 0
                            }
                        }
                    }
                }
                if bits > 0 { out.append(UInt8(accumulator << (8 - bits))) }
            }
        }
        return out
    }

    static func zlibStored(_ payload: Data) -> Data {
        var out = Data([0x78, 0x01])
        var offset = 0
        repeat {
            let count = min(65535, payload.count - offset)
            let final = offset + count == payload.count
            out.append(final ? 1 : 0)
            out.append(contentsOf: [UInt8(count & 0xFF), UInt8(count >> 8)])
            out.append(contentsOf: [UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)])
            out.append(payload[payload.startIndex + offset..<payload.startIndex + offset + count])
            offset += count
        } while offset < payload.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in payload {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        out.append(bigEndian: b << 16 | a)
        return out
    }

    static func crc32(_ bytes: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

extension Data {
    mutating func append(bigEndian value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
    }

    mutating func appendChunk(_ type: String, _ payload: Data) {
        append(bigEndian: UInt32(payload.count))
        let body = Data(type.utf8) + payload
        append(body)
        append(bigEndian: RawPNG.crc32(body))
    }
}
