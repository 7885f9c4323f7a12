import NIOCore
import NIOHTTP2
import NIOPosix
import ShuntHTTP1
import ShuntSession
import ShuntWire

/// One caller's HTTP/2 connection at the edge, and the upstream HTTP/2 connections its streams
/// use: one to the app (a TCP connection, opened on first need) and one per laptop whose intercept
/// matched a stream (a tunnel stream of kind HTTP2 carrying an HTTP/2 connection, the agent its
/// client). Each caller stream is routed on its own (`H2EdgeStreamHandler`), so one connection
/// sends some calls to the app and others to laptops at the same time. The upstreams live as long
/// as the caller's connection; one that ends is opened again for the next stream.
///
/// It also keeps the connection's clock: closed after `idleTimeout` with no stream open, and on
/// `EdgeDrain` (the agent shutting down) a GOAWAY, then the close once the open streams ended.
///
/// Runs on the event loop of the connection (the agent's one loop).
final class H2EdgeConnection {
    let shared: EdgeHandler.Shared
    let client: ForwardedHeadWriter.ClientAddress
    let clientText: String
    let eventLoop: EventLoop
    /// The caller's connection; unowned by design: it owns the pipeline that owns this.
    private weak var channel: Channel?
    private var app: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>?
    private var laptops: [LaptopKey: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>] = [:]
    /// Why a laptop's tunnel stream was reset (its local service is down, …), for the callers whose
    /// streams it cut.
    private var laptopFailures: [LaptopKey: String] = [:]
    /// Upstream connections (app sockets, tunnel streams) to close with the caller's connection.
    private var upstreams: [ObjectIdentifier: Channel] = [:]
    private var openStreams = 0
    private var idleTimer: Scheduled<Void>?
    private var draining = false
    private var closed = false

    struct LaptopKey: Hashable {
        let session: ObjectIdentifier
        let intercept: String
    }

    init(shared: EdgeHandler.Shared, client: ForwardedHeadWriter.ClientAddress, clientText: String, channel: Channel) {
        self.shared = shared
        self.client = client
        self.clientText = clientText
        self.eventLoop = channel.eventLoop
        self.channel = channel
    }

