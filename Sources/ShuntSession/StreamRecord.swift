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
