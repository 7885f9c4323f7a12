import NIOConcurrencyHelpers
import NIOCore
import ShuntSession

/// The limits of the keep-alive pool to the developer's local service.
public struct LocalPoolLimits: Sendable, Hashable {
    /// Idle connections kept per event loop.
    public var maxIdle: Int
    /// How long a connection may wait unused before it is closed.
    public var idleTimeout: TimeAmount

    public init(maxIdle: Int = 128, idleTimeout: TimeAmount = .milliseconds(1_500)) {
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }
}

/// Keep-alive connections to the developer's local service, for the HTTP streams of one event loop.
/// A stream takes an idle connection (the most recent first) or dials a new one; after its exchange
/// the connection comes back if `LocalExchange` says it is reusable, and waits at most
/// `idleTimeout`, shorter than the keep-alive timeout of common servers (Node.js and uvicorn close
/// after 5 s, gunicorn after 2 s), so that the service does not close a connection just as a stream
/// takes it. At most `maxIdle` wait. An idle connection that the service closes, or that sends
/// anything, is dropped.
///
/// Confined to its event loop: every method but `closeAll` runs there (checked), and `closeAll` is
/// only called through `eventLoop.execute`; that is what makes it safe to share.
final class LocalConnectionPool: @unchecked Sendable {
    typealias Limits = LocalPoolLimits

    /// 127.0.0.1 or ::1, whichever the service answers at.
    let target: LocalTarget
    let eventLoop: EventLoop
    let limits: Limits
    let connectTimeout: TimeAmount
    private let idle: IdleConnections<LocalSocketHandler>
    /// Requests written to connections are flushed together at the end of the loop's wake-up.
    let flushes: TickFlushes
    /// The batch's counts, when the pool's writes are batched; read from any thread (tests).
    let writeCounts: SocketWriteBatch.Counts?
    /// Connections dialled; read from any thread (tests).
    private let dialled = NIOLockedValueBox(0)
    var dialledCount: Int { dialled.withLockedValue { $0 } }

    init(target: LocalTarget, eventLoop: EventLoop, limits: Limits, connectTimeout: TimeAmount) {
        self.target = target
        self.eventLoop = eventLoop
        self.limits = limits
        self.connectTimeout = connectTimeout
        idle = IdleConnections(eventLoop: eventLoop, maxIdle: limits.maxIdle, idleTimeout: limits.idleTimeout)
        flushes = TickFlushes(eventLoop: eventLoop, batchedWrites: true)
        writeCounts = flushes.batch?.counts
    }

    var idleCount: Int { idle.count }

    /// A connection whose `LocalSocketHandler` reports to `exchange`: an idle one (the exchange is
    /// told it was reused), else a new one.
    func acquire(for exchange: LocalStreamHandler) -> EventLoopFuture<Channel> {
        if let (channel, _) = acquireIdle(for: exchange) { return eventLoop.makeSucceededFuture(channel) }
        return dial(for: exchange)
    }

    /// An idle connection now reporting to `exchange` (which is told it was reused), with its
    /// handler, or nil when none is left; no future, for the exchanges of a kept stream.
    func acquireIdle(for exchange: LocalStreamHandler) -> (channel: Channel, handler: LocalSocketHandler)? {
        guard let (channel, socket) = idle.take() else { return nil }
        socket.exchange = exchange
        exchange.connectionWasReused()
        return (channel, socket)
    }

    /// A new connection, for a request sent again after a reused one closed on it.
    func dial(for exchange: LocalStreamHandler) -> EventLoopFuture<Channel> {
        dialled.withLockedValue { $0 += 1 }
        let (idle, connectTimeout, eventLoop, batch) = (self.idle, self.connectTimeout, self.eventLoop, flushes.batch)
        return target.connect(on: eventLoop) { address in
            idle.dial(address, connectTimeout: connectTimeout, handler: NIOLoopBound(LocalSocketHandler(exchange: exchange), eventLoop: eventLoop),
                      batch: batch)
        }
    }

