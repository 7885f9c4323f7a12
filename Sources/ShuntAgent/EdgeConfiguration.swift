import NIOCore
import ShuntHTTP1

/// The edge's limits and timeouts, each named with its default (see docs/HTTP1-EDGE-PARSING.md for
/// the parser's own limits).
public struct EdgeConfiguration: Sendable {
    public var limits = HTTP1Limits()
    /// From the first octet of a request head to its end (slowloris): then 408 and close.
    public var headerReadTimeout = TimeAmount.seconds(10)
    /// A keep-alive connection with no request in progress is closed after this long.
    public var idleTimeout = TimeAmount.seconds(60)
    /// After an answer that ends the connection (an error, `Connection: close`), how long what the
    /// client still sends is read and dropped before the close, so that the answer is not lost to a
    /// reset (a socket closed with unread input sends RST).
    public var lingerTimeout = TimeAmount.seconds(2)
    /// Idle keep-alive connections to the app kept per event loop.
    public var maxIdleAppConnections = 64
    /// How long an app connection may wait unused in the pool before the agent closes it: below
    /// the keep-alive timeout of common servers (gunicorn 2 s, Node.js and uvicorn 5 s), so that the
    /// app does not close a connection just as a request takes it.
    public var appIdleTimeout = TimeAmount.milliseconds(1_500)

    public init() {}
}
