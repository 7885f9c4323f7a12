import NIOCore
import NIOPosix
import ShuntHTTP1
import ShuntSession
import ShuntWire

/// The I/O shell around `EdgeExchange` for one client connection: routes each request through the
/// registry, connects its upstream (a pooled app connection or a new tunnel stream), moves bytes both
/// ways with backpressure, and keeps the header-read and idle timers. Every decision about the bytes
/// is the exchange's. A global intercept on the port turns the whole connection into one TCP stream.
///
/// Everything runs on one event loop: the client, its upstreams and the sessions of the agent.
///
/// `EdgeDrain` (the agent shutting down) ends the connection after the request in progress.
final class EdgeHandler: ChannelDuplexHandler, RemovableChannelHandler, TickFlushes.Member {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Shared {
        let registry: InterceptRegistry
        let port: Int
        let pool: AppConnectionPool
        let configuration: EdgeConfiguration
        let nextRequestID: () -> UInt64
        let metrics: AgentMetrics
        let failOpen: FailOpenEpisodes
        let keptStreams: KeptStreams
        /// Writes are flushed at the end of the event loop's wake-up, together with the other edges'.
        let flushes: TickFlushes

        /// A request (or, `global`, a connection) routed to `laptop` goes to the app instead: the
        /// episode and the metric count it, and the intercept's own count (`shunt list`) gives it back.
        func failedOpen(_ laptop: Route.Laptop, error: Error, global: Bool = false) {
            failOpen.failed(intercept: laptop.intercept, owner: laptop.owner, error: error, global: global)
            registry.failedOpen(laptop.intercept)
        }
    }

    private let shared: Shared
    private var exchange: EdgeExchange
    /// Action lists kept by `perform` between steps (one per level of nesting, so two or three).
    private var spareActionLists: [[EdgeExchange.Action]] = []
    private let clientText: String
    private var context: ChannelHandlerContext?
    private var upstream: Channel?
    /// The handler on `upstream` that reports to this edge.
    private var upstreamHandler: UpstreamHandler?
    private var laptop: Route.Laptop?
    /// The current upstream is a tunnel stream counted in `keptStreams`.
    private var upstreamCounted = false
    /// A tunnel stream kept after its exchange for this client's next request to the same laptop
    /// (spec §10.2); it ends when the client leaves or a request goes to another laptop.
    private var kept: (channel: Channel, handler: UpstreamHandler, laptop: Route.Laptop)?
    /// The laptop of the request in progress, for sending it again on a new stream.
    private var retryLaptop: Route.Laptop?
    /// The request in progress went out on a kept stream and is not counted yet: it counts for the
    /// laptop once the laptop answers it or the stream ends without a retry. Refused and sent again
    /// on a new stream, it counts where the retry takes it (the laptop, or the app when no stream
    /// can be had), once.
    private var keptRequestUncounted = false
    private var piping = false
    private var closing = false
    /// The agent is shutting down: the connection ends after the request in progress.
    private var draining = false
    private var starting = true
    private var pendingRead = false
    private var clientNeedsFlush = false
    private var upstreamNeedsFlush = false
    /// Listed in `shared.flushes` for the end of this wake-up.
    private var flushListed = false
    /// When the running clock runs out (nil: none runs), and which clock it is.
    private var deadline: NIODeadline?
    private var clock = Clock.idle
    /// The one scheduled wake-up, and when it comes.
    private var wakeUp: Scheduled<Void>?
    private var wakeUpAt = NIODeadline.distantFuture
    /// The answer is out; the client's remaining input is dropped until it closes.
    private var lingering = false
    /// Handed over by the direct edge (`DirectEdgeLoop`) at a request routed to a laptop: that
    /// laptop, and answer octets the direct edge had not yet written to the client.
    private var resumed: (laptop: Route.Laptop, pending: [ByteBuffer])?

    init(shared: Shared, client: SocketAddress?) {
        self.shared = shared
        let (address, text) = Self.describe(client)
        clientText = text
        exchange = EdgeExchange(client: address, limits: shared.configuration.limits)
    }

    /// A connection the direct edge served until a request of it was routed to `laptop`: the
    /// exchange as it stands (that request's head waiting for its upstream) goes on here.
    convenience init(shared: Shared, client: SocketAddress?, resuming exchange: EdgeExchange, to laptop: Route.Laptop,
                     pending: [ByteBuffer]) {
        self.init(shared: shared, client: client)
        self.exchange = exchange
        resumed = (laptop, pending)
    }

