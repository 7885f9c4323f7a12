import NIOCore
import ShuntWire

extension SessionStateMachine {
    /// Feeds one decoded frame from the peer (spec §4–§8). Any frame proves the peer alive.
    public mutating func receive(_ frame: Frame, now: NIODeadline) {
        guard phase != .ended else { return }
        lastReceived = now
        if phase == .awaitingHello {
            switch frame.payload {
            case .hello(let hello):
                receiveHello(hello)
            case .goAway(_, let code, let debug):
                endSession(SessionError(code, .peer, String(buffer: debug)), sendGoAway: false)
            default:
                fail(SessionError(.protocolError, .local, "the first frame was \(frame.type.name), not HELLO"))
            }
            return
        }
        let stream = frame.streamID
        switch frame.payload {
        case .data(let bytes, let fin, let compressed):
            receiveData(stream, bytes, fin: fin, compressed: compressed, now: now)
        case .streamOpen(let kind, let metadata, let fin):
            receiveStreamOpen(stream, kind: kind, metadata: metadata, fin: fin)
        case .reset(let code, let reason):
            receiveReset(stream, code: code, reason: reason, now: now)
        case .windowUpdate(let increment):
            receiveWindowUpdate(stream, increment: increment)
        case .ping(let opaque, let ack):
            receivePing(opaque: opaque, ack: ack, now: now)
        case .goAway(let last, let code, let debug):
            receiveGoAway(last: last, code: code, debug: String(buffer: debug))
        case .hello:
            fail(SessionError(.protocolError, .local, "a second HELLO"))
        case .maxStreams(let maximum):
            receiveMaxStreams(maximum)
        case .extension:
            countGlitch("extension frame \(frame.type.name)", now: now)
        }
    }

    mutating func receiveHello(_ hello: Hello) {
        let local = configuration.hello
        switch Hello.negotiateVersion(local: local, peer: hello) {
        case .failure(let mismatch):
            // Our HELLO may still be queued: it goes out first, so the peer can explain the mismatch too.
            endSession(SessionError(.versionMismatch, .local, mismatch.description), sendGoAway: false, keepQueuedControl: true)
            control.append(.goAway(lastStreamID: .session, .versionMismatch, debug: mismatch.description))
        case .success(let negotiated):
            version = negotiated
            peerSettings = PeerSettings(hello)
            sendSessionWindow = FlowWindow(peerSettings.initialSessionWindow)
            localCredit = peerSettings.initialMaxStreams
            phase = .ready
            events.append(.ready(version: negotiated, peer: peerSettings))
            // Measure the round trip at once: window growth (spec §6.3) needs it from the first transfer.
            let opaque = nextPingOpaque()
            outstandingPing = (opaque, lastReceived)
            lastPingSent = lastReceived
            enqueueControl(Frame(streamID: .session, payload: .ping(opaque: opaque)))
        }
    }

    /// Idle: never opened by its side (spec §5.2). Frames other than STREAM_OPEN on it are a session error.
    func isIdle(_ stream: StreamID) -> Bool {
        let ownParity = stream.isClientInitiated == (configuration.role == .client)
        return ownParity ? stream.rawValue >= nextLocalID : stream.rawValue >= nextPeerID
    }