    /// The exchange on `channel` is over and it may serve another; `handler` is its `LocalSocketHandler`.
    func release(_ channel: Channel, handler: LocalSocketHandler) {
        idle.put(channel, handler: handler)
    }

    func closeAll() {
        idle.closeAll()
    }
}

/// The pooled connection's own handler, for its whole life: passes what the service sends to the
/// stream it currently serves, and reads only while that stream can take more.
final class LocalSocketHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Nil while the connection idles in the pool.
    var exchange: LocalStreamHandler?
    private var pendingRead = false
    private var context: ChannelHandlerContext?

    init(exchange: LocalStreamHandler?) {
        self.exchange = exchange
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            context.close(promise: nil)  // an idle connection must not talk
            return
        }
        exchange.localRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.flushStream()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            if let exchange {
                exchange.localEnded()
            } else {
                context.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        exchange?.localFailed()
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange?.localEnded()
        exchange = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.localBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if exchange?.streamWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}

/// On an HTTP stream: joins it to a pooled connection to the local service, one exchange at a time.
/// The request goes out as it arrives and the response comes back as it arrives, both unchanged,
/// with backpressure each way. When the final response is complete and `LocalExchange` says the
/// exchange ended cleanly, the connection goes back to the pool and the stream waits for the agent's
/// next request (it takes a connection from the pool again) or its FIN (answered with ours): the
/// stream is kept alive (spec §10.2). Otherwise the stream is finished (FIN) and the connection
/// closed. When the service closes first, its EOF is passed on (a close-delimited response ends that
/// way); when the agent ends the stream early, or resets it, the connection is shut as an unpooled
/// one would be. A request that arrives after this side finished the stream is refused
/// (REFUSED_STREAM: nothing of it was processed, the agent sends it again on a new stream).
///
/// A reused connection that the service closes before any octet of the answer (its keep-alive
/// timeout ran out just as the request went out) gets the request again on a new connection, once,
/// when `LocalExchange.mayResend` says it is safe; the octets of the request are kept until then (at
/// most `maxResendBytes`).
final class LocalStreamHandler: ChannelDuplexHandler, TickFlushes.Member {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let pool: LocalConnectionPool
    /// Reports each exchange of the stream to the request log; told of every octet this handler reads
    /// from the stream and writes to it (it is not in the pipeline).
    private let observer: RequestObserver?
    /// Told whether the pool gave a connection for a later exchange; on a failure it gives the
    /// reason the stream is reset with.
    private let reachable: (Result<Void, Error>) -> String?
    private var local: Channel?
    /// The handler on `local` that reports to this stream, kept to spare a pipeline lookup each exchange.
    private var localHandler: LocalSocketHandler?
    private var tracker: LocalExchange
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var localNeedsFlush = false
    /// Listed in the pool's `flushes` for the end of this wake-up.
    private var flushListed = false
    private var streamNeedsFlush = false
    private var finished = false
    /// This side finished the stream after a complete exchange: a request after it is refused.
    private var finishedAfterExchange = false
    private var agentEndedEarly = false
    /// Between exchanges: no connection, waiting for the agent's next request or its FIN.
    private var idle = false
    /// A connection is being taken from the pool for the next exchange; what arrives meanwhile waits here.
    private var waiting: ByteBuffer?
    /// What went out on a reused connection, while it may have to go out again; nil otherwise. A
    /// copy (`bytes` are slices of the session's TLS plaintext buffer, and keeping one until the
    /// answer began made the next TLS read copy that whole buffer), into storage the stream reuses
    /// from one exchange to the next (`resendSpare`).
    private var resend: ByteBuffer?
    private var resendSpare: ByteBuffer?
    private var resent = false
    /// The most octets of a request kept for sending it again: a head without a body.
    let maxResendBytes: Int

