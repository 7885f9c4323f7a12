import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ShuntMatch
import ShuntSession
import ShuntTLS
import ShuntWireTools

/// The agent: a tunnel listener where laptops connect (mutual TLS, Shunt sessions, control calls),
/// and one edge listener per service port where the service's traffic arrives and is routed per
/// request to the app or to a laptop. The edges' HTTP/1.1 connections run on a loop of their own
/// (`DirectEdgeLoop`, unless `EdgeConfiguration.io` is `.nio`); everything else runs on one
/// SwiftNIO event loop, and so does each connection the edge hands over to it.
public final class AgentServer: Sendable {
    public struct Configuration: Sendable {
        /// Where laptops connect.
        public var tunnelHost = "0.0.0.0"
        public var tunnelPort = 7443
        /// Service ports: the edge listens on each, on `edgeHost` (or on its own host from
        /// `edgeHosts`, one per port, when that is not empty).
        public var edgeHost = "0.0.0.0"
        public var edgeHosts: [String] = []
        public var edgePorts: [Int] = [8080]
        /// The app container, one address per edge port (same order).
        public var appAddresses: [SocketAddress]
        public var service = "app"
        /// What `agent.info` reports as the app's environment.
        public var environment: [String: String] = [:]
        public var edge = EdgeConfiguration()
        /// The admin port (`/healthz`, `/readyz`); nil: none.
        public var adminHost = "0.0.0.0"
        public var adminPort: Int? = nil
        public var session = SessionConfiguration(role: .server)
        /// Client certificate names allowed operator-only calls (`tap`, spec §11.1).
        public var operators: Set<String> = []
        /// Taps attached at once.
        public var maxTaps = FrameTaps.defaultMaxTaps
        /// Octets each tap holds for an operator that reads slowly; further records are dropped and counted.
        public var tapQueueLimit = TapQueue.defaultLimit

        public init(appAddresses: [SocketAddress]) {
            self.appAddresses = appAddresses
        }
    }

    public let registry: InterceptRegistry
    public let tunnel: Channel
    public let edges: [Channel]
    private let group: MultiThreadedEventLoopGroup

    /// Starts listening, with a text log handed line by line to `log` (tests, `shunt demo`).
    public static func start(_ configuration: Configuration, certificates: CertificateFolder,
                             log: @escaping @Sendable (String) -> Void) async throws -> AgentServer {
        let logger = Logger(label: "shunt-agent") { _ in AgentLogHandler(format: .text, sink: log) }
        return try await start(configuration, certificates: certificates, logger: logger)
    }

