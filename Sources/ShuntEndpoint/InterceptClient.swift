import Foundation
import NIOCore
import NIOPosix
import ShuntMatch
import ShuntSession
import ShuntTLS

/// One verified session with an agent, and the control calls of spec §11 over it. Each call
/// returns the typed result, or throws the agent's `InterceptCalls.Failure` (INTERCEPT_CONFLICT,
/// NOT_OWNER, ...) or an `InterceptClientError` when the agent could not be asked.
public final class InterceptClient: Sendable {
    public let connection: ShuntConnection
    /// `HOST:PORT`, for messages.
    public let agent: String

    public var session: SessionHandler { connection.session }
    public var eventLoop: EventLoop { connection.channel.eventLoop }
    /// The identity the agent records as owner: our certificate's name.
    public let developer: String

    private init(connection: ShuntConnection, agent: String, developer: String) {
        self.connection = connection
        self.agent = agent
        self.developer = developer
    }

    /// The laptop's session: it serves HTTP streams kept alive (`LocalForwarder`, spec §10.2), and
    /// grants the agent `maxStreams` streams at once, so that up to half as many callers' connections
    /// can each keep one.
    public static var sessionConfiguration: SessionConfiguration {
        var configuration = SessionConfiguration(role: .client)
        configuration.settings.httpKeepAlive = 1
        configuration.settings.initialMaxStreams = maxStreams
        return configuration
    }

    /// Streams the agent may have open on the laptop's session at once (`INITIAL_MAX_STREAMS`): 256,
    /// so that with the default 256 KiB stream window all of them buffer at most the session's 64 MiB.
    public static let maxStreams: UInt32 = 256

    /// Connects (TCP, mutual TLS with ALPN shunt/1) and waits until both HELLOs are exchanged.
    /// Streams the agent opens are handed to `streams`.
    public static func connect(host: String, port: Int, endpoint: ShuntTLSEndpoint, group: EventLoopGroup,
                               connectTimeout: TimeAmount = .seconds(5), configuration: SessionConfiguration = sessionConfiguration,
                               streams: @escaping SessionHandler.StreamInitializer = { $0.close() }) async throws -> InterceptClient {
        let agent = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let loop = group.next()
        let connected = loop.makePromise(of: ShuntConnection.self)
        do {
            _ = try await ClientBootstrap(group: loop)
                .connectTimeout(connectTimeout)
                .channelInitializer { channel in
                    endpoint.configure(channel, host: host) { _ in
                        SessionHandler(configuration: configuration, inboundStreamInitializer: streams)
                    }.cascade(to: connected)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                .connect(host: host, port: port).get()
        } catch {
            connected.fail(error)
            throw InterceptClientError.unreachable(agent: agent, reason: InterceptClientError.describeConnectFailure(error))
        }
        let connection: ShuntConnection
        do {
            connection = try await connected.futureResult.get()
        } catch let refusal as HandshakeRefusal {
            throw InterceptClientError.handshake(agent: agent, refusal)
        } catch {
            throw InterceptClientError.sessionEnded(agent: agent, reason: "\(error)")
        }
        do {
            _ = try await loop.flatSubmit { connection.session.ready(on: loop) }.get()
        } catch {
            try? await connection.channel.close()
            throw InterceptClientError.sessionEnded(agent: agent, reason: "\(error)")
        }
        return InterceptClient(connection: connection, agent: agent, developer: endpoint.identity.name)
    }

    public func register(_ request: InterceptCalls.RegisterRequest) async throws -> InterceptCalls.Intercept {
        try await call(InterceptCalls.register, request, answer: InterceptCalls.Intercept.self)
    }

    public func remove(name: String) async throws {
        _ = try await call(InterceptCalls.remove, InterceptCalls.RemoveRequest(name: name), answer: InterceptCalls.Empty.self)
    }

    public func list() async throws -> [InterceptCalls.Intercept] {
        try await call(InterceptCalls.list, InterceptCalls.Empty(), answer: InterceptCalls.ListResult.self).intercepts
    }

    public func info() async throws -> InterceptCalls.AgentInfo {
        try await call(InterceptCalls.agentInfo, InterceptCalls.Empty(), answer: InterceptCalls.AgentInfo.self)
    }

    /// Completes when the session is over: nil for a clean end (GOAWAY NO_ERROR), else why.
    public func ended() -> EventLoopFuture<SessionError?> {
        let session = self.session
        let loop = eventLoop
        return loop.flatSubmit { session.ended(on: loop) }
    }

    /// Ends the session gracefully (GOAWAY) and closes the connection.
    public func close() async {
        let session = self.session
        let channel = connection.channel
        try? await eventLoop.submit {
            session.goAway()
            channel.close(promise: nil)
        }.get()
        try? await channel.closeFuture.get()
    }

    private func call<Request: Encodable, Answer: Codable & Sendable>(_ name: String, _ request: Request,
                                                                      answer: Answer.Type) async throws -> Answer {
        let body = try JSONEncoder().encode(request)
        let bytes: ByteBuffer
        do {
            bytes = try await ControlCall.perform(name, body: ByteBuffer(bytes: body), on: session, eventLoop: eventLoop).get()
        } catch let error as StreamOpenError {
            throw InterceptClientError.sessionEnded(agent: agent, reason: "\(error)")
        } catch {
            throw InterceptClientError.callFailed(call: name, agent: agent, reason: "\(error)")
        }
        let response: InterceptCalls.Response<Answer>
        do {
            response = try JSONDecoder().decode(InterceptCalls.Response<Answer>.self, from: Data(bytes.readableBytesView))
        } catch {
            throw InterceptClientError.badResponse(call: name, agent: agent, reason: "\(error)")
        }
        return try response.get()
    }
}
