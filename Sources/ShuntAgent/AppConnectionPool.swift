import NIOCore
import NIOPosix

/// Keep-alive connections to the app container, on one event loop: a request reuses an idle one
/// (the most recent first) or dials a new one; at most `maxIdle` wait, each at most `idleTimeout`.
/// An idle connection that the app closes, or that sends anything, is dropped.
final class AppConnectionPool {
    let address: SocketAddress
    let eventLoop: EventLoop
    let maxIdle: Int
    let idleTimeout: TimeAmount
    private var idle: [(channel: Channel, timer: Scheduled<Void>)] = []

    init(address: SocketAddress, eventLoop: EventLoop, maxIdle: Int, idleTimeout: TimeAmount = .milliseconds(1_500)) {
        self.address = address
        self.eventLoop = eventLoop
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }

    var idleCount: Int { idle.count }

    /// An idle connection, now reporting to `edge`, or nil when none is left (no future: this is
    /// the path of nearly every request).
    func acquireIdle(for edge: EdgeHandler) -> Channel? {
        eventLoop.preconditionInEventLoop()
        while let (channel, timer) = idle.popLast() {
            timer.cancel()
            guard channel.isActive, let existing = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) else { continue }
            existing.edge = edge
            return channel
        }
        return nil
    }

    /// A connection whose `UpstreamHandler` now reports to `edge`.
    func acquire(for edge: EdgeHandler) -> EventLoopFuture<Channel> {
        if let channel = acquireIdle(for: edge) { return eventLoop.makeSucceededFuture(channel) }
        let handler = NIOLoopBound(UpstreamHandler(edge: edge), eventLoop: eventLoop)
        return ClientBootstrap(group: eventLoop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler.value) }
            }
            .connect(to: address)
            .assumeIsolated()
            .map { channel in
                // Once per connection: an idle one the app closes leaves the pool.
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.forget(channel) }
                return channel
            }
            .nonisolated()
    }

    /// The exchange on `channel` is over and it may serve another.
    func release(_ channel: Channel) {
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

    func closeAll() {
        for entry in idle {
            entry.timer.cancel()
            entry.channel.close(promise: nil)
        }
        idle.removeAll()
    }
}
