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
            control.append(.goAway(lastStreamID: lastPeerStream, .timeout, debug: error.message))
            return
        }
        if case .draining(let deadline) = shutdown, now >= deadline {
            for id in streams.keys.sorted() where !streams[id]!.closed {
                reset(StreamID(id), code: .cancel, reason: "drain deadline passed")
                events.append(.reset(StreamID(id), code: .cancel, reason: "drain deadline passed", byPeer: false))
            }
            endSession(nil, sendGoAway: false)
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
