import NIOCore

/// The flushes asked for during one wake-up of an event loop, made together once the loop has
/// handled that wake-up's I/O events, or as soon as `maxBatch` of them wait.
///
/// A proxy that flushes each write as it makes it spreads its writes over the wake-up: each one
/// tends to find its receiver asleep again and pays, inside `write`, to wake it. Written in a
/// burst, the first write wakes the receiver and the others find it running: on the agent's
/// pass-through path this cut the agent's CPU per request by a fifth (tools/bench/README.md).
///
/// The burst is bounded. Unbounded, under load a whole wake-up's requests move as one convoy from
/// process to process (caller, agent, laptop, service), each waiting for the previous one's whole
/// batch, and on two cores the chain ran as if on one. A burst of at most 8 lets the next process
/// start while this one works and still saves most wake-ups. Measured alone, one chain at a time
/// (alternating `ab.sh` rounds; two chains loaded together hide the convoy): 8 against 16 gave the
/// intercepted path +3.7% requests/s over seven runs (six ahead) for 2–4% more CPU per request,
/// pass-through +1.7% over three; 32 against 16 gave 0.92×.
///
/// With a `batch`, the writes to the sockets of `BatchedSocketHandler`s that the wake-up's bursts
/// flushed are sent in one system call at the end of the wake-up (`SocketWriteBatch`): once per
/// wake-up rather than once per burst of `maxBatch` gave the intercepted chain 1.09× the
/// requests/s at 0.86× the CPU per request (10 alternating rounds, stop 32).
///
/// A member asks with `flushLater(_:)` and keeps its own flag so it is listed once; it flushes
/// itself at once (`flushNow()`) where a flush cannot wait: before it closes a channel or hands a
/// connection to someone else. Confined to `eventLoop` (checked).
public final class TickFlushes {
    public protocol Member: AnyObject {
        func flushNow()
    }

    /// The most members that wait; the one that reaches it flushes them all at once.
    public static let defaultMaxBatch = 8

    public let eventLoop: EventLoop
    public let maxBatch: Int
    private var members: [any Member] = []
    /// The list of the last burst, emptied with its capacity kept: the next burst is swapped into it
    /// instead of a new list being allocated for each.
    private var spare: [any Member] = []
    /// A flush at the end of the wake-up is queued on the loop.
    private var scheduled = false

    /// The sockets whose writes of a burst leave in one system call; nil when not asked for or not
    /// available (see `SocketWriteBatch`).
    public let batch: SocketWriteBatch?
    /// Bursts in progress (a flush may start another).
    private var depth = 0

    /// `batchedWrites`: sockets may join `batch` (when the kernel gives io_uring and
    /// `SocketWriteBatch.enabledByEnvironment` does not say no).
    public init(eventLoop: EventLoop, maxBatch: Int = TickFlushes.defaultMaxBatch, batchedWrites: Bool = false) {
        precondition(maxBatch >= 1, "maxBatch is at least 1")
        self.eventLoop = eventLoop
        self.maxBatch = maxBatch
        let batch = batchedWrites && SocketWriteBatch.enabledByEnvironment ? SocketWriteBatch(eventLoop: eventLoop) : nil
        self.batch = batch?.isAvailable == true ? batch : nil
    }

    /// Number of members waiting.
    public var count: Int { members.count }

    /// `member.flushNow()` runs once this wake-up's I/O events are handled, or now, with the others
    /// waiting, when it is the `maxBatch`-th. The caller lists itself once per burst (a member
    /// listed twice is flushed twice, which is harmless).
    public func flushLater(_ member: any Member) {
        eventLoop.preconditionInEventLoop()
        members.append(member)
        if members.count >= maxBatch {
            flushAll(endOfTick: !scheduled)
        } else if !scheduled {
            scheduled = true
            eventLoop.assumeIsolated().execute {
                self.scheduled = false
                self.flushAll(endOfTick: true)
            }
        }
    }

    private func flushAll(endOfTick: Bool) {
        var burst = spare
        spare = []
        swap(&burst, &members)
        // A flush may make another member write and ask again (even reach `maxBatch` and flush a
        // burst of its own): it goes in `members`, for a new burst.
        depth += 1
        batch?.bursting = true
        for member in burst { member.flushNow() }
        depth -= 1
        if depth == 0, let batch {
            batch.bursting = false
            // The batch leaves once per wake-up, when its last burst is flushed (a burst that reached
            // `maxBatch` leaves it to the flush at the wake-up's end, when one is scheduled).
            if endOfTick { batch.submit() }
        }
        burst.removeAll(keepingCapacity: true)
        spare = burst
    }
}
