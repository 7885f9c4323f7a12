import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ShuntAgent
import ShuntHTTP1
import ShuntMatch
import ShuntSession
import ShuntTLS
import ShuntTestSupport
import ShuntWire

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with `NAME METHOD PATH` (and the
/// request body's length), keep-alive: a stand-in for the app and for the developer's local build.
final class NamedHTTPServer: Sendable {
    let channel: Channel
    var port: Int { channel.localAddress!.port! }

    init(name: String, group: EventLoopGroup) async throws {
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(name: name))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async { try? await channel.close() }

    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let name: String
        var head: HTTPRequestHead?
        var bodyLength = 0
        init(name: String) { self.name = name }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                bodyLength = 0
            case .body(let body):
                bodyLength += body.readableBytes
            case .end:
                guard let head else { return }
                let text = "\(name) \(head.method) \(head.uri) \(bodyLength)"
                var headers = HTTPHeaders([("content-length", "\(text.utf8.count)")])
                if let forwarded = head.headers.first(name: "x-forwarded-for") { headers.add(name: "x-seen-forwarded-for", value: forwarded) }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}

/// A keep-alive client connection that sends one request at a time and reads its whole response.
final class KeepAliveClient: @unchecked Sendable {
    let channel: Channel
    private let collector: ResponseCollector

    init(port: Int, group: EventLoopGroup) async throws {
        channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
        let channel = self.channel
        collector = try await channel.eventLoop.submit {
            let collector = ResponseCollector()
            try channel.pipeline.syncOperations.addHandler(collector)
            return collector
        }.get()
    }

    struct Response {
        let status: Int
        let headers: [(String, String)]
        let body: String
        /// When the request was written and when its response had arrived whole, both read on the
        /// channel's event loop: a test task resumed late does not stretch the time between them.
        let sentAt: NIODeadline
        let receivedAt: NIODeadline
        var elapsed: TimeAmount { receivedAt - sentAt }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }
    }

    /// Sends `request` (raw) and waits for the response to it.
    func send(_ request: String, method: ShuntHTTP1.HTTPMethod = .get) async throws -> Response {
        try await start(request, method: method).awaited("the answer", within: .minutes(2))
    }

    /// Sends the start of a request (raw); the future completes with its response. More of the
    /// request (a body) can be written to `channel` after this returns.
    func start(_ request: String, method: ShuntHTTP1.HTTPMethod = .get) async throws -> EventLoopFuture<Response> {
        let promise = channel.eventLoop.makePromise(of: Response.self)
        let collector = self.collector
        let channel = self.channel
        let written = try await channel.eventLoop.submit {
            collector.expect(method: method, promise: promise)
            return channel.writeAndFlush(ByteBuffer(string: request))
        }.get()
        try await written.get()
        return promise.futureResult
    }

    func close() async { try? await channel.close() }

    /// Used on its channel's event loop only.
    final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        private var parser = ResponseHeadParser()
        private var framer: BodyFramer?
        private var head: ResponseHead?
        private var body = ByteBuffer()
        private var method = ShuntHTTP1.HTTPMethod.get
        private var promise: EventLoopPromise<Response>?
        private var buffer = ByteBuffer()
        private var sentAt = NIODeadline.now()

        func expect(method: ShuntHTTP1.HTTPMethod, promise: EventLoopPromise<Response>) {
            sentAt = .now()
            self.method = method
            self.promise = promise
            parser = ResponseHeadParser()
            framer = nil
            head = nil
            body.clear()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            buffer.writeBuffer(&bytes)
            do {
                while promise != nil {
                    if var framer {
                        guard let event = try framer.next(&buffer) else { self.framer = framer; return }
                        self.framer = framer
                        if case .body(var part) = event { body.writeBuffer(&part) }
                        if case .end = event { complete() }
                        continue
                    }
                    guard let head = try parser.parse(&buffer, requestMethod: method) else { return }
                    if case .body(let framing) = head.framing {
                        self.head = head
                        framer = BodyFramer(framing: framing)
                    } else {
                        parser = ResponseHeadParser()
                    }
                }
            } catch {
                promise?.fail(error)
                promise = nil
            }
        }

        private func complete() {
            guard let head, let promise else { return }
            let headers = head.headers.map { ($0.nameString, $0.valueString) }
            promise.succeed(Response(status: head.status, headers: headers, body: String(buffer: body), sentAt: sentAt, receivedAt: .now()))
            self.promise = nil
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise?.fail(ChannelError.eof)
            promise = nil
        }
    }
}

