import Hummingbird
import NIOCore

/// The per-request context: Hummingbird's core storage plus who is calling.
public struct ServerRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The peer's address (nil in in-process tests).
    public let remoteAddress: SocketAddress?
    /// The connection (to notice a client that goes away mid-request).
    public let channel: (any Channel)?
    /// The API-key identity set by `APIKeyMiddleware` ("key-1", …), nil when keys are off.
    public var keyIdentity: String?

    /// Creates the context for one request on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
        keyIdentity = nil
    }

    /// Who owns the jobs this request creates and which jobs it may see: the API key when keys are on,
    /// else the client's IP address.
    var owner: String {
        if let keyIdentity { return keyIdentity }
        return remoteAddress?.ipAddress.map { "ip:\($0)" } ?? "anonymous"
    }
}
