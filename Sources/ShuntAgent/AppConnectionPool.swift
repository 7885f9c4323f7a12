import NIOCore
import ShuntSession

/// Keep-alive connections to the app container, on one event loop: a request reuses an idle one
/// (the most recent first) or dials a new one; at most `maxIdle` wait, each at most `idleTimeout`
/// (`IdleConnections`). An idle connection that the app closes, or that sends anything, is dropped.
final class AppConnectionPool {
    let address: SocketAddress
    let eventLoop: EventLoop
    private let idle: IdleConnections<UpstreamHandler>
    private let connectTimeout: TimeAmount

    init(address: SocketAddress, eventLoop: EventLoop, maxIdle: Int, idleTimeout: TimeAmount = .milliseconds(1_500),
         connectTimeout: TimeAmount = .seconds(5)) {
        self.address = address
        self.eventLoop = eventLoop
        self.connectTimeout = connectTimeout
        idle = IdleConnections(eventLoop: eventLoop, maxIdle: maxIdle, idleTimeout: idleTimeout)
    }

    var idleCount: Int { idle.count }

    /// An idle connection and its handler, now reporting to `edge`, or nil when none is left (no
    /// future: this is the path of nearly every request).
    func acquireIdle(for edge: EdgeHandler) -> (channel: Channel, handler: UpstreamHandler)? {
        guard let (channel, upstream) = idle.take() else { return nil }
        upstream.edge = edge
        return (channel, upstream)
    }

    /// A new connection (never an idle one) whose `UpstreamHandler` reports to `edge`.
    func dial(for edge: EdgeHandler) -> EventLoopFuture<Channel> {
        idle.dial(address, connectTimeout: connectTimeout, handler: NIOLoopBound(UpstreamHandler(edge: edge), eventLoop: eventLoop))
    }

    /// The exchange on `channel` (whose handler is `handler`) is over and it may serve another.
    func release(_ channel: Channel, handler: UpstreamHandler) {
        idle.put(channel, handler: handler)
    }

    func closeAll() {
        idle.closeAll()
    }
}
