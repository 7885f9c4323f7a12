#if canImport(Glibc)
import NIOCore

/// One client connection of the direct edge, and the state `EdgeHandler` keeps for one.
final class DirectClient {
    enum Clock { case idle, header, linger }

    let descriptor: Int32
    let portIndex: Int
    let remote: SocketAddress?
    var exchange: EdgeExchange
    /// Served by the loop: false once closed or handed over.
    var live = true
    /// Until the first octets tell HTTP/1.1 from the HTTP/2 preface.
    var sniffing = true
    var received: ByteBuffer?
    var upstream: DirectUpstream?
    var out = OutboundQueue()
    var interest: UInt32 = 0
    /// In the loop's epoll set: not yet while its first read is tried, as it is accepted.
    var registered = false
    var piping = false
    var closing = false
    var lingering = false
    var draining = false
    /// The client sent FIN.
    var inputClosed = false
    /// We sent FIN, or will once `out` is written (`shutAfterFlush`).
    var outputShut = false
    var shutAfterFlush = false
    var deadline: NIODeadline?
    var clock = Clock.idle

    init(descriptor: Int32, portIndex: Int, remote: SocketAddress?, exchange: EdgeExchange) {
        self.descriptor = descriptor
        self.portIndex = portIndex
        self.remote = remote
        self.exchange = exchange
    }
}

/// A connection to the app, serving one client's exchange or idle in the pool.
final class DirectUpstream {
    let descriptor: Int32
    let portIndex: Int
    var client: DirectClient?
    var out = OutboundQueue()
    var interest: UInt32 = 0
    var connecting = false
    var connectDeadline = NIODeadline.distantFuture
    var inputClosed = false
    var outputShut = false
    var shutAfterFlush = false
    var idleSince = NIODeadline.distantPast

    init(descriptor: Int32, portIndex: Int) {
        self.descriptor = descriptor
        self.portIndex = portIndex
    }
}
#endif
