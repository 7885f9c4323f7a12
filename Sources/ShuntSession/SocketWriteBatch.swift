import Atomics
import CShuntRing
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The writes of one event loop's wake-up to the sockets of `BatchedSocketHandler`s, sent together
/// in one system call (an io_uring submission of one send per socket) at the end of the wake-up,
/// after its last burst of flushes (`TickFlushes`).
///
/// Why: a proxy's write to a peer that sleeps wakes it, and a peer woken on the writer's core takes
/// the core at once (wake-up preemption), before the writer's next write. A proxy that writes to
/// its callers or to the service connection by connection is switched out once per write, and the
/// peer serves one request per wake-up. Sent in one system call, all of a wake-up's writes are made
/// before the writer can be switched out, and the peer serves them in one go. Measured on the
/// intercepted chain (tools/bench/README.md, stop 32).
///
/// A socket leaves the batch for good (`BatchedSocketHandler.viaChannel`), and its writes go through
/// SwiftNIO's channel as before, once a send of it is short (the socket's buffer is full: SwiftNIO's
/// backpressure takes over), fails, or a write asks for a promise. Where io_uring cannot be had,
/// `isAvailable` is false and no handler is added.
///
/// Confined to `eventLoop` (checked).
public final class SocketWriteBatch {
    /// The most sockets sent to in one system call; a wake-up with more is sent in several.
    public static let defaultCapacity = 64

    public let eventLoop: EventLoop
    private let ring: OpaquePointer?
    public let capacity: Int
    /// Sockets with octets waiting, in the order they asked.
    private var listed: [BatchedSocketHandler] = []
    /// The flushes of a burst are being made: they list their sockets instead of sending (a flush
    /// outside a burst sends at once).
    var bursting = false
    /// Sends made, and the system calls made for them: readable from any thread.
    public final class Counts: Sendable {
        private let sendCount = ManagedAtomic(0)
        private let submissionCount = ManagedAtomic(0)
        public var sends: Int { sendCount.load(ordering: .relaxed) }
        public var submissions: Int { submissionCount.load(ordering: .relaxed) }
        func add(sends: Int, submissions: Int) {
            submissionCount.wrappingIncrement(by: submissions, ordering: .relaxed)
            sendCount.wrappingIncrement(by: sends, ordering: .relaxed)
        }
    }
    public let counts = Counts()
    public var sends: Int { counts.sends }
    public var submissions: Int { counts.submissions }
    private var descriptors: [CInt] = []
    private var pointers: [UnsafeRawPointer?] = []
    private var lengths: [CUnsignedInt] = []
    private var results: [CLong] = []

    /// False when the environment variable `SHUNT_BATCHED_WRITES` is `0` or `off`: every write then
    /// goes through SwiftNIO's channels, as before stop 32.
    public static let enabledByEnvironment: Bool = {
        guard let value = getenv("SHUNT_BATCHED_WRITES") else { return true }
        let text = String(cString: value).lowercased()
        return text != "0" && text != "off"
    }()

    /// A batch with a ring of `capacity` sends, or an unavailable one when `enabled` is false or the
    /// kernel gives no ring.
    public init(eventLoop: EventLoop, capacity: Int = SocketWriteBatch.defaultCapacity, enabled: Bool = true) {
        precondition(capacity >= 1, "capacity is at least 1")
        self.eventLoop = eventLoop
        let ring = enabled ? shunt_ring_create(CUnsignedInt(capacity)) : nil
        self.ring = ring
        self.capacity = ring.map { Int(shunt_ring_capacity($0)) } ?? capacity
    }

    deinit {
        if let ring { shunt_ring_destroy(ring) }
    }

    /// Whether sockets may join: a ring was had.
    public var isAvailable: Bool { ring != nil && !broken }
    private var broken = false

    func list(_ socket: BatchedSocketHandler) {
        listed.append(socket)
        if listed.count >= capacity { submit() }
    }

    /// Sends what every listed socket holds, in one system call per `capacity` sockets.
    public func submit() {
        eventLoop.preconditionInEventLoop()
        while !listed.isEmpty {
            let count = min(listed.count, capacity)
            var batch = Array(listed.prefix(count))
            listed.removeFirst(count)
            batch.removeAll { !$0.takeListing() }
            send(batch)
        }
    }

    /// Sends what `socket` holds now, alone (a flush that cannot wait for the end of the wake-up).
    func submit(_ socket: BatchedSocketHandler) {
        guard socket.hasPending else { return }
        send([socket])
    }

