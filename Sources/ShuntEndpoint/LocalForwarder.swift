import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntSession
import ShuntWire

/// Serves the streams the agent opens. Each HTTP stream carries one request, or one after another
/// (spec §10.2): each is served on a keep-alive connection to 127.0.0.1:`port` (or [::1]:`port`, for
/// a service that listens on IPv6 alone: `LocalTarget`), the developer's service, taken from a pool
/// (see `LocalConnectionPool`, `LocalExchange`) and watched for the request log. Each TCP stream (a
/// global intercept) is joined to a new connection of its own.
///
/// When nothing listens there, the stream is reset with CONNECT_ERROR and a reason naming the
/// address (the agent answers its caller 502 with it); the developer is warned once, and again only
/// after the service has answered in between (once for all the intercept's replicas: `LocalService`).
/// Other kinds, CONTROL included, are reset with UNSUPPORTED_KIND.
public final class LocalForwarder: Sendable {
    /// The developer's service: its address and whether the developer was warned, shared by the
    /// forwarders of every replica of one intercept.
    public let service: LocalService
    public let compress: Bool
    public let connectTimeout: TimeAmount
    private let events: @Sendable (EndpointEvent) -> Void
    public let poolLimits: LocalPoolLimits
    /// One pool per event loop, made on first use.
    private let pools = NIOLockedValueBox<[ObjectIdentifier: LocalConnectionPool]>([:])

    /// Serves `service` (whose port and developer are then the ones that count); without one, a
    /// service of its own on 127.0.0.1:`port` (or [::1]:`port`) that tells `events` of its warnings.
    public init(port: Int, developer: String, compress: Bool = false, connectTimeout: TimeAmount = .seconds(5),
                pool: LocalPoolLimits = LocalPoolLimits(), service: LocalService? = nil,
                events: @escaping @Sendable (EndpointEvent) -> Void) {
        self.service = service ?? LocalService(port: port, developer: developer, events: events)
        self.compress = compress
        self.connectTimeout = connectTimeout
        self.poolLimits = pool
        self.events = events
    }

    public var port: Int { service.port }
    /// Whose laptop, for the reset reason the caller may see.
    public var developer: String { service.developer }
    /// 127.0.0.1:`port` or [::1]:`port`.
    public var target: LocalTarget { service.target }
    /// Where streams go now, as the developer reads it: `127.0.0.1:8080` or `[::1]:8080`.
    public var address: String { service.address }

    public var streamInitializer: SessionHandler.StreamInitializer {
        { [self] stream in serve(stream) }
    }

    func serve(_ stream: ShuntStreamChannel) -> EventLoopFuture<Void> {
        let loop = stream.eventLoop
        guard stream.kind == .http || stream.kind == .tcp || stream.kind == .http2 else {
            stream.reset(code: .unsupportedKind, reason: "the laptop serves HTTP, HTTP2 and TCP streams, not \(stream.kind)")
            return loop.makeSucceededVoidFuture()
        }
        let opened = ContinuousClock.now
        let start = Date()
        let events = self.events
        let compress = self.compress
        if stream.kind == .http, let pool = pool(for: loop) {
            let metadata = stream.metadata
            let observer = RequestObserver(opened: opened, start: start, intercept: metadata.string("intercept"),
                                           requestID: metadata.string("request-id"), client: metadata.string("client"),
                                           report: { events(.request($0)) })
            let handler = NIOLoopBound(LocalStreamHandler(pool: pool, observer: observer, reachable: { reached in
                switch reached {
                case .success:
                    self.answered()
                    return nil
                case .failure(let error):
                    return self.unanswered(error)
                }
            }), eventLoop: loop)
            let unservedObserver = NIOLoopBound(observer, eventLoop: loop)
            return pool.acquire(for: handler.value).flatMapError { error in
                let reason = self.unanswered(error)
                // Its line says what it was and that it was not served: the warning is said once per
                // episode, and the caller's 502 is not seen here. A refused connect to 127.0.0.1 can
                // fail at once, before the session has read the request that came with the stream's
                // opening (the agent sends both together): the stream is reset a loop turn later.
                let reported = loop.makePromise(of: Channel.self)
                loop.execute {
                    let observer = unservedObserver.value
                    for bytes in stream.bufferedPlainInbound { observer.sawRequest(bytes) }
                    observer.failure = Self.notServed
                    stream.reset(code: .connectError, reason: reason)
                    observer.streamClosed()
                    reported.fail(error)
                }
                return reported.futureResult
            }.flatMap { socket in
                self.answered()
                return loop.makeCompletedFuture {
                    if compress { try stream.enableCompression() }
                    handler.value.attach(socket)
                    try stream.pipeline.syncOperations.addHandler(handler.value)
                }.flatMapErrorThrowing { error in
                    socket.close(promise: nil)
                    throw error
                }
            }.recover { _ in }
        }
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connectTimeout(connectTimeout)
        let socket = target.connect(on: loop) { bootstrap.connect(to: $0) }
        let connected: EventLoopFuture<Channel?> = socket.map { Optional($0) }
        return connected.flatMapError { error in
            stream.reset(code: .connectError, reason: self.unanswered(error))
            return loop.makeSucceededFuture(nil)
        }.flatMap { socket in
            guard let socket else { return loop.makeSucceededVoidFuture() }
            self.answered()
            return loop.makeCompletedFuture {
                if compress { try stream.enableCompression() }
                if stream.kind == .http {
                    let metadata = stream.metadata
                    try stream.pipeline.syncOperations.addHandler(RequestObserver(
                        opened: opened, start: start, intercept: metadata.string("intercept"),
                        requestID: metadata.string("request-id"), client: metadata.string("client"),
                        report: { events(.request($0)) }))
                }
                if stream.kind == .http2 {
                    let metadata = stream.metadata
                    try stream.pipeline.syncOperations.addHandler(H2RequestObserver(
                        intercept: metadata.string("intercept"), client: metadata.string("client"),
                        report: { events(.request($0)) }))
                }
                let (streamSide, socketSide) = GlueHandler.matchedPair()
                try stream.pipeline.syncOperations.addHandler(streamSide)
                try socket.pipeline.syncOperations.addHandler(socketSide)
            }.flatMapErrorThrowing { error in
                socket.close(promise: nil)
                throw error
            }
        }
    }