/// A developer's laptop in a test: a session to the agent whose HTTP and TCP streams are glued to
/// 127.0.0.1:`localPort` (or reset with CONNECT_ERROR when nothing listens there).
struct TestLaptop: @unchecked Sendable {
    let connection: ShuntConnection
    let group: EventLoopGroup

    /// `initializer` serves the streams instead, when given.
    static func connect(agentPort: Int, endpoint: ShuntTLSEndpoint, localPort: Int, group: EventLoopGroup,
                        initializer: SessionHandler.StreamInitializer? = nil) async throws -> TestLaptop {
        let result = group.next().makePromise(of: ShuntConnection.self)
        let forward: SessionHandler.StreamInitializer = initializer ?? { stream in
            ClientBootstrap(group: stream.eventLoop)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(host: "127.0.0.1", port: localPort)
                .flatMapThrowing { socket in
                    let (streamSide, socketSide) = GlueHandler.matchedPair()
                    try stream.pipeline.syncOperations.addHandler(streamSide)
                    try socket.pipeline.syncOperations.addHandler(socketSide)
                }
                .flatMapErrorThrowing { error in
                    stream.reset(code: .connectError, reason: "nothing listens on 127.0.0.1:\(localPort) on the test laptop")
                }
        }
        _ = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                endpoint.configure(channel, host: "127.0.0.1") { _ in
                    SessionHandler(configuration: SessionConfiguration(role: .client), inboundStreamInitializer: forward)
                }.cascade(to: result)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .connect(host: "127.0.0.1", port: agentPort).get()
        let connection = try await result.futureResult.awaited()
        let loop = connection.channel.eventLoop
        _ = try await loop.flatSubmit { connection.session.ready(on: loop) }.awaited()
        return TestLaptop(connection: connection, group: group)
    }

    func call<Result: Codable & Sendable>(_ name: String, _ request: some Encodable, as: Result.Type) async throws -> InterceptCalls.Response<Result> {
        let body = ByteBuffer(bytes: try JSONEncoder().encode(request))
        let loop = connection.channel.eventLoop
        let answer = try await ControlCall.perform(name, body: body, on: connection.session, eventLoop: loop).awaited()
        return try JSONDecoder().decode(InterceptCalls.Response<Result>.self, from: Data(answer.readableBytesView))
    }

    func register(_ name: String, rule: RuleSpec) async throws -> InterceptCalls.Intercept {
        try await call(InterceptCalls.register, InterceptCalls.RegisterRequest(name: name, rule: rule), as: InterceptCalls.Intercept.self).get()
    }

    func close() async { try? await connection.channel.close() }
}

/// Certificates for a CA, the agent and developers, in a temporary folder.
struct TestCertificates {
    let root: URL
    let agent: CertificateFolder
    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-agent-test-\(UUID().uuidString)")
        agent = CertificateFolder(root)
        _ = try agent.initialize(developer: "alice", hosts: ["localhost", "127.0.0.1"])
    }

    /// The laptop side of developer `name`, with a client certificate from the same CA.
    func developer(_ name: String) throws -> ShuntTLSEndpoint {
        let authority = try agent.loadAuthority()
        let issued = try authority.issueClient(developer: name)
        return try ShuntTLSEndpoint(side: .developer, certificate: issued.certificate, key: issued.privateKey,
                                    authority: try agent.loadCertificate(.ca))
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

extension AgentServer.Configuration {
    /// One edge port in front of `app`, edge and tunnel on 127.0.0.1 with ports the system picks.
    static func loopback(app: SocketAddress, edge: EdgeConfiguration = EdgeConfiguration()) -> AgentServer.Configuration {
        var configuration = AgentServer.Configuration(appAddresses: [app])
        configuration.tunnelHost = "127.0.0.1"
        configuration.tunnelPort = 0
        configuration.edgeHost = "127.0.0.1"
        configuration.edgePorts = [0]
        configuration.edge = edge
        return configuration
    }
}
