import NIOCore
import ShuntWire

/// The Shunt session as a pure, deterministic value (spec §2, §5–§8): fed decoded frames, elapsed
/// time and local intents; it queues frames to send (`nextOutboundFrame()`) and events for its owner
/// (`nextEvent()`). It does no I/O and reads no clock.
public struct SessionStateMachine {
    enum Phase: Equatable {
        /// Our HELLO is queued; the peer's has not arrived.
        case awaitingHello
        case ready
        /// Over: only the final GOAWAY (if any) is left to send.
        case ended
    }

    /// Where a graceful shutdown that this side started stands (spec §7.2).
    enum Shutdown: Equatable {
        case none
        /// First GOAWAY (last id 2^31-1) sent; waiting for the PING with this opaque to come back.
        case announced(ping: UInt64)
        /// Final GOAWAY sent; draining until the deadline.
        case draining(deadline: NIODeadline)
    }

    public let configuration: SessionConfiguration
    var phase: Phase = .awaitingHello
    var shutdown: Shutdown = .none
    public internal(set) var peerSettings = PeerSettings()
    public internal(set) var version: UInt16? = nil

    var streams: [UInt32: StreamRecord] = [:]
    var nextLocalID: UInt32
    var nextPeerID: UInt32
    /// Streams this side opened, and how many the peer allows in total (spec §5.4).
    var localOpened: UInt32 = 0
    var localCredit: UInt32 = 0
    /// Streams the peer opened, how many it may open in total, and how many were released.
    var peerOpened: UInt32 = 0
    var peerCredit: UInt32
    var peerReleased: UInt32 = 0

    var sendSessionWindow = FlowWindow(0)
    var receiveSessionCredit: Int
    var sessionWindowTarget: Int
    var sessionConsumed = 0
    var sessionLastUpdate: NIODeadline? = nil

    var control = CircularBuffer<Frame>(initialCapacity: 8)
    var ready = CircularBuffer<UInt32>(initialCapacity: 8)
    var events = CircularBuffer<SessionEvent>(initialCapacity: 8)

    var lastReceived: NIODeadline
    var lastPingSent: NIODeadline
    var outstandingPing: (opaque: UInt64, sentAt: NIODeadline)? = nil
    var pingCounter: UInt64 = 0
    public internal(set) var roundTripTime: TimeAmount? = nil
    var goAwaySentLast: StreamID? = nil
    var goAwayReceivedLast: StreamID? = nil

    var resetBudget: RateBudget
    var streamErrorBudget: RateBudget
    var pingBudget: RateBudget
    var emptyFrameBudget: RateBudget
    var glitchBudget: RateBudget

    /// A new session; its HELLO is already queued (the owner writes the preface before any frame).
    public init(configuration: SessionConfiguration, now: NIODeadline) {
        self.configuration = configuration
        self.nextLocalID = configuration.role.firstStreamID
        self.nextPeerID = configuration.role == .client ? 2 : 1
        self.peerCredit = configuration.settings.initialMaxStreams
        self.receiveSessionCredit = Int(configuration.settings.initialSessionWindow)
        self.sessionWindowTarget = Int(configuration.settings.initialSessionWindow)
        self.lastReceived = now
        self.lastPingSent = now
        let abuse = configuration.abuse
        self.resetBudget = RateBudget(limit: abuse.resetsReceived, per: abuse.resetsPeriod, now: now)
        self.streamErrorBudget = RateBudget(limit: abuse.streamErrorsCaused, per: abuse.streamErrorsPeriod, now: now)
        self.pingBudget = RateBudget(limit: abuse.pingsReceived, per: abuse.pingsPeriod, now: now)
        self.emptyFrameBudget = RateBudget(limit: abuse.emptyFrames, per: abuse.emptyFramesPeriod, now: now)
        self.glitchBudget = RateBudget(limit: abuse.glitches, per: abuse.glitchesPeriod, now: now)
        control.append(Frame(streamID: .session, payload: .hello(configuration.hello)))
    }

    // MARK: - What the owner reads

    /// The next event for the owner, in order.
    public mutating func nextEvent() -> SessionEvent? {
        events.popFirst()
    }