    /// Starts listening; ports of 0 are chosen by the system (see `tunnelAddress`, `edgeAddresses`).
    /// What happens is logged to `logger` (one record per session, intercept, refusal and fail-open
    /// episode) and counted in `metrics` (served on the admin port's `/metrics`).
    public static func start(_ configuration: Configuration, certificates: CertificateFolder, logger: Logger,
                             metrics: AgentMetrics = AgentMetrics()) async throws -> AgentServer {
        precondition(configuration.edgePorts.count == configuration.appAddresses.count, "one app address per edge port")
        precondition(configuration.edgeHosts.isEmpty || configuration.edgeHosts.count == configuration.edgePorts.count, "one host per edge port")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let endpoint = try ShuntTLSEndpoint.agent(folder: certificates)
        // Edge ports are known only once bound when 0 was asked for: bind the edges first.
        var edges: [Channel] = []
        var boundPorts: [Int] = []
        let registryBox = NIOLockedValueBox<InterceptRegistry?>(nil)
        let tracked = NIOLockedValueBox(Tracked())
        let requestIDs = NIOLockedValueBox<UInt64>(0)
        let nextRequestID: @Sendable () -> UInt64 = { requestIDs.withLockedValue { $0 += 1; return $0 } }
        let failOpen = FailOpenEpisodes(logger: logger, metrics: metrics)
        let keptStreams = KeptStreams()
        let (flushesBox, writeCounts) = try await loop.submit {
            let flushes = TickFlushes(eventLoop: loop, batchedWrites: true)
            return (NIOLoopBound(flushes, eventLoop: loop), flushes.batch?.counts)
        }.get()
        var poolBoxes: [NIOLoopBound<AppConnectionPool>] = []
        for app in configuration.appAddresses {
            poolBoxes.append(try await loop.submit {
                NIOLoopBound(AppConnectionPool(address: app, eventLoop: loop, maxIdle: configuration.edge.maxIdleAppConnections,
                                                  idleTimeout: configuration.edge.appIdleTimeout,
                                                  connectTimeout: configuration.edge.appConnectTimeout), eventLoop: loop)
            }.get())
        }
        let pools = poolBoxes
        let portBoxes = configuration.edgePorts.map { NIOLockedValueBox($0) }
        // What the SwiftNIO edge's handlers of port `index` share (on the loop only).
        let shared: @Sendable (Int) -> EdgeHandler.Shared = { index in
            EdgeHandler.Shared(registry: registryBox.withLockedValue { $0! }, port: portBoxes[index].withLockedValue { $0 },
                               pool: pools[index].value, configuration: configuration.edge,
                               nextRequestID: nextRequestID, metrics: metrics, failOpen: failOpen,
                               keptStreams: keptStreams, flushes: flushesBox.value)
        }
        let track: @Sendable (Channel) -> Void = { channel in
            let id = ObjectIdentifier(channel)
            tracked.withLockedValue { $0.clients[id] = channel }
            channel.closeFuture.whenComplete { _ in tracked.withLockedValue { _ = $0.clients.removeValue(forKey: id) } }
        }
        let edgeHost = { (index: Int) in configuration.edgeHosts.isEmpty ? configuration.edgeHost : configuration.edgeHosts[index] }
        var direct: DirectEdgeLoop?
        #if canImport(Glibc)
        if configuration.edge.io == .direct {
            let ports = configuration.edgePorts.indices.map {
                DirectEdgeLoop.Port(host: edgeHost($0), port: configuration.edgePorts[$0], app: configuration.appAddresses[$0])
            }
            let edgeLoop = try DirectEdgeLoop(ports: ports, configuration: configuration.edge, metrics: metrics, logger: logger)
            for (index, bound) in edgeLoop.boundPorts.enumerated() { portBoxes[index].withLockedValue { $0 = bound } }
            boundPorts = edgeLoop.boundPorts
            direct = edgeLoop
        }
        #endif
        if direct == nil {
            for (index, port) in configuration.edgePorts.enumerated() {
                let edge = try await ServerBootstrap(group: loop)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.allowRemoteHalfClosure, value: true)
                    .childChannelInitializer { channel in
                        track(channel)
                        return channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(EdgeProtocolSniffer(shared: shared(index), client: channel.remoteAddress))
                        }
                    }
                    .bind(host: edgeHost(index), port: port).get()
                let bound = edge.localAddress?.port ?? port
                portBoxes[index].withLockedValue { $0 = bound }
                boundPorts.append(bound)
                edges.append(edge)
            }
        }
        let registry = InterceptRegistry(ports: boundPorts)
        registryBox.withLockedValue { $0 = registry }
        // A listener that fails to bind after this point leaves no edge behind.
        var ready = false
        defer { if !ready { direct?.stop() } }
        #if canImport(Glibc)
        direct?.start(registry: registry) { handOver in
            Self.adopt(handOver, on: loop, shared: shared, track: track, tracked: tracked, logger: logger)
        }
        #endif
        let control = AgentControl(registry: registry,
                                   info: InterceptCalls.AgentInfo(service: configuration.service, ports: boundPorts, env: configuration.environment),
                                   logger: logger)
        let taps = FrameTaps(eventLoop: loop, operators: configuration.operators,
                             limits: FrameTaps.Limits(maxTaps: configuration.maxTaps, queueLimit: configuration.tapQueueLimit), logger: logger)
        var serverSession = configuration.session
        serverSession.role = .server
        let sessionConfiguration = serverSession
        let tunnel = try await ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let connection = endpoint.configure(channel) { peer in
                    let caller = peer.name
                    let sessionID = taps.nextSessionID(peer: caller)
                    let handlerBox = NIOLockedValueBox<SessionHandler?>(nil)
                    let handler = SessionHandler(configuration: sessionConfiguration) { stream in
                        guard stream.kind == .control, let session = handlerBox.withLockedValue({ $0 }) else {
                            stream.reset(code: .unsupportedKind, reason: "the agent serves CONTROL streams only")
                            return stream.eventLoop.makeSucceededVoidFuture()
                        }
                        if stream.metadata.string("call") == TapCall.name {
                            return taps.serve(stream, caller: caller, session: session)
                        }
                        return ControlCall.serve(stream) { call, body in
                            stream.eventLoop.makeSucceededFuture(control.answer(call: call, body: body, caller: caller, session: session))
                        }
                    }
                    handlerBox.withLockedValue { $0 = handler }
                    taps.sessionOpened(handler, id: sessionID, peer: caller)
                    return handler
                }
                connection.whenSuccess { connection in
                    let peer = connection.peer.name
                    metrics.sessionsAccepted.increment()
                    let session = connection.session
                    let sessionID = taps.id(of: session) ?? ""
                    logger.info("session opened", metadata: ["peer": .string(peer), "session": .string(sessionID)])
                    let id = ObjectIdentifier(session)
                    tracked.withLockedValue { $0.sessions[id] = connection }
                    session.ended(on: channel.eventLoop).whenComplete { result in
                        tracked.withLockedValue { _ = $0.sessions.removeValue(forKey: id) }
                        taps.sessionEnded(session)
                        metrics.sessionEnded(octetsIn: session.octetsRead, octetsOut: session.octetsWritten)
                        let removed = registry.removeAll(session: session)
                        var fields: Logger.Metadata = ["peer": .string(peer), "session": .string(sessionID)]
                        switch result {
                        case .success(nil):
                            fields["why"] = "ended"
                        case .success(let error?):
                            fields["why"] = .string(error.description)
                            // A code is what a GOAWAY said, or a timeout's; a connection that just
                            // closed sent none (its placeholder INTERNAL_ERROR would read as a fault).
                            if error.origin != .transport || error.code == .timeout {
                                fields["code"] = .string(error.code.description)
                            }
                            if error.origin == .local { metrics.sessionFailed(code: error.code) }
                        case .failure(let error):
                            fields["why"] = .string("\(error)")
                        }
                        if !removed.isEmpty { fields["removed"] = .string(removed.joined(separator: ",")) }
                        logger.info(removed.isEmpty ? "session ended" : "session ended; its intercepts are removed and their traffic goes to the app",
                                    metadata: fields)
                    }
                }
                connection.whenFailure { error in
                    metrics.handshakeRefused(error)
                    logger.warning("refused a tunnel connection", metadata: [
                        "reason": .string((error as? HandshakeRefusal)?.label ?? "other"),
                        "error": .string("\(error)"),
                        "from": .string(channel.remoteAddress.map { "\($0)" } ?? "unknown"),
                    ])
                }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: configuration.tunnelHost, port: configuration.tunnelPort).get()
        var admin: Channel?
        if let adminPort = configuration.adminPort {
            let listening = [tunnel] + edges
            let directEdge = direct
            admin = try await ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(AdminHandler(ready: {
                            listening.allSatisfy(\.isActive) && directEdge?.accepting ?? true ? nil : "a listener of the agent is closed"
                        }, metrics: {
                            let sessions = tracked.withLockedValue { Array($0.sessions.values) }
                            return metrics.render(sessions: sessions.count, intercepts: registry.list().count,
                                                  streams: sessions.reduce(0) { $0 + $1.session.streamChannels.count },
                                                  liveOctetsIn: sessions.reduce(0) { $0 + $1.session.octetsRead },
                                                  liveOctetsOut: sessions.reduce(0) { $0 + $1.session.octetsWritten })
                        }))
                    }
                }
                .bind(host: configuration.adminHost, port: adminPort).get()
        }
        ready = true
        return AgentServer(registry: registry, tunnel: tunnel, edges: edges, direct: direct, edgePorts: boundPorts, admin: admin,
                           group: group, tracked: tracked, logger: logger, metrics: metrics, taps: taps,
                           writeCounts: writeCounts)
    }

    /// What is connected: edge clients and laptop sessions, for a graceful shutdown.
    struct Tracked {
        var clients: [ObjectIdentifier: Channel] = [:]
        var sessions: [ObjectIdentifier: ShuntConnection] = [:]
        /// Connections the direct edge handed over that SwiftNIO has not adopted yet.
        var adopting = 0
    }

    #if canImport(Glibc)
    /// A connection the direct edge hands over becomes a SwiftNIO channel on `loop`, served from
    /// where the direct edge left it.
    private static func adopt(_ handOver: DirectEdgeLoop.HandOver, on loop: EventLoop, shared: @escaping @Sendable (Int) -> EdgeHandler.Shared,
                              track: @escaping @Sendable (Channel) -> Void, tracked: NIOLockedValueBox<Tracked>, logger: Logger) {
        tracked.withLockedValue { $0.adopting += 1 }
        ClientBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let shared = shared(handOver.portIndex)
                    if let batch = shared.flushes.batch {
                        // The caller's socket is known: its answers leave with the wake-up's others.
                        try channel.pipeline.syncOperations.addHandler(BatchedSocketHandler(descriptor: handOver.descriptor, batch: batch))
                    }
                    let handler: ChannelHandler
                    switch handOver.prelude {
                    case .none, .received:
                        handler = EdgeProtocolSniffer(shared: shared, client: handOver.remote)
                    case .routing(let exchange, let laptop, let pending):
                        handler = EdgeHandler(shared: shared, client: handOver.remote, resuming: exchange,
                                              to: laptop, pending: pending)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .withConnectedSocket(handOver.descriptor)
            .whenComplete { result in
                tracked.withLockedValue { $0.adopting -= 1 }
                switch result {
                case .success(let channel):
                    if case .received(let bytes) = handOver.prelude {
                        channel.pipeline.syncOperations.fireChannelRead(NIOAny(bytes))
                    }
                case .failure(let error):
                    // The descriptor is closed: once SwiftNIO has wrapped it, a failure closes the
                    // channel and it; before, only `fcntl` can fail, on a descriptor that is not open.
                    logger.warning("an edge connection could not be handed over to the event loop",
                                   metadata: ["error": .string("\(error)")])
                }
            }
    }
    #endif

    private let tracked: NIOLockedValueBox<Tracked>
    private let logger: Logger
    private let taps: FrameTaps
    public let metrics: AgentMetrics

    private init(registry: InterceptRegistry, tunnel: Channel, edges: [Channel], direct: DirectEdgeLoop?, edgePorts: [Int], admin: Channel?,
                 group: MultiThreadedEventLoopGroup, tracked: NIOLockedValueBox<Tracked>, logger: Logger, metrics: AgentMetrics, taps: FrameTaps,
                 writeCounts: SocketWriteBatch.Counts?) {
        self.writeCounts = writeCounts
        self.direct = direct
        self.edgePorts = edgePorts
        self.tracked = tracked
        self.taps = taps
        self.logger = logger
        self.metrics = metrics
        self.registry = registry
        self.tunnel = tunnel
        self.edges = edges
        self.admin = admin
        self.group = group
    }

    public let admin: Channel?
    public var adminPort: Int? { admin?.localAddress?.port }

    /// What the batch of the callers' sockets (`SocketWriteBatch`: their answers leave in one system
    /// call per wake-up) has sent so far, and the system calls it took; nil where io_uring is not
    /// available or `SHUNT_BATCHED_WRITES` says no.
    public let writeCounts: SocketWriteBatch.Counts?

    public var tunnelPort: Int { tunnel.localAddress!.port! }
    public let edgePorts: [Int]
    /// The edge on its own loop (`EdgeConfiguration.io`), or nil: the edges are SwiftNIO's (`edges`).
    let direct: DirectEdgeLoop?

    /// Graceful shutdown (SIGTERM): stop accepting; let each edge connection finish the request in
    /// progress, then close it; send laptops GOAWAY and let their streams finish; whatever is still
    /// open at `deadline` is closed. Returns how many edge connections and sessions had to be cut.
    @discardableResult
    public func shutdown(deadline: TimeAmount = .seconds(10)) async -> (connections: Int, sessions: Int) {
        let end = NIODeadline.now() + deadline
        try? await tunnel.close()
        for edge in edges { try? await edge.close() }
        let directCount = direct?.openConnections ?? 0
        direct?.drain()
        // Connections being handed over arrive drained: a drain is sent to every edge channel again below.
        let clients = tracked.withLockedValue { Array($0.clients.values) }
        logger.info("shutting down: edge connections finish their request in progress", metadata: ["connections": "\(clients.count + directCount)"])
        for client in clients {
            client.eventLoop.execute { client.pipeline.fireUserInboundEventTriggered(EdgeDrain()) }
        }
        var drained = Set(clients.map { ObjectIdentifier($0) })
        while NIODeadline.now() < end {
            let (open, adopting) = tracked.withLockedValue { ($0.clients, $0.adopting) }
            if open.isEmpty && adopting == 0 && (direct?.openConnections ?? 0) == 0 { break }
            for (id, client) in open where !drained.contains(id) {
                drained.insert(id)
                client.eventLoop.execute { client.pipeline.fireUserInboundEventTriggered(EdgeDrain()) }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let cutDirect = direct?.openConnections ?? 0
        direct?.stop()
        let cutClients = tracked.withLockedValue { Array($0.clients.values) }
        for client in cutClients { try? await client.close() }
        // Taps would hold their sessions open until the deadline: they end first.
        let taps = self.taps
        try? await taps.eventLoop.submit { taps.endAll() }.get()
        let sessions = tracked.withLockedValue { Array($0.sessions.values) }
        for connection in sessions {
            let session = connection.session
            connection.channel.eventLoop.execute { session.goAway() }
        }
        while NIODeadline.now() < end, !tracked.withLockedValue({ $0.sessions.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let cutSessions = tracked.withLockedValue { Array($0.sessions.values) }
        for connection in cutSessions { try? await connection.channel.close() }
        try? await admin?.close()
        logger.info("shut down", metadata: ["cut_connections": "\(cutClients.count + cutDirect)", "cut_sessions": "\(cutSessions.count)"])
        try? await group.shutdownGracefully()
        return (cutClients.count + cutDirect, cutSessions.count)
    }

    public func stop() async throws {
        try? await tunnel.close()
        for edge in edges { try? await edge.close() }
        direct?.stop()
        try? await admin?.close()
        try await group.shutdownGracefully()
    }
}
