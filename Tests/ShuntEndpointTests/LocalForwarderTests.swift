import Foundation
import NIOCore
import NIOPosix
import ShuntEndpoint
import ShuntSession
import ShuntTLS
import ShuntTestSupport
import ShuntWire
import Testing

/// Streams the agent opens reach 127.0.0.1:LOCAL unchanged, and are logged; when nothing listens
/// there the agent gets CONNECT_ERROR naming the address, and the developer one warning.
@Suite(.timeLimit(.minutes(1))) struct LocalForwarderTests {
    @Test func anHTTPStreamReachesTheLocalServiceAndTheResponseComesBackByteExact() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let response = Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello".utf8)
        let local = try await LocalHTTPServer(group: group, response: response)
        let events = EventRecorder()
        let forwarder = LocalForwarder(port: local.port, developer: "alice", events: events.sink)
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(),
                                                       group: group, streams: forwarder.streamInitializer)
        var connections = agent.connections.makeAsyncIterator()
        let connection = try #require(await connections.next())
        let request = Array("POST /api/orders?token=secret HTTP/1.1\r\nHost: orders\r\nExpect: 100-continue\r\n\r\n".utf8)

        let answer = try await FakeAgent.exchange(on: connection, request: request, responseLength: response.count)

        #expect(answer == response)
        #expect(local.received.withLockedValue { $0 } == request)
        let logged = await events.next { if case .request = $0 { true } else { false } }
        guard case .request(let line) = logged else { return }
        #expect(line.method == "POST")
        #expect(line.path == "/api/orders")
        #expect(line.status == 201)
        #expect(line.bytesIn == request.count)
        #expect(line.bytesOut == response.count)
        #expect(line.requestID == "r1")
        #expect(line.intercept == "orders-alice")

        await client.close()
        await local.stop()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func nothingListeningResetsEachStreamWithConnectErrorAndWarnsOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let closed = try ReservedPort()
        let port = closed.port
        let events = EventRecorder()
        let forwarder = LocalForwarder(port: port, developer: "alice", events: events.sink)
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(),
                                                       group: group, streams: forwarder.streamInitializer)
        var connections = agent.connections.makeAsyncIterator()
        let connection = try #require(await connections.next())

        for id in 1...3 {
            await #expect {
                _ = try await FakeAgent.exchange(on: connection, request: Array("GET /orders/\(id)?k=v HTTP/1.1\r\n\r\n".utf8), responseLength: 1,
                                                 requestID: "r\(id)")
            } throws: { error in
                guard let reset = error as? StreamResetError else { return false }
                return reset.code == .connectError && reset.reason == "nothing listens on 127.0.0.1:\(port) on alice's laptop"
            }
        }

        let warnings = events.all.filter { if case .localUnreachable = $0 { true } else { false } }
        #expect(warnings.count == 1)
        // Each request has its line, saying it was not served: the warning is said once.
        let lines = events.all.compactMap { event -> RequestLogLine? in if case .request(let line) = event { line } else { nil } }
        #expect(lines.map(\.requestID) == ["r1", "r2", "r3"])
        #expect(lines.map(\.path) == ["/orders/1", "/orders/2", "/orders/3"])
        for line in lines {
            #expect(line.method == "GET")
            #expect(line.status == nil)
            #expect(line.failure == "local service unreachable")
            #expect(line.bytesIn == "GET /orders/1?k=v HTTP/1.1\r\n\r\n".utf8.count)
            #expect(line.bytesOut == 0)
            #expect(line.text().contains("  GET \(line.path!)  - not served: local service unreachable  "), "\(line.text())")
            #expect(line.json.contains(#""failure":"local service unreachable""#), "\(line.json)")
        }
        withExtendedLifetime(closed) {}
        await client.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    /// The probe `shunt intercept` makes as it starts warns when nothing listens, and that warning is
    /// the episode's one: the streams that fail after it do not repeat it. Against a listening
    /// service it says nothing, and ends a warned episode.
    @Test func theStartProbeWarnsOnceAndOnlyWhenNothingListens() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let closed = try ReservedPort()
        let events = EventRecorder()
        let forwarder = LocalForwarder(port: closed.port, developer: "alice", events: events.sink)
        try await forwarder.probe(on: group.next()).get()
        let warnings = { events.all.compactMap { event -> String? in if case .localUnreachable(let reason) = event { reason } else { nil } } }
        #expect(warnings() == ["nothing listens on 127.0.0.1:\(closed.port) on alice's laptop"])

        let agent = try await FakeAgent(group: group)
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(),
                                                       group: group, streams: forwarder.streamInitializer)
        var connections = agent.connections.makeAsyncIterator()
        let connection = try #require(await connections.next())
        await #expect(throws: StreamResetError.self) {
            _ = try await FakeAgent.exchange(on: connection, request: Array("GET / HTTP/1.1\r\n\r\n".utf8), responseLength: 1)
        }
        #expect(warnings().count == 1, "the failed stream does not warn again")
        withExtendedLifetime(closed) {}

        let local = try await LocalHTTPServer(group: group, response: Array("HTTP/1.1 204 No Content\r\n\r\n".utf8))
        let listening = LocalForwarder(port: local.port, developer: "alice", events: events.sink)
        try await listening.probe(on: group.next()).get()
        #expect(warnings().count == 1, "a listening service is not warned about")
        #expect(!events.all.contains { if case .localReachable = $0 { true } else { false } }, "nor said to answer again")

        await client.close()
        await local.stop()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    /// An intercept on a service with several replicas holds a forwarder per replica's agent, and they
    /// share one `LocalService`: the probe at start warns for all of them, a stream that then fails
    /// through any replica does not warn again, and the service answering through one of them ends
    /// the episode for all.
    @Test func replicasShareOneWarningPerEpisode() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var closed: ReservedPort? = try ReservedPort()
        let port = try #require(closed).port
        let said = EventRecorder()
        let service = LocalService(port: port, developer: "alice", events: said.sink)
        let replicas = [EventRecorder(), EventRecorder()]
        let forwarders = replicas.map { LocalForwarder(port: port, developer: "alice", service: service, events: $0.sink) }
        try await forwarders[0].probe(on: group.next()).get()
        let warnings = { said.all.compactMap { event -> String? in if case .localUnreachable(let reason) = event { reason } else { nil } } }
        #expect(warnings() == ["nothing listens on 127.0.0.1:\(port) on alice's laptop"])

        var agents: [FakeAgent] = []
        var clients: [InterceptClient] = []
        for forwarder in forwarders {
            let agent = try await FakeAgent(group: group)
            clients.append(try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(),
                                                             group: group, streams: forwarder.streamInitializer))
            var connections = agent.connections.makeAsyncIterator()
            let connection = try #require(await connections.next())
            await #expect(throws: StreamResetError.self) {
                _ = try await FakeAgent.exchange(on: connection, request: Array("GET /r HTTP/1.1\r\n\r\n".utf8), responseLength: 1)
            }
            agents.append(agent)
        }
        #expect(warnings().count == 1, "neither replica's failed stream warns again")
        for replica in replicas {
            // Each replica's request still has its line; the warnings are the service's.
            let lines = replica.all.compactMap { event -> RequestLogLine? in if case .request(let line) = event { line } else { nil } }
            #expect(lines.map(\.failure) == ["local service unreachable"])
            #expect(!replica.all.contains { if case .localUnreachable = $0 { true } else { false } })
        }
        closed = nil

        // The service starts: the second replica's probe finds it, and the episode ends for both.
        let local = try await LocalHTTPServer(group: group, response: [], port: port)
        try await forwarders[1].probe(on: group.next()).get()
        #expect(said.all.filter { if case .localReachable = $0 { true } else { false } }.count == 1)
        await local.stop()
        try await forwarders[0].probe(on: group.next()).get()
        #expect(warnings().count == 2, "a new episode is said again, once")

        for client in clients { await client.close() }
        for agent in agents { await agent.stop() }
        try await group.shutdownGracefully()
    }

    /// A service that listens on ::1 alone (one started on "localhost" by Node.js 17 and later) is
    /// reached there when 127.0.0.1 refuses, by the streams and by the probe at start; the developer
    /// is told once per forwarder where requests go, and is not told the service is unreachable.
    @Test(.enabled(if: ReservedPort.hasIPv6Loopback)) func aServiceListeningOnIPv6AloneIsReachedThere() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Not kept alive: the second stream dials again, to the address the first one found.
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nv6".utf8)
        // The server on [::1]:P, and 127.0.0.1:P held where nothing listens.
        var found: (LocalHTTPServer, ReservedPort)?
        for _ in 0..<10 where found == nil {
            let server = try await LocalHTTPServer(group: group, response: response, host: "::1")
            if let reserved = try? ReservedPort(port: server.port) { found = (server, reserved) } else { await server.stop() }
        }
        let (local, v4) = try #require(found)
        let port = local.port
        let moves = { (events: EventRecorder) in
            events.all.compactMap { event -> String? in if case .localMoved(let from, let to) = event { "\(from) -> \(to)" } else { nil } }
        }
        let unreachable = { (events: EventRecorder) in
            events.all.filter { if case .localUnreachable = $0 { true } else { false } }.count
        }

        let events = EventRecorder()
        let forwarder = LocalForwarder(port: port, developer: "alice", events: events.sink)
        #expect(forwarder.address == "127.0.0.1:\(port)")
        let agent = try await FakeAgent(group: group)
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(),
                                                       group: group, streams: forwarder.streamInitializer)
        var connections = agent.connections.makeAsyncIterator()
        let connection = try #require(await connections.next())
        for id in 1...2 {
            let answer = try await FakeAgent.exchange(on: connection, request: Array("GET /v6 HTTP/1.1\r\nHost: o\r\n\r\n".utf8),
                                                      responseLength: response.count, requestID: "r\(id)")
            #expect(answer == response)
        }
        #expect(moves(events) == ["127.0.0.1:\(port) -> [::1]:\(port)"])
        #expect(unreachable(events) == 0)
        #expect(forwarder.address == "[::1]:\(port)")
        #expect(EndpointPrinter(format: .text, service: "orders", local: "127.0.0.1:\(port)")
            .render(.localMoved(from: "127.0.0.1:\(port)", to: "[::1]:\(port)")).text
            == "nothing listens on 127.0.0.1:\(port) but [::1]:\(port) answers: requests go there")

        let probed = EventRecorder()
        try await LocalForwarder(port: port, developer: "alice", events: probed.sink).probe(on: group.next()).get()
        #expect(moves(probed) == ["127.0.0.1:\(port) -> [::1]:\(port)"])
        #expect(unreachable(probed) == 0)

        withExtendedLifetime(v4) {}
        await client.close()
        await local.stop()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func streamsOfOtherKindsAreResetAsUnsupported() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let forwarder = LocalForwarder(port: 1, developer: "alice", events: { _ in })
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(),
                                                       group: group, streams: forwarder.streamInitializer)
        var connections = agent.connections.makeAsyncIterator()
        let connection = try #require(await connections.next())

        for kind in [StreamKind.control, StreamKind(rawValue: 0x80)] {
            await #expect {
                _ = try await FakeAgent.exchange(on: connection, kind: kind, request: Array("{}".utf8), responseLength: 1)
            } throws: { error in
                (error as? StreamResetError)?.code == .unsupportedKind
            }
        }
        await client.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }
}
