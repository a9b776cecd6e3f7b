import Foundation
import Testing

@testable import LatentServer

/// The strict multipart/form-data parser behind `POST /v1/images/edits`.
@Suite("Multipart form-data parser")
struct MultipartFormDataTests {
    static func body(_ text: String) -> Data { Data(text.replacingOccurrences(of: "\n", with: "\r\n").utf8) }

    @Test("Fields and files come out with names, file names, types and exact bytes")
    func parsesParts() throws {
        let binary = Data((0..<300).map { UInt8(($0 * 37 + 11) % 256) })  // includes CR, LF and '-' bytes
        var data = Self.body("preamble is ignored\n--xyz\nContent-Disposition: form-data; name=\"prompt\"\n\na \"quoted\" prompt\n--xyz\n")
        data.append(Self.body("Content-Disposition: form-data; name=\"image\"; filename=\"in.png\"\nContent-Type: image/png\n\n"))
        data.append(binary)
        data.append(Self.body("\n--xyz--\n"))
        let form = try MultipartFormData(body: data, boundary: "xyz")
        #expect(form.parts.count == 2)
        #expect(form.part("prompt")?.text == "a \"quoted\" prompt")
        let image = try #require(form.part("image"))
        #expect(image.filename == "in.png")
        #expect(image.contentType == "image/png")
        #expect(image.data == binary)
        #expect(form.part("mask") == nil)
    }

    @Test("Boundary from Content-Type: plain, quoted; missing or invalid is a 400")
    func boundary() throws {
        #expect(try MultipartFormData.boundary(fromContentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(try MultipartFormData.boundary(fromContentType: "Multipart/Form-Data; charset=utf-8; boundary=\"a b\"") == "a b")
        for bad in [nil, "application/json", "multipart/form-data", "multipart/form-data; boundary=",
                    "multipart/form-data; boundary=" + String(repeating: "x", count: 71)] {
            #expect(throws: ServerError.self) { try MultipartFormData.boundary(fromContentType: bad) }
        }
    }

    @Test("Malformed bodies name the problem")
    func malformed() throws {
        let cases: [(String, String)] = [
            ("no boundary here", "does not contain the boundary"),
            ("--xyz\nContent-Disposition: form-data; name=\"a\"\n\nvalue", "no closing boundary"),
            ("--xyz\nContent-Disposition: form-data; name=\"a\"\nvalue without blank line", "no complete header"),
            ("--xyz\nContent-Type: text/plain\n\nv\n--xyz--\n", "missing Content-Disposition"),
            ("--xyz\nContent-Disposition: attachment; name=\"a\"\n\nv\n--xyz--\n", "must be form-data"),
            ("--xyzgarbage\n--xyz--\n", "expected CRLF"),
            ("--xyz--\n", "no parts"),
            ("--xyz\nbroken header line\n\nv\n--xyz--\n", "malformed header line"),
        ]
        for (text, message) in cases {
            do {
                _ = try MultipartFormData(body: Self.body(text), boundary: "xyz")
                Issue.record("accepted: \(text)")
            } catch let error as ServerError {
                #expect(error.status == .badRequest)
                #expect(error.description.contains(message), "\(error) for \(text)")
            }
        }
        let many = String(repeating: "--xyz\nContent-Disposition: form-data; name=\"a\"\n\nv\n", count: 65) + "--xyz--\n"
        #expect(throws: ServerError.badRequest("multipart body has more than 64 parts")) {
            try MultipartFormData(body: Self.body(many), boundary: "xyz")
        }
    }
}