    private func send(_ sockets: [BatchedSocketHandler]) {
        let ready = sockets.filter { $0.isReadyToSend }
        guard !ready.isEmpty else { return }
        if ready.count == 1 || ring == nil || broken {
            counts.add(sends: ready.count, submissions: ready.count)
            for socket in ready { socket.sent(socket.withPending { shunt_send_now(socket.descriptor, $0.baseAddress, $0.count) }) }
            return
        }
        counts.add(sends: ready.count, submissions: 1)
        descriptors.removeAll(keepingCapacity: true)
        pointers.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        results = Array(repeating: -CLong(EIO), count: ready.count)
        // The pending buffers are held by their handlers until `sent`: their storage stays put.
        for socket in ready {
            descriptors.append(socket.descriptor)
            socket.withPending { bytes in
                pointers.append(UnsafeRawPointer(bytes.baseAddress))
                lengths.append(CUnsignedInt(bytes.count))
            }
        }
        // Each result is what was sent, or -EIO for a send the kernel did not take: that socket's
        // octets go through its channel. Unless the kernel took them all, the ring is not used again.
        if shunt_ring_send(ring, descriptors, pointers, lengths, CInt(ready.count), &results) != 0 { broken = true }
        for (socket, result) in zip(ready, results) { socket.sent(result) }
    }
}

/// The head-side handler of a connection whose descriptor is known (one Shunt dialled or accepted
/// itself): its writes wait in `batch` until they are flushed, and go out with the other sockets'
/// at the end of the event loop's wake-up. Everything else (and every write once the
/// socket has left the batch) passes through to SwiftNIO's channel. A close sends what waits first.
public final class BatchedSocketHandler: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    let descriptor: CInt
    private let batch: SocketWriteBatch
    private var context: ChannelHandlerContext?
    /// Written, not yet sent.
    private var pending: ByteBuffer?
    /// Flushed, not yet sent: in `batch`'s list.
    private var flushed = false
    private var listed = false
    /// The socket left the batch: its writes go through the channel.
    public private(set) var viaChannel = false

    /// `descriptor` is the channel's socket: the handler must sit nearest the head of its pipeline.
    public init(descriptor: CInt, batch: SocketWriteBatch) {
        self.descriptor = descriptor
        self.batch = batch
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        leaveBatch(context: context)
        self.context = nil
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if viaChannel || promise != nil {
            leaveBatch(context: context)
            context.write(data, promise: promise)
            return
        }
        var bytes = unwrapOutboundIn(data)
        guard bytes.readableBytes > 0 else { return }
        if pending == nil {
            pending = bytes
        } else {
            // Rare (two writes before a flush): one buffer of our own for both.
            var joined = context.channel.allocator.buffer(capacity: pending!.readableBytes + bytes.readableBytes)
            joined.writeBuffer(&pending!)
            joined.writeBuffer(&bytes)
            pending = joined
        }
    }

    public func flush(context: ChannelHandlerContext) {
        guard !viaChannel else {
            context.flush()
            return
        }
        guard pending != nil else { return }
        flushed = true
        if batch.bursting {
            if !listed {
                listed = true
                batch.list(self)
            }
        } else {
            batch.submit(self)
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushed { batch.submit(self) }
        context.close(mode: mode, promise: promise)
    }

    /// Octets wait to be sent.
    var hasPending: Bool { flushed && pending != nil }

    /// Taken off the batch's list; false when it has nothing to send any more.
    func takeListing() -> Bool {
        listed = false
        return hasPending
    }

    /// Still the channel's socket, open, with octets flushed: checked on the event loop just before
    /// the send, the descriptor cannot have been closed and given to another socket.
    var isReadyToSend: Bool {
        guard hasPending, !viaChannel else { return false }
        guard let context, context.channel.isActive else {
            // Closed: what waited is dropped, as a closed channel drops its unwritten writes.
            pending = nil
            flushed = false
            return false
        }
        return true
    }

    func withPending<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        pending!.withUnsafeReadableBytes(body)
    }

    /// The send's result: octets sent, or -errno. What was not sent goes through the channel, and so
    /// does everything after it (a short send: the socket's buffer is full; an error: the channel
    /// meets it too and closes as it would have).
    func sent(_ result: CLong) {
        guard var bytes = pending else { return }
        pending = nil
        flushed = false
        if result >= 0 && Int(result) == bytes.readableBytes { return }
        if result > 0 { bytes.moveReaderIndex(forwardBy: Int(result)) }
        viaChannel = true
        guard let context else { return }
        context.write(wrapOutboundOut(bytes), promise: nil)
        context.flush()
    }

    /// What waits is sent (or handed to the channel) and the socket leaves the batch.
    private func leaveBatch(context: ChannelHandlerContext) {
        guard !viaChannel else { return }
        if flushed { batch.submit(self) }
        viaChannel = true
        if let rest = pending.take() {
            // Written, not flushed: it goes to the channel, ahead of what follows, for its flush.
            context.write(wrapOutboundOut(rest), promise: nil)
        }
    }
}