    mutating func receiveData(_ stream: StreamID, _ bytes: ByteBuffer, fin: Bool, compressed: Bool, now: NIODeadline) {
        let length = bytes.readableBytes
        if isIdle(stream) {
            return fail(SessionError(.protocolError, .local, "DATA on stream \(stream), which was never opened"))
        }
        if length > receiveSessionCredit {
            return fail(SessionError(.flowControlError, .local, "DATA of \(length) octets on stream \(stream) exceeds the session window (\(receiveSessionCredit) left)"))
        }
        receiveSessionCredit -= length
        if compressed && !configuration.settings.acceptsDeflate {
            return fail(SessionError(.compressionError, .local, "COMPRESSED DATA on stream \(stream), but this side did not offer compression"))
        }
        if length == 0 && !fin, !emptyFrameBudget.record(now: now) {
            return fail(SessionError(.enhanceYourCalm, .local, "too many empty DATA frames: more than \(emptyFrameBudget.limit) in \(emptyFrameBudget.period.seconds) s"))
        }
        // The record is checked and counted where it is (one hash, no copy of it): this runs for
        // every DATA frame.
        let check = streams.index(forKey: stream.rawValue).map { index in
            withRecord(at: index) { $0.receive(length: length, fin: fin, compressed: compressed) }
        } ?? .discard
        switch check {
        case .discard:
            // A stream this side reset or forgot: discard, but return the octets to the session (spec §6.2).
            returnToSession(length, now: now)
            return
        case .afterFin:
            returnToSession(length, now: now)
            return streamError(stream, .streamClosed, "DATA after the peer's FIN on stream \(stream)", now: now)
        case .overWindow(let credit):
            return fail(SessionError(.flowControlError, .local, "DATA of \(length) octets on stream \(stream) exceeds its window (\(credit) left)"))
        case .emptyCompressed:
            return streamError(stream, .compressionError, "COMPRESSED DATA of 0 octets on stream \(stream)", now: now)
        case .accepted:
            break
        }
        // The stream's own window bounds what it buffers; the session window only bounds what is in
        // flight, so it is granted back on receipt: a slow reader never holds the session (spec §6.2).
        returnToSession(length, now: now)
        if length > 0 || fin {
            events.append(.data(stream, bytes, fin: fin, compressed: compressed))
        }
        if fin { closeIfFinished(stream) }
    }

    mutating func receiveStreamOpen(_ stream: StreamID, kind: StreamKind, metadata: StreamMetadata, fin: Bool) {
        let ownParity = stream.isClientInitiated == (configuration.role == .client)
        if ownParity {
            return fail(SessionError(.protocolError, .local, "the peer opened stream \(stream), an id of this side's parity"))
        }
        if stream.rawValue != nextPeerID {
            return fail(SessionError(.protocolError, .local, "the peer opened stream \(stream); the next id must be \(nextPeerID) (ids are never reused or skipped)"))
        }
        nextPeerID &+= 2
        peerOpened += 1
        if peerOpened > peerCredit {
            return fail(SessionError(.streamLimitError, .local, "the peer opened its stream number \(peerOpened) with credit for \(peerCredit)"))
        }
        if let last = goAwaySentLast, stream > last {
            // Refused after our GOAWAY: nothing was done, so the credit comes back at once.
            enqueueControl(.reset(stream, .refusedStream, reason: "the session is going away"))
            peerReleased += 1
            return
        }
        var record = StreamRecord(id: stream, openedByPeer: true, remoteOpen: !fin,
                                  sendWindow: peerSettings.initialStreamWindow,
                                  receiveWindow: configuration.settings.initialStreamWindow)
        record.scheduled = false
        streams[stream.rawValue] = record
        events.append(.streamOpened(stream, kind: kind, metadata: metadata, fin: fin))
    }

    mutating func receiveReset(_ stream: StreamID, code: ErrorCode, reason: ByteBuffer, now: NIODeadline) {
        if isIdle(stream) {
            return fail(SessionError(.protocolError, .local, "RESET on stream \(stream), which was never opened"))
        }
        guard var record = streams[stream.rawValue], !record.closed else {
            // A RESET racing this side's own reset or close: legitimate, but only rarely (spec §5.2).
            return countGlitch("RESET on closed stream \(stream)", now: now)
        }
        // Rapid Reset is opening streams and resetting them at once: the budget counts RESETs of
        // streams the peer opened. A RESET of a stream this side opened only refuses or cancels its
        // own work, and this side's credit bounds how many there are (spec §8).
        if record.openedByPeer && !resetBudget.record(now: now) {
            return fail(SessionError(.enhanceYourCalm, .local, "too many RESET frames: more than \(resetBudget.limit) in \(resetBudget.period.seconds) s"))
        }
        record.dropQueue()
        record.closed = true
        record.remoteOpen = false
        streams[stream.rawValue] = record
        events.append(.reset(stream, code: code, reason: String(buffer: reason), byPeer: true))
        forgetIfDone(stream)
        if record.releaseWhenClosed { release(stream) }
    }

