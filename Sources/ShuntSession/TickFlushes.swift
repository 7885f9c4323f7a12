import NIOCore

/// The flushes asked for during one wake-up of an event loop, made together once the loop has
/// handled that wake-up's I/O events.
///
/// A proxy that flushes each write as it makes it spreads its writes over the wake-up: each one
/// tends to find its receiver asleep again and pays, inside `write`, to wake it. Written in a
/// burst at the end of the wake-up, the first write wakes the receiver and the others find it
/// running. On the agent's pass-through path this cut the agent's CPU per request by about a
/// tenth (tools/bench/README.md).
///
/// A member asks with `flushLater(_:)` and keeps its own flag so it is listed once; it flushes
/// itself at once (`flushNow()`) where a flush cannot wait: before it closes a channel or hands a
/// connection to someone else. Confined to `eventLoop` (checked).
public final class TickFlushes {
    public protocol Member: AnyObject {
        func flushNow()
    }

    public let eventLoop: EventLoop
    private var members: [any Member] = []
    /// The list of the previous wake-up, kept for its capacity.
    private var spare: [any Member] = []

    public init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Number of members waiting for the end of this wake-up.
    public var count: Int { members.count }

    /// `member.flushNow()` runs once this wake-up's I/O events are handled. The caller lists itself
    /// once per wake-up (a member listed twice is flushed twice, which is harmless).
    public func flushLater(_ member: any Member) {
        eventLoop.preconditionInEventLoop()
        members.append(member)
        if members.count == 1 {
            eventLoop.assumeIsolated().execute { self.flushAll() }
        }
    }

    private func flushAll() {
        swap(&members, &spare)
        // A flush may make another member write and ask again: it goes in `members`, for a new pass.
        for member in spare { member.flushNow() }
        spare.removeAll(keepingCapacity: true)
    }
}
