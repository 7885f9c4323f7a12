import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntEndpoint
import ShuntMatch
import ShuntSession
import ShuntTLS
import ShuntTestSupport
import ShuntWire

/// A fresh certificate folder (CA, agent for 127.0.0.1, client "alice") in a temporary directory.
struct TemporaryCertificates {
    let folder: CertificateFolder

    init(developer: String = "alice") throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-endpoint-\(UUID().uuidString)")
        folder = CertificateFolder(url)
        try folder.initialize(developer: developer, hosts: ["localhost", "127.0.0.1"])
    }

    func remove() { try? FileManager.default.removeItem(at: folder.url) }
}

/// Just enough of an agent for the laptop side: a TLS listener on 127.0.0.1 that answers control
/// calls (recording what it was asked) and opens HTTP, TCP or other streams toward the laptop.
final class FakeAgent: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let certificates: TemporaryCertificates
    let listener: Channel
    let registrations: AsyncStream<InterceptCalls.RegisterRequest>
    let connections: AsyncStream<ShuntConnection>
    /// When set, `intercept.register` fails with it.
    let registerFailure = NIOLockedValueBox<InterceptCalls.Failure?>(nil)
    let removals = NIOLockedValueBox<[String]>([])
    /// When set, `intercept.remove` fails with it.
    let removeFailure = NIOLockedValueBox<InterceptCalls.Failure?>(nil)
    /// What `intercept.list` answers.
    let listed = NIOLockedValueBox<[InterceptCalls.Intercept]>([])
    /// The application's environment `agent.info` reports.
    let appEnvironment = NIOLockedValueBox(["DATABASE_URL": "postgres://db/orders", "GREETING": "hello world"])
    /// When false, `intercept.remove` is never answered (until `stop`).
    let answersRemovals = NIOLockedValueBox(true)
    private let unanswered = NIOLockedValueBox<[EventLoopPromise<ByteBuffer>]>([])

    init(group: MultiThreadedEventLoopGroup) async throws {
        self.group = group
        certificates = try TemporaryCertificates()
        let endpoint = try ShuntTLSEndpoint.agent(folder: certificates.folder)
        let (registrations, registered) = AsyncStream.makeStream(of: InterceptCalls.RegisterRequest.self)
        let (connections, connected) = AsyncStream.makeStream(of: ShuntConnection.self)
        self.registrations = registrations
        self.connections = connections
        let calls = Calls(registerFailure: registerFailure, removeFailure: removeFailure, removals: removals, listed: listed,
                          answersRemovals: answersRemovals, unanswered: unanswered, registered: registered,
                          appEnvironment: appEnvironment)
        listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                endpoint.configure(channel) { peer in
                    SessionHandler(configuration: SessionConfiguration(role: .server), inboundStreamInitializer: { stream in
                        ControlCall.serve(stream) { call, body in
                            if call == InterceptCalls.remove && !calls.answersRemovals.withLockedValue({ $0 }) {
                                let promise = stream.eventLoop.makePromise(of: ByteBuffer.self)
                                calls.unanswered.withLockedValue { $0.append(promise) }
                                return promise.futureResult
                            }
                            return stream.eventLoop.makeSucceededFuture(Self.answer(call, body, owner: peer.name, calls: calls))
                        }
                    })
                }.whenSuccess { connected.yield($0) }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { listener.localAddress!.port! }

    func developerEndpoint() throws -> ShuntTLSEndpoint {
        try ShuntTLSEndpoint.developer(folder: certificates.folder)
    }

    func stop() async {
        for promise in unanswered.withLockedValue({ $0 }) { promise.fail(ChannelError.eof) }
        try? await listener.close()
        certificates.remove()
    }

    /// The fake's state, as the session handlers see it.
    private struct Calls: Sendable {
        let registerFailure: NIOLockedValueBox<InterceptCalls.Failure?>
        let removeFailure: NIOLockedValueBox<InterceptCalls.Failure?>
        let removals: NIOLockedValueBox<[String]>
        let listed: NIOLockedValueBox<[InterceptCalls.Intercept]>
        let answersRemovals: NIOLockedValueBox<Bool>
        let unanswered: NIOLockedValueBox<[EventLoopPromise<ByteBuffer>]>
        let registered: AsyncStream<InterceptCalls.RegisterRequest>.Continuation
        let appEnvironment: NIOLockedValueBox<[String: String]>
    }

    private static func answer(_ call: String, _ body: ByteBuffer, owner: String, calls: Calls) -> ByteBuffer {
        let data = Data(body.readableBytesView)
        let encoder = JSONEncoder()
        let response: Data?
        switch call {
        case InterceptCalls.register:
            guard let request = try? JSONDecoder().decode(InterceptCalls.RegisterRequest.self, from: data) else {
                response = try? encoder.encode(InterceptCalls.Response<InterceptCalls.Empty>(failure: .init(.invalidRequest, "bad register")))
                break
            }
            calls.registered.yield(request)
            if let failure = calls.registerFailure.withLockedValue({ $0 }) {
                response = try? encoder.encode(InterceptCalls.Response<InterceptCalls.Intercept>(failure: failure))
            } else {
                let header = request.rule.generatedHeader.map { InterceptCalls.Header(name: $0.name, value: $0.value) }
                response = try? encoder.encode(InterceptCalls.Response(InterceptCalls.Intercept(
                    name: request.name, owner: owner, port: request.port ?? 8080, rule: request.rule,
                    since: "2025-01-01T00:00:00Z", header: header)))
            }
        case InterceptCalls.remove:
            let request = try? JSONDecoder().decode(InterceptCalls.RemoveRequest.self, from: data)
            if let failure = calls.removeFailure.withLockedValue({ $0 }) {
                response = try? encoder.encode(InterceptCalls.Response<InterceptCalls.Empty>(failure: failure))
                break
            }
            calls.removals.withLockedValue { $0.append(request?.name ?? "?") }
            response = try? encoder.encode(InterceptCalls.Response(InterceptCalls.Empty()))
        case InterceptCalls.list:
            response = try? encoder.encode(InterceptCalls.Response(InterceptCalls.ListResult(intercepts: calls.listed.withLockedValue { $0 })))
        case InterceptCalls.agentInfo:
            response = try? encoder.encode(InterceptCalls.Response(InterceptCalls.AgentInfo(
                service: "orders", ports: [8080], env: calls.appEnvironment.withLockedValue { $0 })))
        default:
            response = try? encoder.encode(InterceptCalls.Response<InterceptCalls.Empty>(failure: .init(.unknownCall, call)))
        }
        return ByteBuffer(bytes: response ?? Data())
    }

    /// Opens a stream of `kind` toward the laptop, sends `request`, sends FIN once `responseLength`
    /// octets came back (as the agent does after a complete response), and returns what came back
    /// up to the laptop's FIN. A reset is thrown as `StreamResetError`.
    static func exchange(on connection: ShuntConnection, kind: StreamKind = .http, request: [UInt8], responseLength: Int,
                         requestID: String = "r1") async throws -> [UInt8] {
        let loop = connection.channel.eventLoop
        let done = loop.makePromise(of: [UInt8].self)
        let metadata = StreamMetadata([(key: "intercept", value: "orders-alice"), (key: "client", value: "10.1.2.3:40000"),
                                       (key: "port", value: "8080"), (key: "request-id", value: requestID)])
        let session = connection.session
        // The request goes out in the loop turn that opens the stream, as the agent's edge sends it:
        // the laptop has it when the stream's initializer runs.
        _ = try await loop.flatSubmit {
            session.openStream(kind: kind, metadata: metadata) { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(ExchangeCollector(expected: responseLength, done: done))
                }
            }.map { stream in
                stream.writeAndFlush(ByteBuffer(bytes: request), promise: nil)
                return stream
            }
        }.get()
        return try await done.futureResult.awaited("an answer of \(responseLength) octets", within: .seconds(10))
    }
}