    mutating func receiveWindowUpdate(_ stream: StreamID, increment: UInt32) {
        if stream.isSession {
            do {
                try sendSessionWindow.increase(by: increment)
            } catch {
                fail(SessionError(.flowControlError, .local, "WINDOW_UPDATE of \(increment) takes the session window past 2^31-1 (it was \(error.current))"))
            }
            return
        }
        if isIdle(stream) {
            return fail(SessionError(.protocolError, .local, "WINDOW_UPDATE on stream \(stream), which was never opened"))
        }
        guard var record = streams[stream.rawValue], !record.closed else { return }
        do {
            try record.sendWindow.increase(by: increment)
        } catch {
            return fail(SessionError(.flowControlError, .local, "WINDOW_UPDATE of \(increment) takes stream \(stream)'s window past 2^31-1 (it was \(error.current))"))
        }
        let schedule = !record.scheduled && record.hasSendWork
        if schedule { record.scheduled = true }
        streams[stream.rawValue] = record
        if schedule { ready.append(stream.rawValue) }
    }

    mutating func receivePing(opaque: UInt64, ack: Bool, now: NIODeadline) {
        if ack {
            guard let outstanding = outstandingPing, outstanding.opaque == opaque else {
                return countGlitch("a PING ACK that answers nothing this side sent", now: now)
            }
            outstandingPing = nil
            let rtt = now - outstanding.sentAt
            roundTripTime = rtt
            events.append(.roundTrip(rtt))
            if case .announced(let ping) = shutdown, ping == opaque {
                sendGoAway(last: lastPeerStream, code: .noError, debug: "")
                shutdown = .draining(deadline: now + configuration.drainDeadline)
                finishDrainIfIdle()
            }
            return
        }
        if !pingBudget.record(now: now) {
            return fail(SessionError(.enhanceYourCalm, .local, "too many PING frames: more than \(pingBudget.limit) in \(pingBudget.period.seconds) s"))
        }
        enqueueControl(Frame(streamID: .session, payload: .ping(opaque: opaque, ack: true)))
    }

    mutating func receiveGoAway(last: StreamID, code: ErrorCode, debug: String) {
        if let previous = goAwayReceivedLast, last > previous {
            return fail(SessionError(.protocolError, .local, "GOAWAY raised its last stream id from \(previous) to \(last)"))
        }
        goAwayReceivedLast = last
        if code != .noError {
            return endSession(SessionError(code, .peer, debug), sendGoAway: false)
        }
        // Streams this side opened above `last` were never processed: refused, safe to retry.
        for id in streams.keys.sorted() {
            guard let record = streams[id], !record.openedByPeer, !record.closed, StreamID(id) > last else { continue }
            streams[id] = nil
            events.append(.reset(StreamID(id), code: .refusedStream, reason: "the peer is going away", byPeer: true))
        }
        events.append(.goAwayReceived(lastStreamID: last, code: code, debug: debug))
        finishDrainIfIdle()
    }

    mutating func receiveMaxStreams(_ maximum: UInt32) {
        if maximum < localCredit {
            return fail(SessionError(.protocolError, .local, "MAX_STREAMS lowered the stream credit from \(localCredit) to \(maximum)"))
        }
        let wasBlocked = localOpened == localCredit
        localCredit = maximum
        if wasBlocked && maximum > localOpened { events.append(.streamCreditAvailable) }
    }

    mutating func countGlitch(_ what: String, now: NIODeadline) {
        if !glitchBudget.record(now: now) {
            fail(SessionError(.enhanceYourCalm, .local, "too many odd frames (last: \(what)): more than \(glitchBudget.limit) in \(glitchBudget.period.seconds) s"))
        }
    }

    /// A stream error this side detected: RESET the stream, and count it (MadeYouReset, spec §8).
    /// The owner could not inflate a compressed unit of `stream` (corrupt, or more than
    /// `MAX_FRAME_SIZE` octets, spec §12): a stream error the peer caused.
    public mutating func decompressionFailed(_ stream: StreamID, reason: String, now: NIODeadline) {
        guard let record = streams[stream.rawValue], !record.closed else { return }
        streamError(stream, .compressionError, reason, now: now)
    }

    mutating func streamError(_ stream: StreamID, _ code: ErrorCode, _ reason: String, now: NIODeadline) {
        if !streamErrorBudget.record(now: now) {
            return fail(SessionError(.enhanceYourCalm, .local, "too many stream errors caused by the peer: more than \(streamErrorBudget.limit) in \(streamErrorBudget.period.seconds) s"))
        }
        events.append(.reset(stream, code: code, reason: reason, byPeer: false))
        reset(stream, code: code, reason: reason)
    }
}

extension TimeAmount {
    var seconds: Int64 { nanoseconds / 1_000_000_000 }
}
