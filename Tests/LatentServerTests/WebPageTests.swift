import Foundation
import HTTPTypes
import Testing

@testable import LatentServer

/// The browser UI at `/`: served without a key, with the right types and caching headers, self-contained.
@Suite("Web page", .serialized)
struct WebPageTests {
    static let arguments = ServerArguments(
        model: URL(fileURLWithPath: "/models/fake"), apiKeys: ["secret"], sweepInterval: .milliseconds(50))

    /// Every local URL the page and its scripts/styles refer to (attributes, ES imports, CSS `url()`).
    static func references(in text: String) throws -> [String] {
        let patterns = [
            #"(?:src|href)\s*=\s*"([^"]*)""#,
            #"\bimport\b[^"';]*?from\s*["']([^"']+)["']"#,
            #"\bimport\s*\(\s*["']([^"']+)["']"#,
            #"url\(\s*["']?([^"')]+)["']?\s*\)"#,
        ]
        var found: [String] = []
        for pattern in patterns {
            let regex = try NSRegularExpression(pattern: pattern)
            let range = NSRange(text.startIndex..., in: text)
            for match in regex.matches(in: text, range: range) {
                if let r = Range(match.range(at: 1), in: text) { found.append(String(text[r])) }
            }
        }
        return found
    }

    @Test("/ is the page, served without an API key while the API still needs one")
    func pageNeedsNoKey() async throws {
        try await TestServer.with(Self.arguments, generator: FakeGenerator()) { server in
            let page = try await server.get("/", key: .some(nil))
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[.cacheControl] == "no-cache")
            #expect(page.headers[.eTag]?.hasPrefix("\"") == true)
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("default-src 'self'") && policy.contains("connect-src 'self'"))
            #expect(page.text.contains("<title>Latent</title>"))
            #expect(page.text.contains(#"id="generate-form""#))
            #expect(try await server.get("/index.html", key: .some(nil)).body == page.body)
            // The page being public must not open the API.
            #expect(try await server.get("/sdapi/v1/samplers", key: .some(nil)).status == .unauthorized)
            #expect(try await server.get("/web/missing.js", key: .some(nil)).status == .unauthorized)
            #expect(try await server.get("/sdapi/v1/samplers", key: "secret").status == .ok)
            #expect(try await server.request(.post, "/", key: .some(nil)).status == .unauthorized)
        }
    }

    @Test("Every asset the page uses is served with its content type, and all of them are local")
    func assetsAreLocalAndTyped() async throws {
        try await TestServer.with(Self.arguments, generator: FakeGenerator()) { server in
            let expectedTypes = [
                "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
                "css": "text/css; charset=utf-8", "svg": "image/svg+xml",
            ]
            var pending = ["/"]
            var seen: Set<String> = []
            while let path = pending.popLast() {
                guard seen.insert(path).inserted else { continue }
                let response = try await server.get(path, key: .some(nil))
                #expect(response.status == .ok, "\(path) → \(response.status)")
                let ext = path == "/" ? "html" : String(path.split(separator: ".").last ?? "")
                #expect(response.headers[.contentType] == expectedTypes[ext], "\(path)")
                #expect(response.headers[.contentLength] == String(response.body.count), "\(path)")
                #expect(!response.body.isEmpty, "\(path)")
                let text = response.text
                for reference in try Self.references(in: text) where !reference.hasPrefix("#") && !reference.hasPrefix("data:") {
                    // Only this server's own files: no scheme, no protocol-relative host, no CDN.
                    #expect(reference.hasPrefix("/web/"), "\(path) refers to '\(reference)', not a local asset")
                    #expect(!reference.contains("//"), "\(path) refers to '\(reference)'")
                    pending.append(String(reference.split(separator: "?").first ?? ""))
                }
                if ext != "svg" {
                    // Nothing in the page may name another origin (fetch targets, fonts, analytics …).
                    #expect(!text.contains("http://") && !text.contains("https://"), "\(path) names a remote URL")
                }
            }
            #expect(seen.isSuperset(of: ["/", "/web/app.js", "/web/api.js", "/web/editor.js", "/web/style.css", "/web/favicon.svg"]))
            // Every bundled file is reachable from the page (no dead files shipped).
            let bundled = Set(WebController().assets.keys).subtracting(["/", "/index.html", "/web/index.html"])
            #expect(bundled.subtracting(seen).isEmpty, "unreferenced: \(bundled.subtracting(seen))")
        }
    }

    @Test("Revalidation answers 304 for a matching ETag, HEAD sends headers only")
    func caching() async throws {
        try await TestServer.with(Self.arguments, generator: FakeGenerator()) { server in
            let script = try await server.get("/web/app.js", key: .some(nil))
            let etag = try #require(script.headers[.eTag])
            var headers = HTTPFields()
            headers[.ifNoneMatch] = etag
            let again = try await server.request(.get, "/web/app.js", headers: headers, key: .some(nil))
            #expect(again.status == .notModified)
            #expect(again.body.isEmpty)
            headers[.ifNoneMatch] = "\"stale\""
            #expect(try await server.request(.get, "/web/app.js", headers: headers, key: .some(nil)).status == .ok)
            let head = try await server.request(.head, "/web/app.js", key: .some(nil))
            #expect(head.status == .ok && head.body.isEmpty)
            #expect(head.headers[.contentLength] == String(script.body.count))
            // A changed file gets a different validator.
            #expect(WebController.etag(of: Data("a".utf8)) != WebController.etag(of: Data("b".utf8)))
        }
    }
}
