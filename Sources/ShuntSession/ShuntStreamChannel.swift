import Atomics
import NIOCore
import ShuntWire

/// One Shunt stream as a NIO `Channel` (like swift-nio-http2's stream channels), so that ordinary
/// handlers work on it: glue it to a TCP socket, or put an HTTP codec on it.
///
/// - Reads: each `ByteBuffer` the peer sends. The peer's FIN arrives as the user event
///   `ChannelEvent.inputClosed`. Window is granted as data is delivered to the pipeline, so a handler
///   that stops reading (autoRead off, or no `read()`) makes the remote sender stop at the window.
/// - Writes: `ByteBuffer`s; writability follows the stream's window and send buffer.
///   `close(mode: .output)` sends FIN; `close()` of a stream not finished both ways resets it with CANCEL.
/// - A reset arrives as `StreamResetError` through `errorCaught`, then the channel closes.
///
/// Confined to its parent's event loop; every method runs there.
public final class ShuntStreamChannel: Channel, ChannelCore, @unchecked Sendable {
    public let streamID: StreamID
    public let kind: StreamKind
    public let metadata: StreamMetadata
    public let eventLoop: EventLoop
    public let allocator: ByteBufferAllocator
    public let parent: Channel?
    public let localAddress: SocketAddress?
    public let remoteAddress: SocketAddress?

    private let closePromise: EventLoopPromise<Void>
    private var _pipeline: ChannelPipeline!
    /// Strong: a stream's setup (its initializer's future) may finish after the session's connection
    /// closed and the pipeline let go of the handler. The cycle (the session's table holds the
    /// channel) ends when the channel closes, which every session end brings about.
    private let session: SessionHandler

    /// Read from any thread, as NIO's own channels allow; atomics, as theirs are: a lock here cost a
    /// lock and an unlock on every flush and every writability check of every exchange.
    private let activeFlag = ManagedAtomic(false)
    private let writableFlag = ManagedAtomic(true)

    private enum State { case idle, active, closed }
    private var state = State.idle
    private var autoRead = true
    private var unsatisfiedRead = false
    /// Inside `tryToRead`'s delivery loop (handlers may re-enter through writes).
    private var delivering = false
    /// What the peer sent and the pipeline has not read; compressed units are inflated on delivery,
    /// so what waits here is bounded by the stream's window in wire octets.
    private var pendingReads = CircularBuffer<(bytes: ByteBuffer, compressed: Bool)>(initialCapacity: 4)
    private var inflater: StreamInflater?
    private var deflater: StreamDeflater?
    private var inputFinished = false
    private var inputClosedDelivered = false
    private var outputFinished = false
    /// The session reported both directions finished on the wire (our FIN sent, theirs received).
    private var wireClosed = false
    private var pendingWrites = CircularBuffer<(ByteBuffer, EventLoopPromise<Void>?)>(initialCapacity: 4)
    private var flushedWrites = 0
    private var pendingOutputClose: EventLoopPromise<Void>?

    init(session: SessionHandler, parent: Channel, streamID: StreamID, kind: StreamKind, metadata: StreamMetadata) {
        self.session = session
        self.parent = parent
        self.eventLoop = parent.eventLoop
        self.allocator = parent.allocator
        self.localAddress = parent.localAddress
        self.remoteAddress = parent.remoteAddress
        self.streamID = streamID
        self.kind = kind
        self.metadata = metadata
        self.closePromise = parent.eventLoop.makePromise()
        self._pipeline = ChannelPipeline(channel: self)
    }

    // MARK: Channel

    public var pipeline: ChannelPipeline { _pipeline }
    public var closeFuture: EventLoopFuture<Void> { closePromise.futureResult }
    public var isWritable: Bool { writableFlag.load(ordering: .relaxed) }
    public var isActive: Bool { activeFlag.load(ordering: .relaxed) }
    public var _channelCore: ChannelCore { self }