    /// A caller as the forwarding fields name it (its IP), and as tunnel metadata and logs do
    /// (`ip:port`, IPv6 in brackets), for either HTTP version.
    static func describe(_ client: SocketAddress?) -> (address: ForwardedHeadWriter.ClientAddress, text: String) {
        let ip = client?.ipAddress ?? "0.0.0.0"
        let text = client.map { $0.protocol == .inet6 ? "[\(ip)]:\($0.port ?? 0)" : "\(ip):\($0.port ?? 0)" } ?? "unknown"
        return (ForwardedHeadWriter.ClientAddress(ip) ?? ForwardedHeadWriter.ClientAddress("0.0.0.0")!, text)
    }

    var clientWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: Client side

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    /// The pipeline is torn down (the connection closed): the context goes, or the two would keep
    /// each other, and the connection, alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        stopWakeUp()
        endKept()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard starting else { return }
        if let (laptop, pending) = resumed {
            resumed = nil
            starting = false
            for bytes in pending {
                context.write(wrapOutboundOut(bytes), promise: nil)
                clientNeedsFlush = true
            }
            flush()
            // The client is read again once the exchange wants its octets (`read(context:)`).
            routeTo(laptop)
            return
        }
        if case .laptop(let laptop)? = shared.registry.globalRoute(port: shared.port) {
            startGlobal(laptop, context: context)
            return
        }
        starting = false
        armTimer(header: false)
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return }
        if !piping && deadline != nil && clock == .idle {
            // The first octets of a request head: the header-read clock starts.
            armTimer(header: true)
        }
        let bytes = unwrapInboundIn(data)
        perform { $0.clientRead(bytes, into: &$1) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is EdgeDrain {
            draining = true
            closeIfDrained(context: context)
            return
        }
        if let event = event as? ChannelEvent, case .inputClosed = event {
            if lingering {
                context.close(promise: nil)
            } else if piping {
                flushUpstreamNow()
                upstream?.close(mode: .output, promise: nil)
            } else {
                run(exchange.clientEnded())
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopWakeUp()
        endKept()
        if keptRequestUncounted { countKeptRequest() }  // the caller left with it on the laptop
        if let upstream {
            detachUpstream()
            upstream.close(promise: nil)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstreamHandler?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if lingering {
            context.read()
        } else if !starting && (piping || exchange.wantsClientBytes) && (upstream?.isWritable ?? true) {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func readIfPending() {
        guard pendingRead, let context else { return }
        pendingRead = false
        read(context: context)
    }

    // MARK: Upstream side (called by UpstreamHandler)

    func upstreamRead(_ bytes: ByteBuffer, from channel: Channel) {
        guard channel === upstream else {
            // A laptop must not talk on a kept stream between exchanges.
            if channel === kept?.channel { endKept(reset: true) }
            return
        }
        if keptRequestUncounted { countKeptRequest() }
        perform { $0.upstreamRead(bytes, into: &$1) }
    }

    func upstreamEnded(_ channel: Channel) {
        guard channel === upstream else {
            if channel === kept?.channel { endKept() }  // the laptop ended it: our FIN closes it
            return
        }
        if piping {
            flushNow()
            context?.close(mode: .output, promise: nil)
            return
        }
        perform { $0.upstreamEnded(into: &$1) }
        if keptRequestUncounted { countKeptRequest() }  // not sent again: it went to the laptop
    }

    func upstreamFailed(_ channel: Channel, error: Error) {
        guard channel === upstream else {
            if channel === kept?.channel { endKept(reset: true) }
            return
        }
        let message = describeFailure(error)
        if let reset = error as? StreamResetError, reset.byPeer, reset.code == .refusedStream {
            perform { $0.upstreamRefused(status: 502, message: message, into: &$1) }
        } else {
            perform { $0.upstreamFailed(status: 502, message: message, into: &$1) }
        }
        if keptRequestUncounted { countKeptRequest() }  // not sent again: it went to the laptop
    }

    /// The request sent on a kept stream counts for the laptop (see `keptRequestUncounted`).
    private func countKeptRequest() {
        keptRequestUncounted = false
        shared.metrics.routedToLaptop.increment()
    }

    func upstreamWritabilityChanged() {
        if upstream?.isWritable ?? false { readIfPending() }
    }

    func flushClient() {
        flush()
    }

    // MARK: Actions

    /// One step of the exchange, then its actions. Action lists are kept from one step to the next,
    /// so that a request costs no allocation for them; a step taken while a list is in use (routing
    /// makes the upstream ready from inside `run`) takes another.
    private func perform(_ step: (inout EdgeExchange, inout [EdgeExchange.Action]) -> Void) {
        var actions = spareActionLists.popLast() ?? []
        step(&exchange, &actions)
        run(actions)
        actions.removeAll(keepingCapacity: true)
        spareActionLists.append(actions)
    }

    private func run(_ actions: [EdgeExchange.Action]) {
        guard let context else { return }
        for action in actions {
            switch action {
            case .route:
                cancelTimer()
                if let head = exchange.routingHead { route(head) }
            case .sendUpstream(let bytes):
                guard let upstream else { continue }
                if upstreamHandler?.write(bytes) != true { upstream.write(bytes, promise: nil) }
                upstreamNeedsFlush = true
            case .sendClient(let bytes):
                context.write(wrapOutboundOut(bytes), promise: nil)
                clientNeedsFlush = true
            case .finishUpstream(let reusable):
                finishUpstream(reusable: reusable)
            case .pipe:
                piping = true
            case .retryOnNewConnection:
                if let laptop = retryLaptop {
                    shared.metrics.laptopRetries.increment()
                    // Counted where the new stream takes it (a retry always follows a kept stream).
                    keptRequestUncounted = false
                    openStream(to: laptop)
                } else {
                    shared.metrics.appRetries.increment()
                    connectApp(fresh: true)
                }
            case .closeClient:
                guard !closing else { continue }
                if let status = exchange.answeredStatus { shared.metrics.edgeAnswered(status: status) }
                closing = true
                clientNeedsFlush = false
                lingerThenClose(context: context)
            }
        }
        flush()
        readIfPending()
    }

    /// Asks for the writes made so far to be flushed at the end of this wake-up of the event loop.
    private func flush() {
        guard upstreamNeedsFlush || clientNeedsFlush, !flushListed else { return }
        flushListed = true
        shared.flushes.flushLater(self)
    }

    func flushNow() {
        flushListed = false
        flushUpstreamNow()
        if clientNeedsFlush {
            clientNeedsFlush = false
            context?.flush()
        }
    }

    /// Before the upstream is closed, kept or handed back: what was written to it goes out first.
    private func flushUpstreamNow() {
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            if upstreamHandler?.flush() != true { upstream?.flush() }
        }
    }

    private func route(_ head: ShuntHTTP1.RequestHead) {
        switch shared.registry.route(head, port: shared.port) {
        case .app:
            shared.metrics.routedToApp.increment()
            connectApp()
        case .laptop(let laptop):
            routeTo(laptop)
        }
    }

    private func routeTo(_ laptop: Route.Laptop) {
        if let (stream, handler) = takeKept(for: laptop) {
            // A request on a kept stream is a request the laptop takes, as one on a new stream is
            // (`FailOpenEpisodes.succeeded`), once it is not refused (`keptRequestUncounted`). It
            // does not end a fail-open episode: the episode is about opening streams (a laptop out
            // of stream credit fails new callers open while its kept streams still serve), and
            // ending it on every kept request would log one episode per failed request.
            keptRequestUncounted = true
            shared.metrics.laptopStreamsReused.increment()
            attach(stream, handler: handler, laptop: laptop, reused: true, counted: true)
            return
        }
        openStream(to: laptop)
    }

    /// A new tunnel stream to `laptop` for the request; when none can be had, the app serves it.
    private func openStream(to laptop: Route.Laptop) {
        openStream(to: laptop, kind: .http).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let stream):
                self.shared.failOpen.succeeded(intercept: laptop.intercept, owner: laptop.owner)
                self.attach(stream, laptop: laptop)
            case .failure(let error):
                // Fail open: a laptop that cannot take the request leaves it to the app.
                self.shared.failedOpen(laptop, error: error)
                self.connectApp()
            }
        }
    }

    /// The kept stream, if it goes to the same intercept of the same session and is still open; a
    /// kept stream to another laptop is ended.
    private func takeKept(for laptop: Route.Laptop) -> (Channel, UpstreamHandler)? {
        guard let kept else { return nil }
        guard kept.laptop.session === laptop.session, kept.laptop.intercept == laptop.intercept, kept.channel.isActive else {
            endKept()
            return nil
        }
        self.kept = nil
        return (kept.channel, kept.handler)
    }

    /// Ends the kept stream, if any: FIN (the laptop answers with its own), or a reset after the
    /// laptop broke the protocol on it.
    private func endKept(reset: Bool = false) {
        guard let (channel, handler, _) = kept else { return }
        kept = nil
        handler.edge = nil
        if reset {
            (channel as? ShuntStreamChannel)?.reset(code: .protocolError, reason: "octets on a kept HTTP stream between exchanges")
            channel.close(promise: nil)
        } else {
            channel.close(mode: .output, promise: nil)
        }
    }

    /// An app connection for the request: an idle pooled one if there is one (unless `fresh`: the
    /// request is being sent again after a reused one closed on it), else a new one.
    private func connectApp(fresh: Bool = false) {
        if !fresh, let (channel, handler) = shared.pool.acquireIdle(for: self) {
            attach(channel, handler: handler, laptop: nil, reused: true)
            return
        }
        shared.pool.dial(for: self).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                self.attach(channel, laptop: nil)
            case .failure(let error):
                self.run(self.exchange.upstreamFailed(status: 502, message: "shunt: the app at \(self.shared.pool.address) is unreachable: \(error)"))
            }
        }
    }

    private func openStream(to laptop: Route.Laptop, kind: StreamKind) -> EventLoopFuture<Channel> {
        let metadata = StreamMetadata([
            (key: "intercept", value: laptop.intercept),
            (key: "client", value: clientText),
            (key: "port", value: String(shared.port)),
            (key: "request-id", value: String(shared.nextRequestID())),
        ])
        let compress = laptop.compress
        let handler = NIOLoopBound(UpstreamHandler(edge: self), eventLoop: context!.eventLoop)
        return laptop.session.openStream(kind: kind, metadata: metadata) { stream in
            stream.eventLoop.makeCompletedFuture {
                if compress { try stream.enableCompression() }
                try stream.pipeline.syncOperations.addHandler(handler.value)
            }
        }
    }

    private func attach(_ channel: Channel, handler: UpstreamHandler? = nil, laptop: Route.Laptop?, reused: Bool = false, counted: Bool = false) {
        guard let handler = handler ?? (try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)) else {
            channel.close(promise: nil)
            run(exchange.upstreamFailed(status: 502, message: "shunt: the upstream connection closed before it was used"))
            return
        }
        guard let context, context.channel.isActive, !exchange.isClosed else {
            handler.edge = nil
            if laptop == nil { shared.pool.release(channel, handler: handler) } else { channel.close(promise: nil) }
            return
        }
        upstream = channel
        upstreamHandler = handler
        self.laptop = laptop
        retryLaptop = laptop
        upstreamCounted = counted
        perform { $0.upstreamReady(reused: reused, into: &$1) }
        // A stream just opened: its request joins the session's writes now, so that the opening and
        // the request leave in one write (the session flushes at the end of this wake-up, before the
        // edge's own flushes), and the laptop has the request when it starts serving the stream.
        if laptop != nil && !reused { flushUpstreamNow() }
    }

    private func finishUpstream(reusable: Bool) {
        guard let channel = upstream else { return }
        flushUpstreamNow()
        let laptop = self.laptop
        let counted = upstreamCounted
        if let laptop, reusable, !closing, !draining, !exchange.isClosed,
           counted || shared.keptStreams.take(channel, of: laptop.session) {
            // Kept for the client's next request to this laptop (spec §10.2).
            kept = (channel, upstreamHandler!, laptop)
            upstream = nil
            upstreamHandler = nil
            self.laptop = nil
            upstreamCounted = false
        } else if laptop != nil {
            detachUpstream()
            // The exchange is over: our FIN ends the stream (the laptop answers with its own).
            channel.close(mode: .output, promise: nil)
        } else if reusable, let handler = upstreamHandler {
            detachUpstream()
            shared.pool.release(channel, handler: handler)
        } else {
            detachUpstream()
            channel.close(promise: nil)
        }
        // A pipelined head already begun runs on the header-read clock, not the idle one.
        if !closing && !exchange.isClosed { armTimer(header: exchange.isInsideRequest) }
        if draining, let context { closeIfDrained(context: context) }
    }

    private func closeIfDrained(context: ChannelHandlerContext) {
        guard !closing, upstream == nil, !exchange.isInsideRequest else { return }
        closing = true
        cancelTimer()
        flushNow()
        context.close(promise: nil)
    }

    private func detachUpstream() {
        flushUpstreamNow()
        upstreamHandler?.edge = nil
        upstreamHandler = nil
        upstream = nil
        laptop = nil
        upstreamCounted = false
    }

    private func describeFailure(_ error: Error) -> String {
        let target = laptop.map { "intercept \($0.intercept): \($0.owner)'s laptop" } ?? "the app at \(shared.pool.address)"
        if let reset = error as? StreamResetError {
            return "shunt: \(target) could not serve the request: \(reset.reason.isEmpty ? "\(reset.code)" : reset.reason)"
        }
        return "shunt: \(target) failed: \(error)"
    }

    // MARK: Global intercept

    private func startGlobal(_ laptop: Route.Laptop, context: ChannelHandlerContext) {
        let client = context.channel
        let metadata = StreamMetadata([
            (key: "intercept", value: laptop.intercept),
            (key: "client", value: clientText),
            (key: "port", value: String(shared.port)),
        ])
        let failOpen = shared.failOpen
        let clientBound = NIOLoopBound(client, eventLoop: context.eventLoop)
        laptop.session.openStream(kind: .tcp, metadata: metadata) { stream in
            stream.eventLoop.makeCompletedFuture {
                if laptop.compress { try stream.enableCompression() }
                let (streamSide, clientSide) = GlueHandler.matchedPair()
                try stream.pipeline.syncOperations.addHandler(streamSide)
                try clientBound.value.pipeline.syncOperations.addHandler(clientSide)
            }
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                failOpen.succeeded(intercept: laptop.intercept, owner: laptop.owner)
                _ = client.pipeline.syncOperations.removeHandler(self)
                client.read()
            case .failure(let error):
                // Fail open: the connection is served by the app, as HTTP or not, through the edge.
                self.shared.failedOpen(laptop, error: error, global: true)
                self.starting = false
                self.armTimer(header: false)
                client.read()
            }
        }
    }

    // MARK: Timers

    // One clock at a time runs on a connection: idle (between requests), header read (inside a
    // request head) or linger (after an answer that ends it). Setting or stopping a clock only
    // moves `deadline`; the one scheduled wake-up comes no later than it and, when the deadline has
    // moved on meanwhile, schedules the next. A wake-up is never further away than the header-read
    // timeout, so the header clock that starts with each request never needs a new one: a busy
    // connection schedules a task every few seconds instead of two per request.
    private enum Clock {
        case idle, header, linger
    }

    private func armTimer(header: Bool) {
        let configuration = shared.configuration
        setClock(header ? .header : .idle, timeout: header ? configuration.headerReadTimeout : configuration.idleTimeout)
    }

    private func setClock(_ clock: Clock, timeout: TimeAmount) {
        guard let context else { return }
        let now = NIODeadline.now()
        let deadline = now + timeout
        self.clock = clock
        self.deadline = deadline
        if wakeUp == nil || wakeUpAt > deadline {
            scheduleWakeUp(at: min(deadline, now + shared.configuration.headerReadTimeout), context: context)
        }
    }

    private func scheduleWakeUp(at time: NIODeadline, context: ChannelHandlerContext) {
        wakeUp?.cancel()
        wakeUpAt = time
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        wakeUp = context.eventLoop.scheduleTask(deadline: time) { bound.value.wokeUp() }
    }

    /// The clock stops; the wake-up already scheduled finds no deadline and does nothing.
    private func cancelTimer() {
        deadline = nil
    }

    /// The connection is gone: nothing is left scheduled that holds the handler.
    private func stopWakeUp() {
        cancelTimer()
        wakeUp?.cancel()
        wakeUp = nil
        wakeUpAt = .distantFuture
    }

    private func wokeUp() {
        wakeUp = nil
        wakeUpAt = .distantFuture
        guard let deadline, let context else { return }
        let now = NIODeadline.now()
        if now < deadline {
            scheduleWakeUp(at: min(deadline, now + shared.configuration.headerReadTimeout), context: context)
            return
        }
        self.deadline = nil
        if clock == .linger {
            context.close(promise: nil)
        } else {
            timerFired()
        }
    }

    /// Sends what is queued and FIN, then reads and drops the client's input until it closes too or
    /// the linger timeout passes.
    private func lingerThenClose(context: ChannelHandlerContext) {
        lingering = true
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
        setClock(.linger, timeout: shared.configuration.lingerTimeout)
        context.read()
    }

    private func timerFired() {
        guard let context, !closing, upstream == nil, !piping else { return }
        closing = true
        if exchange.isInsideRequest {
            shared.metrics.edgeAnswered(status: 408)
            let seconds = Double(shared.configuration.headerReadTimeout.nanoseconds) / 1e9
            context.write(wrapOutboundOut(EdgeExchange.errorResponse(status: 408, message: "shunt: the request head did not arrive within \(seconds) s")), promise: nil)
            lingerThenClose(context: context)
        } else {
            flushNow()
            context.close(promise: nil)
        }
    }
}

/// Sent through an edge connection's pipeline when the agent shuts down.
struct EdgeDrain {}
