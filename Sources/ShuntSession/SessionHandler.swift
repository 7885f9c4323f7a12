import NIOCore
import ShuntWire

/// Runs a `SessionStateMachine` over a byte channel (TLS in production): decodes what arrives, feeds
/// the machine, writes what it queues, keeps its timer, and maps its streams to `ShuntStreamChannel`s.
/// A thin shell: every decision is the state machine's.
///
/// Output is pulled from the machine only while the parent channel is writable, so a peer that does
/// not read stops this side at its windows and bounded queues; input is always read (a pending write
/// never stops reading, which avoids the mutual-write deadlock).
public final class SessionHandler: ChannelDuplexHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Never
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer

    /// Sets up a stream the peer opened; reset it (by closing) to refuse it.
    public typealias StreamInitializer = @Sendable (ShuntStreamChannel) -> EventLoopFuture<Void>

    public let configuration: SessionConfiguration
    private var machine: SessionStateMachine
    private var decoder: FrameDecoder
    private let inboundStreamInitializer: StreamInitializer
    private var context: ChannelHandlerContext?
    /// Kept after the handler is removed, so that late calls fail on the right loop.
    private var eventLoop: EventLoop?
    private var streams: [StreamID: ShuntStreamChannel] = [:]
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var flushing = false
    private var flushAgain = false
    /// A `flushOutbound` is queued on the event loop (see `requestFlush`).
    private var flushRequested = false
    /// Flush requests of stream channels since the last write to the connection.
    private var requestsSinceFlush = 0
    /// The most stream flushes that wait for the end of the wake-up: the one that reaches it writes
    /// at once. Bounded for the reason `TickFlushes` gives, and with its value.
    public static let maxFlushBatch = TickFlushes.defaultMaxBatch
    private var processingEvents = false
    private var closing = false
    private var readyPromise: EventLoopPromise<UInt16>?
    private var endedPromise: EventLoopPromise<SessionError?>?
    private var goAwayObserver: ((StreamID, ErrorCode, String) -> Void)?
    private var pendingOpens = CircularBuffer<PendingOpen>()
    /// Octets of frames read from and written to the connection (TLS payload, not records).
    public private(set) var octetsRead = 0
    public private(set) var octetsWritten = 0

    public init(configuration: SessionConfiguration, inboundStreamInitializer: @escaping StreamInitializer) {
        self.configuration = configuration
        self.machine = SessionStateMachine(configuration: configuration, now: .now())
        self.decoder = FrameDecoder(limits: configuration.settings.decoderLimits, expectsPreface: true)
        self.inboundStreamInitializer = inboundStreamInitializer
    }

    // MARK: Owner API (on the event loop)

    /// Succeeds with the negotiated version once both HELLOs are exchanged.
    public func ready(on eventLoop: EventLoop) -> EventLoopFuture<UInt16> {
        if let version = machine.version { return eventLoop.makeSucceededFuture(version) }
        if let error = endedError { return eventLoop.makeFailedFuture(error) }
        if readyPromise == nil { readyPromise = eventLoop.makePromise() }
        return readyPromise!.futureResult
    }

    /// Succeeds when the session is over: nil for a clean end, else why.
    public func ended(on eventLoop: EventLoop) -> EventLoopFuture<SessionError?> {
        if machine.isEnded { return eventLoop.makeSucceededFuture(endedError) }
        if endedPromise == nil { endedPromise = eventLoop.makePromise() }
        return endedPromise!.futureResult
    }

    private var endedError: SessionError?

    /// Called when the peer sends GOAWAY (last stream id, code, debug text).
    public func onGoAway(_ observer: @escaping (StreamID, ErrorCode, String) -> Void) {
        goAwayObserver = observer
    }

    /// Called for every PING round trip this side completes (`shunt-wire ping` prints them).
    public func onRoundTrip(_ observer: @escaping (TimeAmount) -> Void) {
        roundTripObserver = observer
    }

    private var roundTripObserver: ((TimeAmount) -> Void)?

    /// Which way a frame crossed this session's connection.
    public enum FrameDirection: Sendable, Hashable {
        case received, sent
    }

    /// Sees every frame this session decodes and every frame it encodes, on the event loop, before
    /// the machine acts on it (received) or as it is written (sent). A DATA frame's bytes are a slice
    /// of the session's buffers, valid only during the call. Nil (the default) costs one check per
    /// frame; the agent sets it only while someone taps (`shunt-wire tap`).
    public var frameObserver: ((FrameDirection, Frame) -> Void)?

    /// The settings of the peer's HELLO, defaults filled in (meaningful once `ready`).
    public var peerSettings: PeerSettings { machine.peerSettings }

    /// The latest PING round trip.
    public var roundTripTime: TimeAmount? { machine.roundTripTime }
    public var isReady: Bool { machine.isReady }
    public var isClosing: Bool { machine.isClosing }
    public var streamCount: Int { machine.streamCount }
    public var queuedControlFrames: Int { machine.queuedControlFrames }

    /// Opens a stream; `initializer` adds its handlers before it becomes active. Data written right
    /// after travels in the same flight as STREAM_OPEN.
    public func openStream(kind: StreamKind, metadata: StreamMetadata = StreamMetadata(),
                           initializer: @escaping StreamInitializer) -> EventLoopFuture<Channel> {
        guard let context else {
            guard let eventLoop else {
                preconditionFailure("SessionHandler.openStream called before the handler was added to a channel")
            }
            return eventLoop.makeFailedFuture(StreamOpenError(reason: .sessionClosing))
        }
        let promise = context.eventLoop.makePromise(of: Channel.self)
        let open = PendingOpen(kind: kind, metadata: metadata, initializer: initializer, promise: promise)
        if !pendingOpens.isEmpty {
            // Opens keep their order: this one waits behind those already waiting for credit.
            enqueue(open)
        } else {
            startOpen(open, context: context)
        }
        return promise.futureResult
    }

    /// Streams waiting for the peer's credit (spec §5.4), opened in order as MAX_STREAMS arrives.
    public var streamsWaitingForCredit: Int { pendingOpens.count }

    private struct PendingOpen {
        let kind: StreamKind
        let metadata: StreamMetadata
        let initializer: StreamInitializer
        let promise: EventLoopPromise<Channel>
    }

    private func enqueue(_ open: PendingOpen) {
        guard pendingOpens.count < configuration.maxPendingOpens else {
            open.promise.fail(StreamOpenError(reason: .noStreamCredit))
            return
        }
        pendingOpens.append(open)
    }

    /// Opens the stream, or queues it when the peer's credit is used up. False: it was queued.
    @discardableResult
    private func startOpen(_ open: PendingOpen, context: ChannelHandlerContext) -> Bool {
        let id: StreamID
        do {
            id = try machine.openStream(kind: open.kind, metadata: open.metadata)
        } catch .noStreamCredit {
            enqueue(open)
            return false
        } catch {
            open.promise.fail(StreamOpenError(reason: error))
            return true
        }
        let channel = ShuntStreamChannel(session: self, parent: context.channel, streamID: id, kind: open.kind, metadata: open.metadata)
        streams[id] = channel
        channel.activate(initializer: open.initializer, promise: open.promise)
        requestFlush()
        return true
    }

    private func openWaitingStreams() {
        guard let context else { return }
        while let open = pendingOpens.popFirst() {
            if !startOpen(open, context: context) {
                // Requeued at the back by startOpen: put it back at the front.
                pendingOpens.prepend(pendingOpens.removeLast())
                return
            }
        }
    }

    private func failWaitingStreams(_ reason: StreamOperationError) {
        while let open = pendingOpens.popFirst() { open.promise.fail(StreamOpenError(reason: reason)) }
    }

    /// Ends the session (spec §7.2): graceful by default.
    public func goAway(code: ErrorCode = .noError, debug: String = "", graceful: Bool = true) {
        machine.goAway(code: code, debug: debug, graceful: graceful, now: .now())
        failWaitingStreams(.sessionClosing)
        processEvents()
        flushOutbound()
    }

    /// Octets queued in the session for sending on `id` (bounded by the send buffer plus one write).
    public func queuedBytes(_ id: StreamID) -> Int { machine.queuedBytes(id) }

    /// The stream channels alive now, by id.
    public var streamChannels: [StreamID: ShuntStreamChannel] { streams }

    /// One line per stream: the session's view (windows, queue) and the channel's, for diagnostics.
    public var streamDiagnostics: [String] {
        streams.keys.sorted().map { id in
            "\(id): send window \(machine.sendWindow(id) ?? -1), queued \(machine.queuedBytes(id)), receive credit \(machine.receiveCredit(id) ?? -1), "
                + "writable \(machine.isWritable(id)); channel \(streams[id]!.debugState)"
        } + ["session send window \(machine.sessionSendWindow), receive credit \(machine.sessionReceiveCredit), parent writable \(context?.channel.isWritable ?? false), "
             + "has output \(machine.hasOutboundFrames), scheduling \(machine.schedulingViolation ?? "ok"), flushing \(flushing), processing \(processingEvents)"]
    }

    // MARK: Called by stream channels

    func isStreamWritable(_ id: StreamID) -> Bool { machine.isWritable(id) }

    func send(_ id: StreamID, _ data: ByteBuffer, fin: Bool, compressed: Bool = false) -> Bool {
        do {
            try machine.send(id, data, fin: fin, compressed: compressed)
            return true
        } catch {
            return false
        }
    }

    var maxCompressedUnit: Int { machine.maxCompressedUnit }
    var peerAcceptsCompression: Bool { machine.peerAcceptsCompression }

    func decompressionFailed(_ id: StreamID, reason: String) {
        machine.decompressionFailed(id, reason: reason, now: .now())
        processEvents()
        flushOutbound()
    }

    func consumed(_ id: StreamID, octets: Int) {
        if machine.consumed(id, octets: octets, now: .now()) { requestFlush() }
    }

    func resetStream(_ id: StreamID, code: ErrorCode, reason: String) {
        machine.reset(id, code: code, reason: reason)
        requestFlush()
    }

    /// The channel closed: its local work is torn down, so the stream stops counting (spec §5.4).
    func streamChannelClosed(_ id: StreamID) {
        streams[id] = nil
        machine.release(id)
        processEvents()
        flushOutbound()
    }

    // MARK: ChannelHandler

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.eventLoop = context.eventLoop
        if context.channel.isActive { start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private var started = false

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        machine = SessionStateMachine(configuration: configuration, now: .now())
        var preface = context.channel.allocator.buffer(capacity: WireLimits.preface.count)
        FrameEncoder.writePreface(into: &preface)
        context.write(wrapOutboundOut(preface), promise: nil)
        flushOutbound()
        rescheduleTimer()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        octetsRead += bytes.readableBytes
        decoder.append(bytes)
        let now = NIODeadline.now()
        do {
            while let frame = try decoder.next() {
                if let frameObserver { frameObserver(.received, frame) }
                machine.receive(frame, now: now)
                if machine.isEnded { break }
            }
        } catch {
            machine.receiveMalformed(error)
        }
        // NIOSSL reads the next records into this same buffer: a tail kept by the decoder would
        // make it copy the whole buffer first (most reads end inside a frame).
        decoder.ownBufferedBytes()
        processEvents()
        flushOutbound()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flushOutbound() }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        machine.transportClosed("the connection closed")
        processEvents()
        timer?.cancel()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        machine.transportClosed("\(error)")
        processEvents()
        context.close(promise: nil)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
        failWaitingStreams(.sessionClosing)
    }

    // MARK: Driving the machine

    /// Hands the machine's events to their streams and futures. True if there were any.
    /// Not re-entrant: a stream handler that writes while an event is delivered ends up here again
    /// (through `flushOutbound`); the outer loop then delivers the rest, in order.
    @discardableResult
    private func processEvents() -> Bool {
        guard !processingEvents else { return false }
        processingEvents = true
        defer { processingEvents = false }
        var any = false
        while let event = machine.nextEvent() {
            any = true
            switch event {
            case .ready(let version, _):
                readyPromise?.succeed(version)
                readyPromise = nil
            case .streamOpened(let id, let kind, let metadata, let fin):
                guard let context else { break }
                let channel = ShuntStreamChannel(session: self, parent: context.channel, streamID: id, kind: kind, metadata: metadata)
                streams[id] = channel
                if fin { channel.receive(ByteBuffer(), fin: true) }
                channel.activate(initializer: inboundStreamInitializer, promise: nil)
            case .data(let id, let bytes, let fin, let compressed):
                streams[id]?.receive(bytes, fin: fin, compressed: compressed)
            case .writable(let id):
                streams[id]?.sessionWritable()
            case .reset(let id, let code, let reason, let byPeer):
                streams[id]?.receiveReset(StreamResetError(streamID: id, code: code, reason: reason, byPeer: byPeer))
            case .closed(let id):
                streams[id]?.receiveClosed()
            case .streamCreditAvailable:
                openWaitingStreams()
            case .roundTrip(let time):
                roundTripObserver?(time)
            case .goAwayReceived(let last, let code, let debug):
                failWaitingStreams(.sessionClosing)
                goAwayObserver?(last, code, debug)
            case .ended(let error):
                failWaitingStreams(.sessionClosing)
                endedError = error
                readyPromise?.fail(error ?? SessionError(.noError, .local, "the session ended before HELLO"))
                readyPromise = nil
                endedPromise?.succeed(error)
                endedPromise = nil
            }
        }
        return any
    }

    /// Writes what the machine has, packing frames into buffers of about one TLS record each
    /// (a 16 KiB record holds one full DATA frame), while the parent channel is writable.
    ///
    /// Re-entrant calls (a stream writing from an event this loop delivers, or the parent turning
    /// writable again inside our own `flush()`) are not dropped: they make the loop run once more.
    func flushOutbound() {
        guard let context, started else { return }
        requestsSinceFlush = 0
        if flushing {
            flushAgain = true
            return
        }
        flushing = true
        repeat {
            flushAgain = false
            writeOutbound(context: context)
        } while flushAgain && (context.channel.isWritable || machine.isEnded)
        flushing = false
        if machine.isEnded && !closing && !machine.hasOutboundFrames {
            closing = true
            timer?.cancel()
            context.close(promise: nil)
        } else {
            rescheduleTimer()
        }
    }

    /// Asks for `flushOutbound` once the event loop has handled the I/O events of this wake-up, so
    /// that the frames several channels produce in one pass (an OPEN and its first DATA, a response's
    /// DATA and its FIN, window updates) leave in one write of one or few TLS records instead of one
    /// each. Used on the paths the stream channels drive; what the session itself reads is flushed
    /// at the end of the read. The `maxFlushBatch`-th request since the last write writes at once.
    func requestFlush() {
        requestsSinceFlush += 1
        if requestsSinceFlush >= Self.maxFlushBatch {
            flushOutbound()
            return
        }
        guard !flushRequested, let eventLoop else { return }
        flushRequested = true
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute {
            let handler = bound.value
            handler.flushRequested = false
            handler.flushOutbound()
        }
    }

    private func writeOutbound(context: ChannelHandlerContext) {
        var wrote = false
        var buffer = context.channel.allocator.buffer(capacity: 0)
        repeat {
            while context.channel.isWritable || machine.isEnded, let frame = machine.nextOutboundFrame() {
                if buffer.capacity == 0 { buffer.reserveCapacity(16_400) }
                if let frameObserver { frameObserver(.sent, frame) }
                FrameEncoder.encodeWhole(frame, into: &buffer)
                if buffer.readableBytes >= 16_372 {
                    octetsWritten += buffer.readableBytes
                    context.write(wrapOutboundOut(buffer), promise: nil)
                    wrote = true
                    buffer = context.channel.allocator.buffer(capacity: 0)
                }
            }
            // Sending may have made streams writable or closed them: tell them, which may queue more.
        } while processEvents() && (context.channel.isWritable || machine.isEnded)
        if buffer.readableBytes > 0 {
            octetsWritten += buffer.readableBytes
            context.write(wrapOutboundOut(buffer), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
    }

    private func rescheduleTimer() {
        guard let context, let deadline = machine.nextDeadline else { return }
        if let current = timerDeadline, current <= deadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let handler = loopBound.value
            handler.timer = nil
            handler.timerDeadline = nil
            handler.machine.tick(now: .now())
            handler.processEvents()
            handler.flushOutbound()
        }
    }
}
