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
    /// How long a new connection to the app may take; then the request is answered 502.
    public var appConnectTimeout = TimeAmount.seconds(5)
    /// HTTP/2 (h2c with prior knowledge) on the same ports.
    public var http2 = HTTP2EdgeLimits()
    /// What carries the edge's HTTP/1.1 connections (docs/EDGE-IO.md).
    public var io = EdgeIO.direct

    public enum EdgeIO: String, Sendable, CaseIterable {
        /// An epoll loop of the edge's own, on its own thread (Linux): what needs the tunnel is
        /// handed over to SwiftNIO.
        case direct
        /// SwiftNIO's channels, on the agent's event loop, for every connection.
        case nio
    }

    public init() {}
}

/// The edge's HTTP/2 limits. swift-nio-http2's own abuse protections stay on at their defaults:
/// header block validation, content-length validation, the RST_STREAM rate limit (Rapid Reset: 200
/// per 30 s), the stream error rate limit, the glitch counter, and the bounds on empty DATA frames,
/// CONTINUATION frames and buffered control frames.
public struct HTTP2EdgeLimits: Sendable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS announced to each client; a stream beyond it is refused
    /// with REFUSED_STREAM (which clients retry). Also the most streams the edge opens on one
    /// upstream connection at a time; more wait for one to end.
    public var maxConcurrentStreams = 100
    /// SETTINGS_MAX_HEADER_LIST_SIZE: the largest decoded header block accepted, in octets.
    public var maxHeaderListSize = 65_536
    /// The receive window of each stream, in octets: what one stream may have in flight towards the
    /// edge before the edge forwards it (the edge reads a stream only while its upstream can take
    /// more, so this bounds the memory a stream holds).
    public var streamWindow = 1 << 20
    /// The receive window of a whole connection, in octets.
    public var connectionWindow = 4 << 20

    public init() {}
}
