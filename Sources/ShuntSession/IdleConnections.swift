import CShuntRing
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Keep-alive connections waiting for their next exchange, on one event loop: the most recent is
/// taken first, at most `maxIdle` wait, each at most `idleTimeout`, and one that closes while it
/// waits leaves. The agent's pool of app connections and the laptop's pool of connections to the
/// developer's service are both this, each with its own handler on the connections.
///
/// One scheduled sweep closes the connections whose time ran out, not a timer per connection: a
/// connection going back to the pool and out again for every request costs no task to schedule and
/// cancel.
///
/// Generic over the handler each connection carries, so that a connection and its handler are kept
/// and handed back as they are: no existential to box on `put`, no cast on `take`, for each request.
///
/// Confined to `eventLoop`: every method runs there (checked).
public final class IdleConnections<Handler: ChannelHandler> {
    public let eventLoop: EventLoop
    public let maxIdle: Int
    public let idleTimeout: TimeAmount
    /// Oldest first: entries are appended as they arrive and removed without reordering.
    private var idle: [(channel: Channel, handler: Handler, since: NIODeadline)] = []
    /// The one scheduled sweep, if any; it comes when the oldest idle connection's time runs out.
    private var sweep: Scheduled<Void>?

    public init(eventLoop: EventLoop, maxIdle: Int, idleTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }

    public var count: Int { idle.count }

    /// The most recent idle connection that is still open, with its handler, out of the pool; nil
    /// when none is left. Connections found closed are dropped.
    public func take() -> (channel: Channel, handler: Handler)? {
        eventLoop.preconditionInEventLoop()
        while let (channel, handler, _) = idle.popLast() {
            guard channel.isActive else {
                channel.close(promise: nil)
                continue
            }
            return (channel, handler)
        }
        return nil
    }

    /// A new connection to `address` with `handler` on it, which leaves the pool if it ever closes
    /// while waiting there.
    ///
    /// With a `batch`, a connection to a loopback address that is established as `connect` returns
    /// (as loopback connections are when something listens) is made here, its descriptor known, and
    /// its writes join the batch (`BatchedSocketHandler`); any other is dialled by SwiftNIO, as without.
    public func dial(_ address: SocketAddress, connectTimeout: TimeAmount, handler: NIOLoopBound<Handler>,
                     batch: SocketWriteBatch? = nil) -> EventLoopFuture<Channel> {
        let bootstrap = ClientBootstrap(group: eventLoop).channelOption(.allowRemoteHalfClosure, value: true)
        let connected: EventLoopFuture<Channel>
        if let batch, case let descriptor = address.withSockAddr({ shunt_connect_now($0, socklen_t($1)) }), descriptor >= 0 {
            let batch = NIOLoopBound(batch, eventLoop: eventLoop)
            connected = bootstrap
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(BatchedSocketHandler(descriptor: descriptor, batch: batch.value))
                        try channel.pipeline.syncOperations.addHandler(handler.value)
                    }
                }
                .withConnectedSocket(descriptor)
        } else {
            connected = bootstrap
                .connectTimeout(connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler.value) }
                }
                .connect(to: address)
        }
        return connected
            .assumeIsolated()
            .map { channel in
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.forget(channel) }
                return channel
            }
            .nonisolated()
    }

    /// The exchange on `channel` is over and it may serve another: it waits, or closes when the pool
    /// is full or the channel is not open.
    /// `handler` is the connection's own handler, the one `take` hands back with it.
    public func put(_ channel: Channel, handler: Handler) {
        eventLoop.preconditionInEventLoop()
        guard channel.isActive, idle.count < maxIdle else {
            channel.close(promise: nil)
            return
        }
        idle.append((channel, handler, eventLoop.now))
        scheduleSweep()
    }

    private func scheduleSweep() {
        guard sweep == nil, let oldest = idle.first else { return }
        sweep = eventLoop.assumeIsolated().scheduleTask(deadline: oldest.since + idleTimeout) {
            self.sweep = nil
            self.expire()
        }
    }

    /// Closes the connections that waited `idleTimeout`, then waits for the next oldest.
    private func expire() {
        let now = eventLoop.now
        while let oldest = idle.first, oldest.since + idleTimeout <= now {
            idle.removeFirst()
            oldest.channel.close(promise: nil)
        }
        scheduleSweep()
    }

    private func forget(_ channel: Channel) {
        idle.removeAll { $0.channel === channel }
    }

    public func closeAll() {
        eventLoop.preconditionInEventLoop()
        sweep?.cancel()
        sweep = nil
        for entry in idle { entry.channel.close(promise: nil) }
        idle.removeAll()
    }
}
