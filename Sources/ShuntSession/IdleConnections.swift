import NIOCore
import NIOPosix

/// Keep-alive connections waiting for their next exchange, on one event loop: the most recent is
/// taken first, at most `maxIdle` wait, each at most `idleTimeout`, and one that closes while it
/// waits leaves. The agent's pool of app connections and the laptop's pool of connections to the
/// developer's service are both this, each with its own handler on the connections.
///
/// Confined to `eventLoop`: every method runs there (checked).
public final class IdleConnections {
    public let eventLoop: EventLoop
    public let maxIdle: Int
    public let idleTimeout: TimeAmount
    private var idle: [(channel: Channel, timer: Scheduled<Void>)] = []

    public init(eventLoop: EventLoop, maxIdle: Int, idleTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }

    public var count: Int { idle.count }

    /// The most recent idle connection that is still open, with its handler of type `Handler`, out
    /// of the pool; nil when none is left. Connections found closed are dropped.
    public func take<Handler: ChannelHandler>(_ type: Handler.Type) -> (channel: Channel, handler: Handler)? {
        eventLoop.preconditionInEventLoop()
        while let (channel, timer) = idle.popLast() {
            timer.cancel()
            guard channel.isActive, let handler = try? channel.pipeline.syncOperations.handler(type: Handler.self) else {
                channel.close(promise: nil)
                continue
            }
            return (channel, handler)
        }
        return nil
    }

    /// A new connection to `address` with `handler` on it, which leaves the pool if it ever closes
    /// while waiting there.
    public func dial<Handler: ChannelHandler>(_ address: SocketAddress, connectTimeout: TimeAmount,
                                              handler: NIOLoopBound<Handler>) -> EventLoopFuture<Channel> {
        ClientBootstrap(group: eventLoop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler.value) }
            }
            .connect(to: address)
            .assumeIsolated()
            .map { channel in
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.forget(channel) }
                return channel
            }
            .nonisolated()
    }

    /// The exchange on `channel` is over and it may serve another: it waits, or closes when the pool
    /// is full or the channel is not open.
    public func put(_ channel: Channel) {
        eventLoop.preconditionInEventLoop()
        guard channel.isActive, idle.count < maxIdle else {
            channel.close(promise: nil)
            return
        }
        let timer = eventLoop.assumeIsolated().scheduleTask(in: idleTimeout) { [weak channel] in
            guard let channel else { return }
            self.forget(channel)
            channel.close(promise: nil)
        }
        idle.append((channel, timer))
    }

    private func forget(_ channel: Channel) {
        idle.removeAll { entry in
            guard entry.channel === channel else { return false }
            entry.timer.cancel()
            return true
        }
    }

    public func closeAll() {
        eventLoop.preconditionInEventLoop()
        for entry in idle {
            entry.timer.cancel()
            entry.channel.close(promise: nil)
        }
        idle.removeAll()
    }
}
