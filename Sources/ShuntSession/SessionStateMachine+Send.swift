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
            guard var record = streams[id], !record.closed, record.hasSendWork else {
                if streams[id] != nil { streams[id]!.scheduled = false }
                continue
            }
            if record.queuedBytes == 0 {
                // Only FIN is left: an empty DATA frame needs no window.
                record.finSent = true
                record.finQueued = false
                record.scheduled = false
                streams[id] = record
                closeIfFinished(record.id)
                return .data(record.id, ByteBuffer(), fin: true)
            }
            let head = record.sendQueue!.first!
            // A compressed unit goes whole (spec §12): it waits for window enough for all of it.
            let needed = head.compressed ? head.bytes.readableBytes : 1
            if sendSessionWindow.available < needed {
                waiting.append(id)
                continue
            }
            if record.sendWindow.available < needed {
                record.scheduled = false  // rescheduled by the stream's WINDOW_UPDATE
                streams[id] = record
                continue
            }
            let limit = min(record.sendWindow.available, sendSessionWindow.available,
                            Int(peerSettings.maxFrameSize), configuration.maxDataFrameSize)
            // The copy of the record and the one in `streams` share the queue's storage: the latter
            // lets go of it, so that taking from the queue does not copy it (it is stored back below).
            streams[id]!.sendQueue = nil
            var entry = record.sendQueue!.removeFirst()
            let chunk: ByteBuffer
            if entry.compressed || entry.bytes.readableBytes <= limit {
                chunk = entry.bytes
            } else {
                chunk = entry.bytes.readSlice(length: limit)!
                record.sendQueue!.prepend(entry)
            }
            let octets = chunk.readableBytes
            record.queuedBytes -= octets
            record.sendWindow.consume(octets)
            sendSessionWindow.consume(octets)
            let fin = record.queuedBytes == 0 && record.finQueued
            if fin {
                record.finSent = true
                record.finQueued = false
                record.sendQueue = nil
            }
            if record.blocked && record.queuedBytes < configuration.streamSendBuffer && record.acceptsWrites {
                record.blocked = false
                events.append(.writable(record.id))
            }
            if record.hasSendWork && record.canSendHead {
                ready.append(id)
            } else {
                record.scheduled = false
            }
            streams[id] = record
            if fin { closeIfFinished(record.id) }
            return .data(record.id, chunk, fin: fin, compressed: entry.compressed)
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