    public var isReady: Bool { phase == .ready }
    public var isEnded: Bool { phase == .ended }
    /// No new streams may be opened: a GOAWAY was sent or received, or the session ended.
    public var isClosing: Bool { phase == .ended || goAwaySentLast != nil || goAwayReceivedLast != nil || shutdown != .none }

    /// Streams not yet forgotten (open, or closed but not yet released by the owner).
    public var streamCount: Int { streams.count }

    /// Whether the owner may write more to `stream` now.
    public func isWritable(_ stream: StreamID) -> Bool {
        guard let record = streams[stream.rawValue] else { return false }
        return record.acceptsWrites && record.queuedBytes < configuration.streamSendBuffer
    }

    /// Octets queued for sending on `stream` (bounded by `streamSendBuffer` plus one write).
    public func queuedBytes(_ stream: StreamID) -> Int {
        streams[stream.rawValue]?.queuedBytes ?? 0
    }

    /// Credit the peer has left to send on `stream`: what this side may have to buffer for it.
    public func receiveCredit(_ stream: StreamID) -> Int? {
        streams[stream.rawValue]?.receiveCredit
    }

    /// Credit this side has left to send on `stream`, and on the session.
    public func sendWindow(_ stream: StreamID) -> Int? { streams[stream.rawValue]?.sendWindow.available }
    public var sessionSendWindow: Int { sendSessionWindow.available }
    public var sessionReceiveCredit: Int { receiveSessionCredit }
    public var queuedControlFrames: Int { control.count }

    // MARK: - Local intents

    /// Opens a stream (spec §4.2). Data may follow at once with `send`: no round trip.
    public mutating func openStream(kind: StreamKind, metadata: StreamMetadata = StreamMetadata(), fin: Bool = false) throws(StreamOperationError) -> StreamID {
        guard phase == .ready else { throw phase == .awaitingHello ? .notReady : .sessionClosing }
        guard !isClosing else { throw .sessionClosing }
        guard localOpened < localCredit else { throw .noStreamCredit }
        let size = metadata.bytes.readableBytes
        guard size <= Int(peerSettings.maxMetadataSize) else { throw .metadataTooLarge(size, limit: peerSettings.maxMetadataSize) }
        guard nextLocalID <= WireLimits.maxWindow else { throw .streamIDsExhausted }
        let id = StreamID(nextLocalID)
        nextLocalID &+= 2
        localOpened += 1
        var record = StreamRecord(id: id, openedByPeer: false, remoteOpen: true,
                                  sendWindow: peerSettings.initialStreamWindow,
                                  receiveWindow: configuration.settings.initialStreamWindow)
        if fin {
            record.acceptsWrites = false
            record.finQueued = true
            record.finSent = true
        }
        streams[id.rawValue] = record
        enqueueControl(Frame(streamID: id, payload: .streamOpen(kind: kind, metadata: metadata, fin: fin)))
        return id
    }

    /// Queues `data` (and FIN) on a stream. Accepted while the stream is writable; the caller stops
    /// reading its source when `isWritable` turns false and resumes on `.writable`.
    public mutating func send(_ stream: StreamID, _ data: ByteBuffer, fin: Bool = false, compressed: Bool = false) throws(StreamOperationError) {
        guard phase != .ended else { throw .sessionClosing }
        guard let index = streams.index(forKey: stream.rawValue) else { throw .unknownStream(stream) }
        let sendBuffer = configuration.streamSendBuffer
        let acceptsDeflate = peerSettings.acceptsDeflate
        let maxUnit = maxCompressedUnit
        let schedule = try withRecord(at: index) { (record: inout StreamRecord) throws(StreamOperationError) -> Bool in
            guard !record.closed else { throw .unknownStream(stream) }
            guard record.acceptsWrites else { throw .alreadyFinished(stream) }
            guard record.queuedBytes < sendBuffer || data.readableBytes == 0 else { throw .sendBufferFull(stream) }
            if compressed {
                guard acceptsDeflate else { throw .compressionNotNegotiated }
                // Not a range: maxCompressedUnit is 0 when the peer's windows are below 2 octets.
                guard data.readableBytes >= 1 && data.readableBytes <= maxUnit else {
                    throw .compressedUnitSize(data.readableBytes, limit: maxUnit)
                }
            }
            return record.enqueue(data, compressed: compressed, fin: fin, sendBufferLimit: sendBuffer)
        }
        if schedule { ready.append(stream.rawValue) }
    }