    /// The settings the edge announces: to callers as a server (its stream limit), on its own
    /// upstream connections as a client (no server push). The same header-list limit and windows.
    static func configuration(_ limits: HTTP2EdgeLimits, server: Bool) -> (NIOHTTP2Handler.ConnectionConfiguration, NIOHTTP2Handler.StreamConfiguration) {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            server ? HTTP2Setting(parameter: .maxConcurrentStreams, value: limits.maxConcurrentStreams) : HTTP2Setting(parameter: .enablePush, value: 0),
            HTTP2Setting(parameter: .maxHeaderListSize, value: limits.maxHeaderListSize),
            HTTP2Setting(parameter: .initialWindowSize, value: limits.streamWindow),
        ]
        connection.targetWindowSize = limits.connectionWindow
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = limits.streamWindow
        return (connection, stream)
    }

    /// Turns `channel` (its first octets were the preface, still to be read) into an HTTP/2 server
    /// whose streams are routed one by one.
    static func configure(_ channel: Channel, shared: EdgeHandler.Shared, client: ForwardedHeadWriter.ClientAddress,
                          clientText: String) throws {
        let connection = H2EdgeConnection(shared: shared, client: client, clientText: clientText, channel: channel)
        let (connectionConfiguration, streamConfiguration) = configuration(shared.configuration.http2, server: true)
        let bound = NIOLoopBound(connection, eventLoop: channel.eventLoop)
        let handler = NIOHTTP2Handler(mode: .server, eventLoop: channel.eventLoop, connectionConfiguration: connectionConfiguration,
                                      streamConfiguration: streamConfiguration, streamDelegate: StreamCounter(bound)) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(H2EdgeStreamHandler(connection: bound.value))
            }
        }
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
        try channel.pipeline.syncOperations.addHandler(H2ConnectionWatcher(connection: connection))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.pipeline.syncOperations.addHandler(H2ConnectionErrorCloser())
        connection.armIdleTimer()
    }

    // MARK: Upstreams

    /// Opens a stream to where `route` says, on that upstream's connection (opened first if need
    /// be), with `handler` in its pipeline.
    func openStream(_ route: Route, handler: H2UpstreamStreamHandler) -> EventLoopFuture<Channel> {
        let multiplexer: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>
        switch route {
        case .app: multiplexer = appConnection()
        case .laptop(let laptop): multiplexer = laptopConnection(laptop)
        }
        let bound = NIOLoopBound(handler, eventLoop: eventLoop)
        return multiplexer.flatMap { multiplexer in
            multiplexer.createStreamChannel { stream in
                stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(bound.value) }
            }
        }
    }

    private func appConnection() -> EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer> {
        if let app { return app }
        let (connectionConfiguration, streamConfiguration) = Self.configuration(shared.configuration.http2, server: false)
        let multiplexer = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(5))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(to: shared.pool.address)
            .assumeIsolated()
            .flatMapThrowing { upstream -> NIOHTTP2Handler.StreamMultiplexer in
                try upstream.pipeline.syncOperations.addHandler(FlushCoalescer())
                let multiplexer = try upstream.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: connectionConfiguration, streamConfiguration: streamConfiguration
                ) { pushed in pushed.close() }
                try upstream.pipeline.syncOperations.addHandler(H2ConnectionErrorCloser())
                self.track(upstream) { self.app = nil }
                return multiplexer
            }.nonisolated()
        app = multiplexer
        multiplexer.assumeIsolated().whenFailure { _ in self.app = nil }
        return multiplexer
    }

    private func laptopConnection(_ laptop: Route.Laptop) -> EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer> {
        let key = LaptopKey(session: ObjectIdentifier(laptop.session), intercept: laptop.intercept)
        if let existing = laptops[key] { return existing }
        let metadata = StreamMetadata([
            (key: "intercept", value: laptop.intercept),
            (key: "client", value: clientText),
            (key: "port", value: String(shared.port)),
        ])
        let (connectionConfiguration, streamConfiguration) = Self.configuration(shared.configuration.http2, server: false)
        let found = NIOLoopBoundBox<NIOHTTP2Handler.StreamMultiplexer?>(nil, eventLoop: eventLoop)
        laptopFailures[key] = nil
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let opened = laptop.session.openStream(kind: .http2, metadata: metadata) { stream in
            stream.eventLoop.makeCompletedFuture {
                if laptop.compress { try stream.enableCompression() }
                try stream.pipeline.syncOperations.addHandler(TunnelResetWatcher { reason in bound.value.laptopFailures[key] = reason })
                found.value = try stream.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: connectionConfiguration, streamConfiguration: streamConfiguration
                ) { pushed in pushed.close() }
                try stream.pipeline.syncOperations.addHandler(H2ConnectionErrorCloser())
            }
        }
        let multiplexer = opened.assumeIsolated().flatMapThrowing { stream -> NIOHTTP2Handler.StreamMultiplexer in
            guard let multiplexer = found.value else { throw ChannelError.inappropriateOperationForState }
            self.track(stream) { self.laptops[key] = nil }
            return multiplexer
        }.nonisolated()
        laptops[key] = multiplexer
        multiplexer.assumeIsolated().whenFailure { _ in self.laptops[key] = nil }
        return multiplexer
    }

    /// Why the tunnel stream to `laptop` was reset, when it was.
    func failureReason(_ laptop: Route.Laptop) -> String? {
        laptopFailures[LaptopKey(session: ObjectIdentifier(laptop.session), intercept: laptop.intercept)]
    }

    /// Remembers `upstream` to close with the caller's connection, and runs `forget` when it ends.
    private func track(_ upstream: Channel, forget: @escaping () -> Void) {
        guard !closed else {
            upstream.close(promise: nil)
            return
        }
        let id = ObjectIdentifier(upstream)
        upstreams[id] = upstream
        upstream.closeFuture.assumeIsolated().whenComplete { _ in
            self.upstreams[id] = nil
            forget()
        }
    }

    // MARK: The caller's connection

    func streamCreated(_ id: HTTP2StreamID, channel: Channel) {
        openStreams += 1
        idleTimer?.cancel()
        idleTimer = nil
    }

    func streamClosed(_ id: HTTP2StreamID, channel: Channel) {
        openStreams -= 1
        if openStreams == 0 {
            if draining {
                self.channel?.close(promise: nil)
            } else {
                armIdleTimer()
            }
        }
    }

    func armIdleTimer() {
        idleTimer?.cancel()
        // Streams closing with the connection must not arm it again: the timer would keep this
        // connection's state (and its upstreams' multiplexers) alive for the whole idle timeout.
        guard !closed else {
            idleTimer = nil
            return
        }
        idleTimer = eventLoop.assumeIsolated().scheduleTask(in: shared.configuration.idleTimeout) {
            guard self.openStreams == 0 else { return }
            self.channel?.close(promise: nil)
        }
    }

    /// The agent shuts down: GOAWAY (no new streams), and the close once the open ones ended.
    func drain() {
        guard !draining, let channel else { return }
        draining = true
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
        channel.writeAndFlush(goAway, promise: nil)
        if openStreams == 0 { channel.close(promise: nil) }
    }

    /// The caller's connection closed: so do the upstreams.
    func closedByCaller() {
        closed = true
        idleTimer?.cancel()
        idleTimer = nil
        let all = upstreams.values
        upstreams = [:]
        for upstream in all { upstream.close(promise: nil) }
    }
}