    /// Connects to the local service once and closes: when nothing answers, the developer is warned
    /// now (once, as a failed stream would warn), not at the first intercepted request. Completes
    /// within `connectTimeout`, and never fails.
    public func probe(on loop: EventLoop) -> EventLoopFuture<Void> {
        let socket = loop.flatSubmit { [target, connectTimeout] in
            let bootstrap = ClientBootstrap(group: loop).connectTimeout(connectTimeout)
            return target.connect(on: loop) { bootstrap.connect(to: $0) }
        }
        return socket.flatMap { channel in
            self.answered()
            return channel.close().recover { _ in }
        }.recover { error in
            _ = self.unanswered(error)
        }
    }

    /// This event loop's pool, or nil when the address did not parse (then every stream dials).
    private func pool(for loop: EventLoop) -> LocalConnectionPool? {
        guard target.hasAddress else { return nil }
        return pools.withLockedValue { pools in
            if let pool = pools[ObjectIdentifier(loop)] { return pool }
            let pool = LocalConnectionPool(target: target, eventLoop: loop, limits: poolLimits, connectTimeout: connectTimeout)
            pools[ObjectIdentifier(loop)] = pool
            return pool
        }
    }

    /// Connections dialled to the local service so far, over all event loops (for tests).
    public var connectionsDialled: Int {
        pools.withLockedValue { pools in pools.values.reduce(0) { $0 + $1.dialledCount } }
    }

    /// Sends to the local service that left in one system call per wake-up (`SocketWriteBatch`),
    /// over all event loops, and the system calls they took (for tests).
    public var batchedWrites: (sends: Int, submissions: Int) {
        pools.withLockedValue { pools in
            pools.values.reduce((0, 0)) { total, pool in
                (total.0 + (pool.writeCounts?.sends ?? 0), total.1 + (pool.writeCounts?.submissions ?? 0))
            }
        }
    }

    /// Closes the idle connections of every pool (the intercept is over).
    public func closeIdleConnections() {
        let all = pools.withLockedValue { pools in Array(pools.values) }
        for pool in all {
            pool.eventLoop.execute { pool.closeAll() }
        }
    }

    /// What the request log says of a request the local service could not be reached for (the reason
    /// is in the warning, said once per episode).
    static let notServed = "local service unreachable"

    /// "nothing listens on 127.0.0.1:8080 on alice's laptop", or the connect error.
    func unreachableReason(_ error: Error) -> String { service.unreachableReason(error) }

    private func unanswered(_ error: Error) -> String { service.unanswered(error) }

    private func answered() { service.answered() }
}
