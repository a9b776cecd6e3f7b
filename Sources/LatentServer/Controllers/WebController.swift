import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Serves the browser UI: `GET /` (the page) and `GET /web/<file>` (its scripts and styles), shipped as the
/// `Resources/web` folder. It is a middleware placed ahead of `APIKeyMiddleware` rather than a set of routes,
/// because router middleware wraps every route: the page must load without a key, since it is where the user
/// types one (the page keeps it in `localStorage` and sends it as `Authorization: Bearer` on API calls). The
/// page holds no secrets and reaches nothing but this server's own API.
struct WebController: RouterMiddleware {
    typealias Context = ServerRequestContext

    /// One file, read once at start-up (the whole UI is a few tens of kilobytes).
    struct Asset: Sendable {
        /// The file's bytes.
        let body: ByteBuffer
        /// Its `Content-Type`.
        let contentType: String
        /// A strong validator over the bytes, so revalidation costs a 304 and an upgrade is never served stale.
        let etag: String
    }

    /// Request path → file; `/` and `/index.html` both map to the page.
    let assets: [String: Asset]

    /// Every response revalidates (`no-cache` + ETag): file names carry no content hash, so a cached copy
    /// must never outlive a server upgrade, and a 304 costs next to nothing on loopback or a LAN.
    static let cacheControl = "no-cache"

    /// The page may load only its own files and talk only to this server; `data:`/`blob:` images are the
    /// generated results, previews and the mask canvas.
    static let contentSecurityPolicy =
        "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; script-src 'self'; style-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// Loads the UI from `directory` (the bundled `Resources/web` by default).
    /// - Parameter directory: A folder of static files; sub-folders are served under their relative path.
    init(directory: URL? = Bundle.module.url(forResource: "web", withExtension: nil)) {
        var assets: [String: Asset] = [:]
        if let directory {
            let root = directory.resolvingSymlinksInPath().standardizedFileURL
            let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
            while let url = files?.nextObject() as? URL {
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                    let data = try? Data(contentsOf: url)
                else { continue }
                let relative = url.resolvingSymlinksInPath().standardizedFileURL.path.dropFirst(root.path.count)
                    .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                assets["/web/" + relative] = Asset(
                    body: ByteBuffer(bytes: data), contentType: Self.contentType(of: url.pathExtension),
                    etag: Self.etag(of: data))
            }
        }
        if let page = assets["/web/index.html"] {
            assets["/"] = page
            assets["/index.html"] = page
        }
        self.assets = assets
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard request.method == .get || request.method == .head, let asset = assets[request.uri.path] else {
            return try await next(request, context)
        }
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.eTag] = asset.etag
        headers[.cacheControl] = Self.cacheControl
        headers[.xContentTypeOptions] = "nosniff"
        if let name = HTTPField.Name("Referrer-Policy") { headers[name] = "no-referrer" }
        if asset.contentType.hasPrefix("text/html") {
            headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        }
        if let tags = request.headers[.ifNoneMatch],
            tags == "*" || tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(asset.body.readableBytes)
        let body = request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: asset.body)
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The `Content-Type` for a file extension (text types say UTF-8 so the browser never guesses).
    static func contentType(of fileExtension: String) -> String {
        switch fileExtension.lowercased() {
        case "html", "htm": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "json": "application/json"
        case "webmanifest": "application/manifest+json"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        case "txt": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    /// A quoted FNV-1a 64-bit digest: stable across restarts (unlike `Hasher`), enough to tell versions apart.
    static func etag(of data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return "\"" + String(hash, radix: 16) + "-" + String(data.count, radix: 16) + "\""
    }
}
