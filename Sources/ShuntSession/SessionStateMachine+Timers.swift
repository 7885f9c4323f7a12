import NIOCore
import ShuntWire

extension SessionStateMachine {
    /// Advances time (spec §7): sends PINGs, declares a silent peer dead, ends a drain at its deadline.
    public mutating func tick(now: NIODeadline) {
        guard phase != .ended else { return }
        if now - lastReceived >= configuration.deathBound {
            let silent = Double((now - lastReceived).nanoseconds) / 1e9
            let error = SessionError(.timeout, .transport, "no frame from the peer for \(silent.formatted1) s (the bound is \(Double(configuration.deathBound.nanoseconds) / 1e9) s)")
            endSession(error, sendGoAway: false)
            // Never above an earlier GOAWAY's last id (spec §7.2): streams refused since are not processed.
            control.append(.goAway(lastStreamID: min(lastPeerStream, goAwaySentLast ?? lastPeerStream), .timeout, debug: error.message))
            return
        }
        if case .draining(let deadline) = shutdown, now >= deadline {
            // Resetting the last stream can end the session (the drain is then idle), and so can a full
            // control queue: then the remaining streams are already reported and gone.
            for id in streams.keys.sorted() {
                guard phase != .ended else { break }
                guard let record = streams[id], !record.closed else { continue }
                events.append(.reset(StreamID(id), code: .cancel, reason: "drain deadline passed", byPeer: false))
                reset(StreamID(id), code: .cancel, reason: "drain deadline passed")
            }
            // The RESET(CANCEL)s just queued tell the peer which streams were cut (spec §7.2).
            if phase != .ended { endSession(nil, sendGoAway: false, keepResets: true) }
            return
        }
        if phase == .ready, outstandingPing == nil, now - lastPingSent >= configuration.pingInterval {
            let opaque = nextPingOpaque()
            outstandingPing = (opaque, now)
            lastPingSent = now
            enqueueControl(Frame(streamID: .session, payload: .ping(opaque: opaque)))
        }
    }

    /// When `tick` next has something to do; the owner schedules a timer for it.
    public var nextDeadline: NIODeadline? {
        guard phase != .ended else { return nil }
        var deadline = lastReceived + configuration.deathBound
        if phase == .ready && outstandingPing == nil {
            deadline = min(deadline, lastPingSent + configuration.pingInterval)
        }
        if case .draining(let drain) = shutdown {
            deadline = min(deadline, drain)
        }
        return deadline
    }
}

extension Double {
    var formatted1: String {
        let tenths = Int((self * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