    /// Runs `body` on the record at `index` of `streams` where it is, through the dictionary's modify
    /// accessor: neither the record nor its queue is copied (reading a record out of the dictionary
    /// copies both, and a queue shared with the copy is copied again when it is changed). The hot
    /// paths (a write, each DATA frame sent or received, each read consumed) go through here.
    @inline(__always)
    mutating func withRecord<Result, Failure: Error>(
        at index: [UInt32: StreamRecord].Index, _ body: (inout StreamRecord) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(&streams.values[index])
    }

    /// The largest compressed unit `send(_:_:fin:compressed:)` takes: one DATA frame the peer accepts,
    /// and at most half of its initial windows, so that the window the peer grants back as it
    /// consumes (spec §6.2) always lets the next unit through (0 before the peer's HELLO).
    public var maxCompressedUnit: Int {
        guard version != nil else { return 0 }
        return min(Int(peerSettings.maxFrameSize), configuration.maxDataFrameSize,
                   Int(peerSettings.initialStreamWindow) / 2, Int(peerSettings.initialSessionWindow) / 2)
    }

    /// Whether this side may send COMPRESSED DATA: the peer said it can decompress (spec §12).
    public var peerAcceptsCompression: Bool { version != nil && peerSettings.acceptsDeflate }

    /// Tells the session the owner passed on `octets` of a stream's data: the stream window is granted back (spec §6.2).
    /// Returns whether that queued a WINDOW_UPDATE (then the owner flushes); `now` is read only then:
    /// this runs for every read of every stream, and most grant nothing yet.
    @discardableResult
    public mutating func consumed(_ stream: StreamID, octets: Int, now: @autoclosure () -> NIODeadline) -> Bool {
        guard phase == .ready, octets > 0 else { return false }
        // Counted where the record is (one hash, no copy).
        guard let index = streams.index(forKey: stream.rawValue) else { return false }
        let due = withRecord(at: index) { record -> Bool in
            guard record.remoteOpen, !record.closed else { return false }
            record.consumedSinceUpdate += octets
            return record.consumedSinceUpdate * 2 >= record.windowTarget
        }
        guard due else { return false }
        let now = now()
        var record = streams.values[index]
        var increment = record.consumedSinceUpdate
        if shouldGrow(lastUpdate: record.lastUpdate, now: now), record.windowTarget < Int(configuration.maxStreamWindow),
           receiveBufferTargets + record.windowTarget <= configuration.maxReceiveBuffer {
            let grown = min(record.windowTarget * 2, Int(configuration.maxStreamWindow))
            increment += grown - record.windowTarget
            record.windowTarget = grown
        }
        record.receiveCredit += increment
        record.consumedSinceUpdate = 0
        record.lastUpdate = now
        // Stored before the frame is queued: a full control queue ends the session, and with
        // it every record.
        streams.values[index] = record
        enqueueControl(Frame(streamID: stream, payload: .windowUpdate(increment: UInt32(increment))))
        return true
    }

    /// Resets a stream (spec §4.3, §5.3). Queued data is dropped. No event follows for it.
    public mutating func reset(_ stream: StreamID, code: ErrorCode, reason: String = "") {
        guard phase != .ended, var record = streams[stream.rawValue], !record.closed else { return }
        record.dropQueue()
        record.closed = true
        record.remoteOpen = false
        streams[stream.rawValue] = record
        enqueueControl(.reset(stream, code, reason: reason.prefix(utf8Octets: WireLimits.maxResetReason)))
        forgetIfDone(stream)
        if record.releaseWhenClosed { release(stream) }
    }

    /// The owner has torn down all local work for a stream the peer opened (its upstream connection
    /// closed, its request abandoned). Only now does the stream stop counting against the peer's
    /// credit (spec §5.4): resets free nothing early. A stream still open is reset with CANCEL first.
    public mutating func release(_ stream: StreamID) {
        guard var record = streams[stream.rawValue], record.openedByPeer else { return }
        if !record.closed && !record.acceptsWrites && record.finQueued && !record.remoteOpen {
            // Both directions are done but our FIN still waits for window behind queued data:
            // let it go out, then release (closeIfFinished).
            record.releaseWhenClosed = true
            streams[stream.rawValue] = record
            return
        }
        if !record.closed {
            reset(stream, code: .cancel)
            guard let updated = streams[stream.rawValue] else { return }
            record = updated
        }
        streams[stream.rawValue] = nil
        peerReleased += 1
        grantStreamCreditIfDue()
        finishDrainIfIdle()
    }

