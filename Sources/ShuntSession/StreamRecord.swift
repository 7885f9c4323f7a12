import NIOCore
import ShuntWire

/// What a session keeps per stream (spec §5.2, §6): direction states, windows and the send queue.
struct StreamRecord {
    let id: StreamID
    let openedByPeer: Bool
    /// This side may still queue data (no FIN queued, not reset).
    var acceptsWrites = true
    /// This side has put FIN on the wire.
    var finSent = false
    /// FIN is queued behind `sendQueue`.
    var finQueued = false
    /// The peer may still send (no FIN received, not reset).
    var remoteOpen: Bool
    /// Reset, or both FINs exchanged.
    var closed = false
    /// The owner released the stream while its last data and FIN were still queued: it is released
    /// (forgotten, its credit returned) once they are on the wire.
    var releaseWhenClosed = false

    var sendWindow: FlowWindow
    /// Lazily created: an idle stream holds no queue storage.
    var sendQueue: CircularBuffer<QueuedData>? = nil
    var queuedBytes = 0
    /// In the scheduler's round-robin list.
    var scheduled = false
    /// Reported not writable; `.writable` is due when the queue drains below the limit.
    var blocked = false

    /// Credit the peer still has on this stream.
    var receiveCredit: Int
    /// The window size this side aims to keep open (grows, spec §6.3).
    var windowTarget: Int
    var consumedSinceUpdate = 0
    var lastUpdate: NIODeadline? = nil

    init(id: StreamID, openedByPeer: Bool, remoteOpen: Bool, sendWindow: UInt32, receiveWindow: UInt32) {
        self.id = id
        self.openedByPeer = openedByPeer
        self.remoteOpen = remoteOpen
        self.sendWindow = FlowWindow(sendWindow)
        self.receiveCredit = Int(receiveWindow)
        self.windowTarget = Int(receiveWindow)
    }

    var hasSendWork: Bool { queuedBytes > 0 || (finQueued && !finSent) }

    /// Stream window the head of the queue needs before anything of it can go: a compressed unit
    /// is never split (spec §12), plain data goes out in whatever the window allows.
    var windowForHead: Int {
        guard let head = sendQueue?.first else { return 0 }
        return head.compressed ? head.bytes.readableBytes : 1
    }

    /// The stream can put something on the wire once the session window allows.
    var canSendHead: Bool { queuedBytes == 0 || sendWindow.available >= windowForHead }

    /// Queues `data` (and FIN). True when the stream must join the scheduler's round robin now.
    mutating func enqueue(_ data: ByteBuffer, compressed: Bool, fin: Bool, sendBufferLimit: Int) -> Bool {
        if data.readableBytes > 0 {
            if sendQueue == nil { sendQueue = CircularBuffer(initialCapacity: 4) }
            sendQueue!.append(QueuedData(bytes: data, compressed: compressed))
            queuedBytes += data.readableBytes
        }
        if fin {
            finQueued = true
            acceptsWrites = false
        }
        if queuedBytes >= sendBufferLimit { blocked = true }
        let schedule = !scheduled && canSendHead
        if schedule { scheduled = true }
        return schedule
    }

    /// What the scheduler does with this stream now (`SessionStateMachine.nextOutboundFrame`).
    enum SendStep {
        /// Nothing to send (closed, or nothing queued); the stream leaves the round robin.
        case idle
        /// Only FIN is left: an empty DATA frame, which needs no window.
        case finOnly
        /// The session window is too small for the head of the queue; the stream keeps its place.
        case waitSession
        /// The stream window is too small; the stream leaves the round robin until a WINDOW_UPDATE.
        case waitStream
        /// A DATA frame of `chunk`; `writable` when the stream was reported blocked and its queue
        /// is now below the limit; `reschedule` when it has more to send now.
        case data(chunk: ByteBuffer, fin: Bool, compressed: Bool, writable: Bool, reschedule: Bool)
    }

    /// Takes what the next DATA frame of this stream carries, within `sessionWindow` and at most
    /// `frameLimit` octets: plain data as far as the windows allow, a compressed unit whole (spec
    /// §12). Consumes the stream window (the caller consumes the session's) and keeps the
    /// scheduling flags.
    mutating func nextStep(sessionWindow: Int, frameLimit: Int, sendBufferLimit: Int) -> SendStep {
        guard !closed, hasSendWork else {
            scheduled = false
            return .idle
        }
        if queuedBytes == 0 {
            finSent = true
            finQueued = false
            scheduled = false
            return .finOnly
        }
        let needed = windowForHead
        if sessionWindow < needed { return .waitSession }
        if sendWindow.available < needed {
            scheduled = false  // rescheduled by the stream's WINDOW_UPDATE
            return .waitStream
        }
        let limit = min(sendWindow.available, sessionWindow, frameLimit)
        var entry = sendQueue!.removeFirst()
        let chunk: ByteBuffer
        if entry.compressed || entry.bytes.readableBytes <= limit {
            chunk = entry.bytes
        } else {
            chunk = entry.bytes.readSlice(length: limit)!
            sendQueue!.prepend(entry)
        }
        let octets = chunk.readableBytes
        queuedBytes -= octets
        sendWindow.consume(octets)
        let fin = queuedBytes == 0 && finQueued
        if fin {
            finSent = true
            finQueued = false
            sendQueue = nil
        }
        var writable = false
        if blocked && queuedBytes < sendBufferLimit && acceptsWrites {
            blocked = false
            writable = true
        }
        let reschedule = hasSendWork && canSendHead
        if !reschedule { scheduled = false }
        return .data(chunk: chunk, fin: fin, compressed: entry.compressed, writable: writable, reschedule: reschedule)
    }

    /// What a DATA frame of `length` octets does to this stream (spec §6.1).
    enum ReceiveCheck {
        /// Reset or finished here: discarded.
        case discard
        case afterFin
        /// More than the stream's window (`credit`).
        case overWindow(credit: Int)
        case emptyCompressed
        /// Counted against the window (and the FIN taken).
        case accepted
    }

    mutating func receive(length: Int, fin: Bool, compressed: Bool) -> ReceiveCheck {
        if closed { return .discard }
        guard remoteOpen else { return .afterFin }
        if length > receiveCredit { return .overWindow(credit: receiveCredit) }
        if compressed && length == 0 { return .emptyCompressed }
        receiveCredit -= length
        if fin { remoteOpen = false }
        return .accepted
    }

    mutating func dropQueue() {
        sendQueue = nil
        queuedBytes = 0
        finQueued = false
        acceptsWrites = false
    }
}

/// Bytes queued on a stream: plain data (split across frames as the windows allow) or one
/// compressed unit (sent whole in one DATA frame with COMPRESSED, spec §12).
struct QueuedData {
    var bytes: ByteBuffer
    let compressed: Bool
}
