import NIOCore
import ShuntWire

extension SessionStateMachine {
    /// The next frame to write: control frames first (HELLO, PING answers, WINDOW_UPDATE, RESET,
    /// GOAWAY never wait behind bulk data), then DATA from the streams in round robin, each frame at
    /// most `maxDataFrameSize` and within both windows (spec §6.1). Nil: nothing can be sent now.
    public mutating func nextOutboundFrame() -> Frame? {
        if let frame = control.popFirst() { return frame }
        guard phase == .ready else { return nil }
        var rotations = ready.count
        // Streams that wait for session window keep their place at the head of the round robin,
        // while a stream behind them whose FIN alone is left may still send it (it needs no window).
        var waiting: [UInt32] = []
        defer { if phase == .ready { for id in waiting.reversed() { ready.prepend(id) } } }
        while rotations > 0, let id = ready.popFirst() {
            rotations -= 1
            guard let index = streams.index(forKey: id) else { continue }
            let sessionWindow = sendSessionWindow.available
            let frameLimit = min(Int(peerSettings.maxFrameSize), configuration.maxDataFrameSize)
            let sendBuffer = configuration.streamSendBuffer
            let stream = StreamID(id)
            switch withRecord(at: index, { $0.nextStep(sessionWindow: sessionWindow, frameLimit: frameLimit, sendBufferLimit: sendBuffer) }) {
            case .idle, .waitStream:
                continue
            case .waitSession:
                waiting.append(id)
                continue
            case .finOnly:
                closeIfFinished(stream)
                return .data(stream, ByteBuffer(), fin: true)
            case .data(let chunk, let fin, let compressed, let writable, let reschedule):
                sendSessionWindow.consume(chunk.readableBytes)
                if writable { events.append(.writable(stream)) }
                if reschedule { ready.append(id) }
                if fin { closeIfFinished(stream) }
                return .data(stream, chunk, fin: fin, compressed: compressed)
            }
        }
        return nil
    }

    /// Whether `nextOutboundFrame()` has something now (control frames, or data with window).
    public var hasOutboundFrames: Bool {
        !control.isEmpty || (phase == .ready && !ready.isEmpty && sendSessionWindow.available > 0)
    }
}

extension SessionStateMachine {
    /// A stream with queued data and window must be scheduled, and a scheduled stream must be in the
    /// round robin; otherwise it would never send again. Nil when that holds, else what broke.
    public var schedulingViolation: String? {
        guard phase == .ready else { return nil }
        let queued = Set(ready)
        for (id, record) in streams where !record.closed {
            if record.scheduled && !queued.contains(id) { return "stream \(id) is marked scheduled but is not in the round robin" }
            if record.hasSendWork && record.canSendHead && !record.scheduled {
                return "stream \(id) has \(record.queuedBytes) octets queued and \(record.sendWindow.available) of window but is not scheduled"
            }
        }
        return nil
    }
}