    init(pool: LocalConnectionPool, tracker: LocalExchange = LocalExchange(), observer: RequestObserver? = nil,
         reachable: @escaping (Result<Void, Error>) -> String? = { result in
             if case .failure(let error) = result { return "\(error)" }
             return nil
         }) {
        self.pool = pool
        self.tracker = tracker
        self.observer = observer
        self.reachable = reachable
        maxResendBytes = tracker.limits.maxHeadSize
    }

    /// The connection came from the pool: what the request sends is kept until the answer begins.
    func connectionWasReused() {
        guard !resent else { return }
        var buffer = resendSpare.take() ?? ByteBuffer()
        buffer.clear()
        resend = buffer
    }

    /// The request will not be sent again: its copy's storage waits for the next exchange.
    private func dropResend() {
        if let buffer = resend.take() { resendSpare = buffer }
    }

    /// Joins the connection; called once, before the handler is added to the stream.
    func attach(_ channel: Channel) {
        local = channel
        localHandler = try? channel.pipeline.syncOperations.handler(type: LocalSocketHandler.self)
    }

    /// True until the stream is joined: a read the connection asks for before then is not held.
    var streamWritable: Bool { context?.channel.isWritable ?? true }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // However the stream ends (a reset before it was even active included), the connection is
        // let go: a stream that is closed never fires `channelInactive` at a handler added late.
        context.channel.closeFuture.assumeIsolated().whenComplete { _ in
            self.finished = true
            if self.local != nil { self.detach(reusable: false) }
        }
        localHandler?.resumeReading()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Stream side (the agent)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        observer?.sawRequest(bytes)
        guard let local else {
            if finishedAfterExchange {
                finishedAfterExchange = false
                (context.channel as? ShuntStreamChannel)?.reset(code: .refusedStream, reason: "the laptop had ended this stream after its last exchange")
            } else if waiting != nil {
                waiting!.writeBuffer(&bytes)
            } else if idle, !finished {
                beginExchange(bytes, context: context)
            }
            return
        }
        forward(bytes, to: local)
    }

    private func forward(_ bytes: ByteBuffer, to local: Channel) {
        tracker.requestRead(bytes)
        if resend != nil {
            if resend!.readableBytes + bytes.readableBytes > maxResendBytes {
                dropResend()
            } else {
                resend!.writeImmutableBuffer(bytes)
            }
        }
        local.write(bytes, promise: nil)
        localNeedsFlush = true
    }

    /// The agent's next request on a kept stream: a connection from the pool (an idle one at once, if
    /// there is one), then the request goes out as the first did.
    private func beginExchange(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        idle = false
        tracker = LocalExchange(limits: tracker.limits)
        dropResend()
        resent = false
        waiting = bytes
        if let (channel, handler) = pool.acquireIdle(for: self) {
            connected(.success(channel), handler: handler)
            return
        }
        pool.dial(for: self).assumeIsolated().whenComplete { self.connected($0) }
    }

    /// The next exchange's connection is there (or cannot be had): what waited goes out.
    private func connected(_ result: Result<Channel, Error>, handler: LocalSocketHandler? = nil) {
        guard let held = waiting else { return }
        waiting = nil
        switch result {
        case .success(let channel):
            guard !finished, let context else {
                channel.close(promise: nil)
                return
            }
            _ = reachable(.success(()))
            local = channel
            localHandler = handler ?? (try? channel.pipeline.syncOperations.handler(type: LocalSocketHandler.self))
            forward(held, to: channel)
            if agentEndedEarly {
                flushNow()
                channel.close(mode: .output, promise: nil)
            } else {
                flushLocalLater()
            }
            localHandler?.resumeReading()
            if pendingRead {
                pendingRead = false
                context.read()
            }
        case .failure(let error):
            guard !finished, let context else { return }
            finished = true
            observer?.failure = LocalForwarder.notServed
            (context.channel as? ShuntStreamChannel)?.reset(code: .connectError, reason: reachable(.failure(error)) ?? "\(error)")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushLocalLater()
        context.fireChannelReadComplete()
    }

    /// What was written to the local connection goes out at the end of this wake-up of the loop.
    private func flushLocalLater() {
        guard localNeedsFlush, !flushListed else { return }
        flushListed = true
        pool.flushes.flushLater(self)
    }

    func flushNow() {
        flushListed = false
        if localNeedsFlush {
            localNeedsFlush = false
            local?.flush()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            if let local {
                // The agent ended the stream before the response was complete (its caller left): the
                // service sees EOF, as it would without the pool; its answer still comes back, and the
                // connection is not reused.
                agentEndedEarly = true
                flushNow()
                local.close(mode: .output, promise: nil)
            } else if waiting != nil {
                agentEndedEarly = true  // the connection being taken gets the request, then EOF
            } else if !finished {
                // Between exchanges: the agent is done with the stream; our FIN closes it.
                finished = true
                context.close(mode: .output, promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        observer?.streamClosed()
        finished = true
        if local != nil { detach(reusable: false) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if local != nil { detach(reusable: false) }
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { localHandler?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if waiting != nil || (local.map { !$0.isWritable } ?? false) {
            pendingRead = true
        } else {
            context.read()
        }
    }

    // MARK: Local side (called by LocalSocketHandler)

    func localRead(_ bytes: ByteBuffer) {
        guard let context, !finished else { return }
        dropResend()
        observer?.sawResponse(bytes)
        context.write(wrapOutboundOut(bytes), promise: nil)
        streamNeedsFlush = true
        guard local != nil, tracker.responseRead(bytes) else { return }
        flushStream()
        if tracker.reusable && !agentEndedEarly {
            // The exchange ended cleanly: the connection goes back, and the stream waits for the next.
            detach(reusable: true)
            observer?.exchangeEnded()
            idle = true
            return
        }
        // The final response is complete: the stream is finished, the connection goes back (or not).
        finished = true
        finishedAfterExchange = tracker.requestComplete
        detach(reusable: false)
        context.close(mode: .output, promise: nil)
    }

    func flushStream() {
        guard streamNeedsFlush, let context else { return }
        streamNeedsFlush = false
        context.flush()
    }

    func localEnded() {
        guard let context else { return }
        if !finished && resendOnNewConnection() { return }
        if local != nil { detach(reusable: false) }
        guard !finished else { return }
        finished = true
        flushStream()
        context.close(mode: .output, promise: nil)
    }

    func localFailed() {
        guard let context, !finished else { return }
        if resendOnNewConnection() { return }
        finished = true
        if local != nil { detach(reusable: false) }
        context.close(promise: nil)
    }

    func localBecameWritable() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    /// The reused connection ended without a word: the request goes out again on a new one, if
    /// `LocalExchange` says it may (once). False when it does not.
    private func resendOnNewConnection() -> Bool {
        guard let bytes = resend, !resent, tracker.mayResend, context != nil else { return false }
        resent = true
        resend = nil
        detach(reusable: false)
        pool.dial(for: self).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard !self.finished, self.context != nil else {
                    channel.close(promise: nil)
                    return
                }
                self.local = channel
                self.localHandler = try? channel.pipeline.syncOperations.handler(type: LocalSocketHandler.self)
                channel.writeAndFlush(bytes, promise: nil)
            case .failure:
                self.localEnded()
            }
        }
        return true
    }

    private func detach(reusable: Bool) {
        guard let channel = local else { return }
        let handler = localHandler
        detachKeeping()
        if reusable, let handler {
            pool.release(channel, handler: handler)
        } else {
            channel.close(promise: nil)
        }
    }

    /// Unhooks the connection from this stream without closing it.
    private func detachKeeping() {
        flushNow()
        local = nil
        localHandler?.exchange = nil
        localHandler = nil
    }
}