    /// Starts ending the session (spec §7.2). Graceful: GOAWAY with 2^31-1 and a PING, then the real
    /// last id, then a drain until the deadline. Otherwise one GOAWAY with `code` and the session ends.
    public mutating func goAway(code: ErrorCode = .noError, debug: String = "", graceful: Bool = true, now: NIODeadline) {
        guard phase != .ended else { return }
        if graceful && code == .noError && phase == .ready {
            guard shutdown == .none else { return }
            let opaque = nextPingOpaque()
            sendGoAway(last: .max, code: .noError, debug: debug)
            enqueueControl(Frame(streamID: .session, payload: .ping(opaque: opaque)))
            outstandingPing = (opaque, now)
            lastPingSent = now
            shutdown = .announced(ping: opaque)
        } else {
            fail(SessionError(code, .local, debug))
        }
    }

    /// The connection is gone: every stream fails, the session ends.
    public mutating func transportClosed(_ reason: String) {
        guard phase != .ended else { return }
        let clean = streams.values.allSatisfy(\.closed) && (goAwaySentLast != nil || goAwayReceivedLast != nil)
        endSession(clean ? nil : SessionError(.internalError, .transport, reason), sendGoAway: false)
    }

    /// The decoder found the byte stream malformed (spec §3.1): the session ends with its code.
    public mutating func receiveMalformed(_ error: FrameDecodingError) {
        guard let code = error.code else {
            transportClosed("the connection ended inside a frame")
            return
        }
        fail(SessionError(code, .local, error.description))
    }

    // MARK: - Shared helpers

    mutating func enqueueControl(_ frame: Frame) {
        if control.count >= configuration.abuse.maxQueuedControlFrames {
            fail(SessionError(.enhanceYourCalm, .local, "the peer does not read: \(control.count) control frames queued (limit \(configuration.abuse.maxQueuedControlFrames))"))
            return
        }
        control.append(frame)
    }

    mutating func nextPingOpaque() -> UInt64 {
        pingCounter &+= 1
        return 0x5348_554E_5400_0000 | pingCounter
    }

    func shouldGrow(lastUpdate: NIODeadline?, now: NIODeadline) -> Bool {
        guard let lastUpdate, let rtt = roundTripTime else { return false }
        return (now - lastUpdate).nanoseconds < 2 * max(rtt.nanoseconds, 1)
    }

    /// The sum of the receive window targets of the streams the peer may still send on: what this
    /// side may have to buffer (spec §6.2). Computed only when a window is about to grow.
    var receiveBufferTargets: Int {
        streams.values.reduce(0) { $0 + ($1.remoteOpen && !$1.closed ? $1.windowTarget : 0) }
    }

    mutating func returnToSession(_ octets: Int, now: NIODeadline) {
        sessionConsumed += octets
        // Nothing to return (an empty DATA frame, with a session window of 0): a WINDOW_UPDATE of 0
        // would be ZERO_WINDOW_INCREMENT at the peer.
        guard sessionConsumed > 0, sessionConsumed * 2 >= sessionWindowTarget else { return }
        var increment = sessionConsumed
        if shouldGrow(lastUpdate: sessionLastUpdate, now: now), sessionWindowTarget < Int(configuration.maxSessionWindow) {
            let grown = min(sessionWindowTarget * 2, Int(configuration.maxSessionWindow))
            increment += grown - sessionWindowTarget
            sessionWindowTarget = grown
        }
        receiveSessionCredit += increment
        sessionConsumed = 0
        sessionLastUpdate = now
        enqueueControl(Frame(streamID: .session, payload: .windowUpdate(increment: UInt32(increment))))
    }

    /// Re-grants stream credit in batches of half the concurrency limit (at least 1) (spec §5.4).
    mutating func grantStreamCreditIfDue() {
        let limit = configuration.settings.initialMaxStreams
        let target = peerReleased &+ limit
        guard target > peerCredit, target - peerCredit >= max(1, limit / 2) else { return }
        peerCredit = min(target, WireLimits.maxWindow)
        enqueueControl(Frame(streamID: .session, payload: .maxStreams(peerCredit)))
    }