    public func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        if eventLoop.inEventLoop {
            return eventLoop.makeCompletedFuture { try self.setOption0(option, value: value) }
        }
        return eventLoop.submit { try self.setOption0(option, value: value) }
    }

    public func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        if eventLoop.inEventLoop {
            return eventLoop.makeCompletedFuture { try self.getOption0(option) }
        }
        return eventLoop.submit { try self.getOption0(option) }
    }

    private func setOption0<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        eventLoop.preconditionInEventLoop()
        switch option {
        case _ as ChannelOptions.Types.AutoReadOption:
            autoRead = value as! Bool
            if autoRead { pipeline.read() }
        case _ as ChannelOptions.Types.AllowRemoteHalfClosureOption:
            break  // always half-closure aware: the peer's FIN is `ChannelEvent.inputClosed`
        default:
            throw ChannelError.operationUnsupported
        }
    }

    private func getOption0<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        eventLoop.preconditionInEventLoop()
        switch option {
        case _ as ChannelOptions.Types.AutoReadOption:
            return autoRead as! Option.Value
        case _ as ChannelOptions.Types.AllowRemoteHalfClosureOption:
            return true as! Option.Value
        default:
            throw ChannelError.operationUnsupported
        }
    }

    // MARK: Lifecycle, driven by the session

    /// Runs the initializer, then activates the channel and starts reading.
    func activate(initializer: @escaping @Sendable (ShuntStreamChannel) -> EventLoopFuture<Void>, promise: EventLoopPromise<Channel>?) {
        initializer(self).hop(to: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                guard self.state == .idle else {
                    promise?.fail(ChannelError.ioOnClosedChannel)
                    return
                }
                self.state = .active
                self.writableFlag.store(self.session.isStreamWritable(self.streamID), ordering: .relaxed)
                self.activeFlag.store(true, ordering: .relaxed)
                self.pipeline.fireChannelRegistered()
                self.pipeline.fireChannelActive()
                promise?.succeed(self)
                if self.autoRead { self.pipeline.read() }
                self.deliverPendingWrites()
                self.tryToRead()
            case .failure(let error):
                promise?.fail(error)
                self.session.resetStream(self.streamID, code: .internalError, reason: "stream setup failed")
                self.finishClosing(error: error)
            }
        }
    }

    /// Compresses what this side writes from now on (spec §12), if the peer can decompress.
    /// Returns whether it does. Each stream has its own context; metadata is never compressed.
    @discardableResult
    public func enableCompression(level: Int32 = 6) throws -> Bool {
        eventLoop.preconditionInEventLoop()
        guard session.peerAcceptsCompression, state != .closed else { return false }
        if deflater == nil { deflater = try StreamDeflater(level: level) }
        return true
    }

    /// Ends the stream abruptly with `code` (spec §4.3), e.g. CONNECT_ERROR when its target could
    /// not be reached. The channel closes; what was queued is dropped.
    public func reset(code: ErrorCode, reason: String = "") {
        eventLoop.preconditionInEventLoop()
        guard state != .closed else { return }
        session.resetStream(streamID, code: code, reason: reason)
        finishClosing(error: nil)
    }

    /// Whether writes are compressed.
    public var compressesOutput: Bool {
        eventLoop.preconditionInEventLoop()
        return deflater != nil
    }

    /// Data from the peer (empty with `fin` for a bare FIN).
    func receive(_ data: ByteBuffer, fin: Bool, compressed: Bool = false) {
        guard state != .closed else { return }
        if data.readableBytes > 0 { pendingReads.append((data, compressed)) }
        if fin { inputFinished = true }
        tryToRead()
    }

    /// The session can take more data for this stream.
    func sessionWritable() {
        deliverPendingWrites()
        updateWritability()
    }

    func receiveReset(_ error: StreamResetError) {
        guard state != .closed else { return }
        pendingReads.removeAll()
        finishClosing(error: error)
    }

    /// Both directions finished on the wire.
    func receiveClosed() {
        guard state != .closed else { return }
        wireClosed = true
        if pendingReads.isEmpty && (inputClosedDelivered || !inputFinished) {
            finishClosing(error: nil)
        }
        // Otherwise the close completes once the pending reads are delivered.
    }

    // MARK: ChannelCore

    public func localAddress0() throws -> SocketAddress { throw ChannelError.operationUnsupported }
    public func remoteAddress0() throws -> SocketAddress { throw ChannelError.operationUnsupported }
    public func register0(promise: EventLoopPromise<Void>?) { promise?.succeed() }
    public func bind0(to: SocketAddress, promise: EventLoopPromise<Void>?) { promise?.fail(ChannelError.operationUnsupported) }
    public func connect0(to: SocketAddress, promise: EventLoopPromise<Void>?) { promise?.fail(ChannelError.operationUnsupported) }

    public func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard state != .closed, !outputFinished, pendingOutputClose == nil else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        pendingWrites.append((unwrapData(data, as: ByteBuffer.self), promise))
    }

    public func flush0() {
        flushedWrites = pendingWrites.count
        if state == .active { deliverPendingWrites() }
        updateWritability()
    }

    public func read0() {
        guard !unsatisfiedRead else { return }
        unsatisfiedRead = true
        tryToRead()
    }

    public func close0(error: Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard state != .closed else {
            promise?.fail(ChannelError.alreadyClosed)
            return
        }
        switch mode {
        case .output:
            guard !outputFinished, pendingOutputClose == nil else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            pendingOutputClose = promise ?? eventLoop.makePromise()
            flushedWrites = pendingWrites.count
            deliverPendingWrites()
        case .input:
            promise?.fail(ChannelError.operationUnsupported)
        case .all:
            if !(outputFinished && inputFinished) {
                session.resetStream(streamID, code: .cancel, reason: "")
            }
            finishClosing(error: nil)
            promise?.succeed()
        }
    }

    public func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    public func channelRead0(_ data: NIOAny) {}
    public func errorCaught0(error: Error) {}

    /// Octets received from the peer and not yet read by the pipeline: bounded by the stream's window.
    public var bufferedInboundBytes: Int {
        eventLoop.preconditionInEventLoop()
        return pendingReads.reduce(0) { $0 + $1.bytes.readableBytes }
    }

    /// The octets received from the peer and not yet read by the pipeline, as they came (those that
    /// arrived compressed are left out): what a stream reset before it was served carried, for its
    /// log line.
    public var bufferedPlainInbound: [ByteBuffer] {
        eventLoop.preconditionInEventLoop()
        return pendingReads.compactMap { $0.compressed ? nil : $0.bytes }
    }

    /// One line on the channel's internal state, for diagnostics.
    var debugState: String {
        "state=\(state) reads=\(pendingReads.count) wantsRead=\(unsatisfiedRead) autoRead=\(autoRead) inFin=\(inputFinished)/\(inputClosedDelivered) "
            + "writes=\(pendingWrites.count) flushed=\(flushedWrites) outFin=\(outputFinished) closeOut=\(pendingOutputClose != nil) wireClosed=\(wireClosed) writable=\(isWritable)"
    }

    // MARK: Internals

    private func tryToRead() {
        guard state == .active, unsatisfiedRead, !delivering else { return }
        guard !pendingReads.isEmpty || (inputFinished && !inputClosedDelivered) else { return }
        unsatisfiedRead = false
        delivering = true
        var delivered = 0
        // Bound once: each use of the stored pipeline would retain and release it.
        let pipeline = self.pipeline
        while let (buffer, compressed) = pendingReads.popFirst() {
            delivered += buffer.readableBytes
            guard compressed else {
                pipeline.fireChannelRead(buffer)
                continue
            }
            do throws(StreamInflater.Failure) {
                if inflater == nil {
                    do {
                        inflater = try StreamInflater(limit: Int(session.configuration.settings.maxFrameSize))
                    } catch {
                        throw .corrupt
                    }
                }
                let plain = try inflater!.inflate(buffer, allocator: allocator)
                if plain.readableBytes > 0 { pipeline.fireChannelRead(plain) }
            } catch {
                // The stream is reset with COMPRESSION_ERROR; nothing after the bad unit is delivered.
                pendingReads.removeAll()
                pipeline.fireChannelReadComplete()
                delivering = false
                session.decompressionFailed(streamID, reason: "stream \(streamID): \(error)")
                return
            }
        }
        pipeline.fireChannelReadComplete()
        delivering = false
        if delivered > 0 { session.consumed(streamID, octets: delivered) }
        // Data may have arrived while the handlers ran (they write, which drives the session): the
        // peer's FIN is delivered only after every octet before it.
        if pendingReads.isEmpty && inputFinished && !inputClosedDelivered && state == .active {
            inputClosedDelivered = true
            pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            // Our FIN may only be queued yet: the channel closes once the session says it left.
            if wireClosed { finishClosing(error: nil) }
        }
        if autoRead && state == .active { pipeline.read() }
    }

    private func deliverPendingWrites() {
        guard state == .active else { return }
        while flushedWrites > 0, let (first, promise) = pendingWrites.first {
            var buffer = first
            guard session.isStreamWritable(streamID) || buffer.readableBytes == 0 else { break }
            // A peer whose windows cannot take even a small compressed unit gets plain DATA (spec §12:
            // plain frames do not touch the context).
            let plainChunk = deflater == nil ? 0 : StreamDeflater.plainChunk(forUnit: session.maxCompressedUnit)
            if let deflater, buffer.readableBytes > 0, plainChunk > 0 {
                // One compressed unit per piece; the write completes once all its pieces are queued.
                let piece = buffer.readSlice(length: min(buffer.readableBytes, plainChunk))!
                let sent: Bool
                do {
                    sent = session.send(streamID, try deflater.compress(piece, allocator: allocator), fin: false, compressed: true)
                } catch {
                    sent = false
                }
                guard sent else {
                    pendingWrites.removeFirst()
                    flushedWrites -= 1
                    promise?.fail(ChannelError.ioOnClosedChannel)
                    continue
                }
                if buffer.readableBytes > 0 {
                    pendingWrites[pendingWrites.startIndex] = (buffer, promise)
                    continue
                }
                pendingWrites.removeFirst()
                flushedWrites -= 1
                promise?.succeed()
                continue
            }
            pendingWrites.removeFirst()
            flushedWrites -= 1
            if session.send(streamID, buffer, fin: false) {
                promise?.succeed()
            } else {
                promise?.fail(ChannelError.ioOnClosedChannel)
            }
        }
        if flushedWrites == 0, let closePromise = pendingOutputClose {
            pendingOutputClose = nil
            outputFinished = true
            if session.send(streamID, ByteBuffer(), fin: true) {
                closePromise.succeed()
            } else {
                closePromise.fail(ChannelError.ioOnClosedChannel)
            }
        }
        session.requestFlush()
    }

    private func updateWritability() {
        let writable = state == .active && pendingWrites.isEmpty && session.isStreamWritable(streamID)
        let changed = writableFlag.exchange(writable, ordering: .relaxed) != writable
        if changed && state == .active { pipeline.fireChannelWritabilityChanged() }
    }

    private func finishClosing(error: Error?) {
        guard state != .closed else { return }
        let wasActive = state == .active
        state = .closed
        activeFlag.store(false, ordering: .relaxed)
        writableFlag.store(false, ordering: .relaxed)
        while let (_, promise) = pendingWrites.popFirst() {
            promise?.fail(error ?? ChannelError.eof)
        }
        pendingOutputClose?.fail(error ?? ChannelError.eof)
        pendingOutputClose = nil
        if let error, wasActive { pipeline.fireErrorCaught(error) }
        if wasActive {
            pipeline.fireChannelInactive()
            pipeline.fireChannelUnregistered()
        }
        session.streamChannelClosed(streamID)
        eventLoop.assumeIsolated().execute {
            self.removeHandlers(pipeline: self.pipeline)
            self.closePromise.succeed()
        }
    }
}