/// The agent's end of one exchange: collects the response, FIN after `expected` octets.
final class ExchangeCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let expected: Int
    private let done: EventLoopPromise<[UInt8]>
    private var bytes: [UInt8] = []
    private var finished = false

    init(expected: Int, done: EventLoopPromise<[UInt8]>) {
        self.expected = expected
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += Array(unwrapInboundIn(data).readableBytesView)
        if bytes.count >= expected && !finished {
            finished = true
            context.close(mode: .output, promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { done.succeed(bytes) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { done.fail(error) }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}

/// The developer's service: answers each request head (up to the empty line) with `response`, keeps
/// the connection open (keep-alive) and closes it at the caller's EOF.
final class LocalHTTPServer: @unchecked Sendable {
    let listener: Channel
    let received = NIOLockedValueBox<[UInt8]>([])

    init(group: EventLoopGroup, response: [UInt8], host: String = "127.0.0.1", port: Int = 0) async throws {
        let received = self.received
        listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Responder(response: response, received: received))
                }
            }
            .bind(host: host, port: port).get()
    }

    var port: Int { listener.localAddress!.port! }

    func stop() async { try? await listener.close() }

    final class Responder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let response: [UInt8]
        let received: NIOLockedValueBox<[UInt8]>
        var head: [UInt8] = []
        var answered = false

        init(response: [UInt8], received: NIOLockedValueBox<[UInt8]>) {
            self.response = response
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = Array(unwrapInboundIn(data).readableBytesView)
            received.withLockedValue { $0 += bytes }
            head += bytes
            if !answered, head.count >= 4, head.indices.dropLast(3).contains(where: { head[$0..<$0 + 4].elementsEqual("\r\n\r\n".utf8) }) {
                answered = true
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: response)), promise: nil)
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, case .inputClosed = event { context.close(promise: nil) }
        }
    }
}

/// Collects the endpoint's events; `next` returns the first one that matches, waiting for it if needed.
final class EventRecorder: Sendable {
    private let box = NIOLockedValueBox<(events: [EndpointEventBox], waiters: [(matches: @Sendable (EndpointEvent) -> Bool, resume: CheckedContinuation<EndpointEvent, Never>)])>(([], []))

    var sink: @Sendable (EndpointEvent) -> Void { { [self] in record($0) } }

    var all: [EndpointEvent] { box.withLockedValue { $0.events.map(\.event) } }

    private func record(_ event: EndpointEvent) {
        let waiter = box.withLockedValue { state -> CheckedContinuation<EndpointEvent, Never>? in
            state.events.append(EndpointEventBox(event: event))
            guard let index = state.waiters.firstIndex(where: { $0.matches(event) }) else { return nil }
            return state.waiters.remove(at: index).resume
        }
        waiter?.resume(returning: event)
    }

    func next(where matches: @escaping @Sendable (EndpointEvent) -> Bool) async -> EndpointEvent {
        await withCheckedContinuation { continuation in
            let found = box.withLockedValue { state -> EndpointEvent? in
                if let event = state.events.map(\.event).first(where: matches) { return event }
                state.waiters.append((matches, continuation))
                return nil
            }
            if let found { continuation.resume(returning: found) }
        }
    }
}

struct EndpointEventBox: Sendable {
    var event: EndpointEvent
}