    /// The highest stream the peer opened that this side accepted (0 if none).
    var lastPeerStream: StreamID {
        StreamID(nextPeerID > 2 ? nextPeerID - 2 : 0)
    }

    mutating func sendGoAway(last: StreamID, code: ErrorCode, debug: String) {
        let capped = min(last, goAwaySentLast ?? last)
        goAwaySentLast = capped
        let text = debug.prefix(utf8Octets: WireLimits.maxGoAwayDebug)
        // GOAWAY is never dropped for the queue limit: it is the last word.
        control.append(.goAway(lastStreamID: capped, code, debug: text))
    }

    /// A session error: GOAWAY with the code, every stream fails, the session ends.
    mutating func fail(_ error: SessionError) {
        guard phase != .ended else { return }
        endSession(error, sendGoAway: true)
    }

    mutating func endSession(_ error: SessionError?, sendGoAway goAway: Bool, keepQueuedControl: Bool = false, keepResets: Bool = false) {
        if keepResets {
            // A clean end still tells the peer which streams were cut; PINGs and window updates are moot.
            // A stream whose STREAM_OPEN had not left yet is dropped whole: its RESET would name a
            // stream the peer never heard of (found by FuzzSession).
            var unopened = Set<UInt32>()
            for frame in control {
                if case .streamOpen = frame.payload { unopened.insert(frame.streamID.rawValue) }
            }
            control = CircularBuffer(control.filter { frame in
                switch frame.payload {
                case .hello, .goAway: true
                case .reset: !unopened.contains(frame.streamID.rawValue)
                default: false
                }
            })
        } else if !keepQueuedControl {
            // An unsent HELLO stays first: whatever ends the session, the first frame is HELLO (spec §2.2).
            let hello = control.first.flatMap { frame -> Frame? in
                if case .hello = frame.payload { frame } else { nil }
            }
            control.removeAll(keepingCapacity: false)
            if let hello { control.append(hello) }
        }
        ready.removeAll(keepingCapacity: false)
        if goAway, let error {
            sendGoAway(last: lastPeerStream, code: error.code, debug: error.message)
        }
        for id in streams.keys.sorted() where !streams[id]!.closed {
            events.append(.reset(StreamID(id), code: error?.code ?? .cancel, reason: error?.message ?? "session ended", byPeer: error?.origin == .peer))
        }
        streams.removeAll()
        phase = .ended
        events.append(.ended(error))
    }

    /// Forgets a closed stream this side opened; peer-opened streams wait for `release`.
    mutating func forgetIfDone(_ stream: StreamID) {
        guard let record = streams[stream.rawValue], record.closed, !record.openedByPeer else { return }
        streams[stream.rawValue] = nil
        finishDrainIfIdle()
    }

    /// When draining and nothing is left (every stream closed and released), the session ends cleanly.
    mutating func finishDrainIfIdle() {
        guard phase == .ready, goAwaySentLast != nil || goAwayReceivedLast != nil else { return }
        if case .announced = shutdown { return }
        guard streams.isEmpty else { return }
        // RESETs and window updates queued for the last streams still go out before the close.
        endSession(nil, sendGoAway: false, keepResets: true)
    }

    /// A stream whose both directions finished.
    mutating func closeIfFinished(_ stream: StreamID) {
        guard var record = streams[stream.rawValue], !record.closed, record.finSent, !record.remoteOpen else { return }
        record.closed = true
        streams[stream.rawValue] = record
        events.append(.closed(stream))
        forgetIfDone(stream)
        if record.releaseWhenClosed { release(stream) }
    }
}

extension String {
    /// The longest prefix of at most `limit` UTF-8 octets that ends between two Unicode scalars. Cutting
    /// the octets themselves could split a character, whose remains would decode as U+FFFD (3 octets)
    /// and make a RESET reason or GOAWAY debug text longer than the frame allows.
    func prefix(utf8Octets limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var octets = 0
        var end = unicodeScalars.startIndex
        for scalar in unicodeScalars {
            let width = UTF8.width(scalar)
            guard octets + width <= limit else { break }
            octets += width
            end = unicodeScalars.index(after: end)
        }
        return String(unicodeScalars[..<end])
    }
}
