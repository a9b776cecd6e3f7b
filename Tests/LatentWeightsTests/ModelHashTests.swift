import Foundation
import Testing
@testable import LatentWeights

@Suite("SHA-256 and model hashes")
struct ModelHashTests {
    @Test("FIPS 180-2 test vectors")
    func knownVectors() {
        func hash(_ text: String) -> String {
            var hasher = SHA256()
            hasher.update(Array(text.utf8))
            return hasher.hexDigest()
        }
        #expect(hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var million = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { million.update(chunk) }
        #expect(million.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The test file's bytes: `(i * 31 + 7) % 251`.
    private static func content(_ count: Int) -> Data {
        Data((0..<count).map { UInt8(($0 * 31 + 7) % 251) })
    }

    // Expected digests from Python: hashlib.sha256(bytes((i * 31 + 7) % 251 for i in range(n))).hexdigest()
    static let pythonDigests: [(Int, String)] = [
        (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (55, "e40272620990d5f772101e014a0fe168d9ab13215739a04bdcb4b9cadc303c75"),
        (56, "5b3154594d65c2a11e797576e2b4ece47f48373d8acfc0ae2cc3b87ca7adaedc"),
        (63, "2caeed71c024d190f2f9633bdac2b8f283b1cb86dfe7709023ab70f11f747a1b"),
        (64, "3483dc12a3fea6618642162f88124ea56e797597a97483d5ba597a42d98aaf6b"),
        (65, "3a513663aae909c328f43e2d74265dc5ec35495c99dfde7b8f9dd37f297dfa40"),
        (1_000_003, "a79aaccf39831e39ad9382f03c515510dcde695830c65a91620160cbe434b410"),
    ]

    @Test("file hashes match Python's hashlib; AutoV2 is the first 10 hex digits")
    func fileHashes() throws {
        let folder = try TemporaryDirectory()
        for (count, digest) in Self.pythonDigests {
            let url = try folder.write(Self.content(count), to: "f\(count).bin")
            #expect(try ModelHash.sha256(of: url) == digest, "\(count) bytes")
            #expect(try ModelHash.autoV2(of: url) == String(digest.prefix(10)))
        }
    }

    @Test("chunked updates equal one update, at every split point of a 130-byte message")
    func streaming() {
        let bytes = [UInt8](Self.content(130))
        var whole = SHA256()
        whole.update(bytes)
        for split in 0...bytes.count {
            var parts = SHA256()
            parts.update(bytes[..<split])
            parts.update(bytes[split...])
            #expect(parts.finalize() == whole.finalize(), "split at \(split)")
        }
    }
}
