import Foundation
import NIOCore

/// Notices a client going away while its request is being answered, so a synchronous endpoint can cancel the
/// job it waits for. Hummingbird keeps running a handler after the peer leaves (the server allows half-closed
/// connections), so the signal comes from the channel: end of input (the client closed its side) or the
/// connection dropping.
final class ClientDisconnectHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny

    private let lock = NSLock()
    private var gone = false
    private var watchers: [UUID: @Sendable () -> Void] = [:]

    /// Runs `action` once when the client goes away (at once if it already has).
    /// - Returns: A token for `unwatch(_:)`.
    func watch(_ action: @escaping @Sendable () -> Void) -> UUID {
        let token = UUID()
        let alreadyGone = lock.withLock { () -> Bool in
            if !gone { watchers[token] = action }
            return gone
        }
        if alreadyGone { action() }
        return token
    }

    /// Stops watching (the request was answered).
    func unwatch(_ token: UUID) {
        lock.withLock { watchers[token] = nil }
    }

    /// Marks the client gone and runs the watchers.
    func clientWentAway() {
        let actions = lock.withLock { () -> [@Sendable () -> Void] in
            gone = true
            defer { watchers.removeAll() }
            return Array(watchers.values)
        }
        for action in actions { action() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { clientWentAway() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientWentAway()
        context.fireChannelInactive()
    }
}