/// First in a tunnel stream's pipeline: reports the reason of a RESET (the laptop names what went
/// wrong, e.g. nothing listening on its local port) before the HTTP/2 connection over it ends, and
/// closes the stream when the laptop's side ended (its service closed the connection).
private final class TunnelResetWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let record: (String) -> Void

    init(record: @escaping (String) -> Void) {
        self.record = record
    }

    /// The laptop's side ended the connection to its service (the service closed it): the HTTP/2
    /// connection over this stream is over.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Only the laptop's own word: a reset by this side (the session died) says nothing more.
        if let reset = error as? StreamResetError, reset.byPeer {
            record(reset.reason.isEmpty ? "\(reset.code)" : reset.reason)
        }
        context.fireErrorCaught(error)
    }
}

/// Tells the connection of its streams as they open and close (on its event loop).
private struct StreamCounter: NIOHTTP2StreamDelegate {
    let connection: NIOLoopBound<H2EdgeConnection>

    init(_ connection: NIOLoopBound<H2EdgeConnection>) {
        self.connection = connection
    }

    func streamCreated(_ id: HTTP2StreamID, channel: Channel) {
        connection.value.streamCreated(id, channel: channel)
    }

    func streamClosed(_ id: HTTP2StreamID, channel: Channel) {
        connection.value.streamClosed(id, channel: channel)
    }
}

/// Sits in front of the HTTP/2 handler of a caller's connection: passes the octets on, and tells
/// the `H2EdgeConnection` of the drain and of the close.
final class H2ConnectionWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connection: H2EdgeConnection

    init(connection: H2EdgeConnection) {
        self.connection = connection
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is EdgeDrain {
            connection.drain()
            return
        }
        // Edge connections allow half-closure (for HTTP/1.1); an HTTP/2 client that closed its side
        // is gone (requests end with END_STREAM, not FIN), so the connection closes now, not at the
        // idle timeout.
        if let event = event as? ChannelEvent, case .inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.closedByCaller()
        context.fireChannelInactive()
    }
}

/// Closes an HTTP/2 connection after swift-nio-http2 reports a connection error: it has sent
/// GOAWAY and stopped reading, but leaves the close to the pipeline. Stream errors (one stream
/// reset) leave the connection open.
final class H2ConnectionErrorCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if Self.endsConnection(error) { context.close(promise: nil) }
        context.fireErrorCaught(error)
    }

    /// The errors swift-nio-http2 raises as connection errors: abuse limits, unparsable input, a
    /// bad preface or settings. Any other kind of error (I/O) ends the connection too.
    static func endsConnection(_ error: Error) -> Bool {
        switch error {
        case is NIOHTTP2Errors.ExcessiveRSTFrames, is NIOHTTP2Errors.ExcessiveControlFrames,
             is NIOHTTP2Errors.ExcessiveEmptyDataFrames, is NIOHTTP2Errors.ExcessiveContinuationFrames,
             is NIOHTTP2Errors.ExcessiveStreamErrors, is NIOHTTP2Errors.ExcessiveNumberOfGlitches,
             is NIOHTTP2Errors.ExcessivelyLargeHeaderBlock, is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering,
             is NIOHTTP2Errors.UnableToParseFrame, is NIOHTTP2Errors.BadClientMagic,
             is NIOHTTP2Errors.MissingPreface, is NIOHTTP2Errors.ReceivedBadSettings, is NIOHTTP2Errors.MaxStreamsViolation:
            return true
        case is any NIOHTTP2Error:
            return false
        default:
            return !(error is NIOHTTP2Errors.StreamError)
        }
    }
}
