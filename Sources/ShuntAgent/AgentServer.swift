import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ShuntMatch
import ShuntSession
import ShuntTLS

/// The agent: a tunnel listener where laptops connect (mutual TLS, Shunt sessions, control calls),
/// and one edge listener per service port where the service's traffic arrives and is routed per
/// request to the app or to a laptop. Everything runs on one event loop.
public final class AgentServer: Sendable {
    public struct Configuration: Sendable {
        /// Where laptops connect.
        public var tunnelHost = "0.0.0.0"
        public var tunnelPort = 7443
        /// Service ports: the edge listens on each, on `edgeHost`.
        public var edgeHost = "0.0.0.0"
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

        public init(appAddresses: [SocketAddress]) {
            self.appAddresses = appAddresses
        }
    }

    public let registry: InterceptRegistry
    public let tunnel: Channel
    public let edges: [Channel]
    private let group: MultiThreadedEventLoopGroup

    /// Starts listening; ports of 0 are chosen by the system (see `tunnelAddress`, `edgeAddresses`).
    public static func start(_ configuration: Configuration, certificates: CertificateFolder,
                             log: @escaping @Sendable (String) -> Void) async throws -> AgentServer {
        precondition(configuration.edgePorts.count == configuration.appAddresses.count, "one app address per edge port")
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
        for (index, port) in configuration.edgePorts.enumerated() {
            let app = configuration.appAddresses[index]
            let poolBox = try await loop.submit {
                NIOLoopBound(AppConnectionPool(address: app, eventLoop: loop, maxIdle: configuration.edge.maxIdleAppConnections), eventLoop: loop)
            }.get()
            let portBox = NIOLockedValueBox(port)
            let edge = try await ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    let id = ObjectIdentifier(channel)
                    tracked.withLockedValue { $0.clients[id] = channel }
                    channel.closeFuture.whenComplete { _ in tracked.withLockedValue { _ = $0.clients.removeValue(forKey: id) } }
                    return channel.eventLoop.makeCompletedFuture {
                        let shared = EdgeHandler.Shared(registry: registryBox.withLockedValue { $0! }, port: portBox.withLockedValue { $0 },
                                                        pool: poolBox.value, configuration: configuration.edge,
                                                        nextRequestID: nextRequestID, log: log)
                        try channel.pipeline.syncOperations.addHandler(EdgeHandler(shared: shared, client: channel.remoteAddress))
                    }
                }
                .bind(host: configuration.edgeHost, port: port).get()
            let bound = edge.localAddress?.port ?? port
            portBox.withLockedValue { $0 = bound }
            boundPorts.append(bound)
            edges.append(edge)
        }
        let registry = InterceptRegistry(ports: boundPorts)
        registryBox.withLockedValue { $0 = registry }
        let control = AgentControl(registry: registry,
                                   info: InterceptCalls.AgentInfo(service: configuration.service, ports: boundPorts, env: configuration.environment),
                                   log: log)
        var serverSession = configuration.session
        serverSession.role = .server
        let sessionConfiguration = serverSession
        let tunnel = try await ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let connection = endpoint.configure(channel) { peer in
                    let caller = peer.name
                    let handlerBox = NIOLockedValueBox<SessionHandler?>(nil)
                    let handler = SessionHandler(configuration: sessionConfiguration) { stream in
                        guard stream.kind == .control, let session = handlerBox.withLockedValue({ $0 }) else {
                            stream.reset(code: .unsupportedKind, reason: "the agent serves CONTROL streams only")
                            return stream.eventLoop.makeSucceededVoidFuture()
                        }
                        return ControlCall.serve(stream) { call, body in
                            stream.eventLoop.makeSucceededFuture(control.answer(call: call, body: body, caller: caller, session: session))
                        }
                    }
                    handlerBox.withLockedValue { $0 = handler }
                    return handler
                }
                connection.whenSuccess { connection in
                    log("session from \(connection.peer.name)")
                    let session = connection.session
                    let id = ObjectIdentifier(session)
                    tracked.withLockedValue { $0.sessions[id] = connection }
                    session.ended(on: channel.eventLoop).whenComplete { result in
                        tracked.withLockedValue { _ = $0.sessions.removeValue(forKey: id) }
                        let removed = registry.removeAll(session: session)
                        let why: String
                        switch result {
                        case .success(nil): why = "ended"
                        case .success(let error?): why = "ended: \(error)"
                        case .failure(let error): why = "failed: \(error)"
                        }
                        log("session from \(connection.peer.name) \(why)" + (removed.isEmpty ? "" : "; removed intercepts \(removed.joined(separator: ", ")), their traffic goes to the app"))
                    }
                }
                connection.whenFailure { error in log("refused a tunnel connection: \(error)") }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: configuration.tunnelHost, port: configuration.tunnelPort).get()
        var admin: Channel?
        if let adminPort = configuration.adminPort {
            let listening = [tunnel] + edges
            admin = try await ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(AdminHandler(ready: {
                            listening.allSatisfy(\.isActive) ? nil : "a listener of the agent is closed"
                        }))
                    }
                }
                .bind(host: configuration.adminHost, port: adminPort).get()
        }
        return AgentServer(registry: registry, tunnel: tunnel, edges: edges, admin: admin, group: group, tracked: tracked, log: log)
    }

    /// What is connected: edge clients and laptop sessions, for a graceful shutdown.
    struct Tracked {
        var clients: [ObjectIdentifier: Channel] = [:]
        var sessions: [ObjectIdentifier: ShuntConnection] = [:]
    }

    private let tracked: NIOLockedValueBox<Tracked>
    private let log: @Sendable (String) -> Void

    private init(registry: InterceptRegistry, tunnel: Channel, edges: [Channel], admin: Channel?, group: MultiThreadedEventLoopGroup,
                 tracked: NIOLockedValueBox<Tracked>, log: @escaping @Sendable (String) -> Void) {
        self.tracked = tracked
        self.log = log
        self.registry = registry
        self.tunnel = tunnel
        self.edges = edges
        self.admin = admin
        self.group = group
    }

    public let admin: Channel?
    public var adminPort: Int? { admin?.localAddress?.port }

    public var tunnelPort: Int { tunnel.localAddress!.port! }
    public var edgePorts: [Int] { edges.map { $0.localAddress!.port! } }

    /// Graceful shutdown (SIGTERM): stop accepting; let each edge connection finish the request in
    /// progress, then close it; send laptops GOAWAY and let their streams finish; whatever is still
    /// open at `deadline` is closed. Returns how many edge connections and sessions had to be cut.
    @discardableResult
    public func shutdown(deadline: TimeAmount = .seconds(10)) async -> (connections: Int, sessions: Int) {
        let end = NIODeadline.now() + deadline
        try? await tunnel.close()
        for edge in edges { try? await edge.close() }
        let clients = tracked.withLockedValue { Array($0.clients.values) }
        log("shutting down: \(clients.count) edge connection(s) finish their request in progress")
        for client in clients {
            client.eventLoop.execute { client.pipeline.fireUserInboundEventTriggered(EdgeDrain()) }
        }
        while NIODeadline.now() < end, !tracked.withLockedValue({ $0.clients.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let cutClients = tracked.withLockedValue { Array($0.clients.values) }
        for client in cutClients { try? await client.close() }
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
        log("shut down" + (cutClients.isEmpty && cutSessions.isEmpty ? "" : "; cut at the deadline: \(cutClients.count) connection(s), \(cutSessions.count) session(s)"))
        try? await group.shutdownGracefully()
        return (cutClients.count, cutSessions.count)
    }

    public func stop() async throws {
        try? await tunnel.close()
        for edge in edges { try? await edge.close() }
        try? await admin?.close()
        try await group.shutdownGracefully()
    }
}
