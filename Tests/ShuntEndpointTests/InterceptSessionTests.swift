import Foundation
import NIOCore
import NIOPosix
import ShuntEndpoint
import ShuntMatch
import ShuntSession
import ShuntTLS
import Testing

/// The foreground run: register, survive the loss of the session with the same rule, remove at stop.
@Suite(.timeLimit(.minutes(1))) struct InterceptSessionTests {
    @Test func afterTheConnectionDropsItReconnectsAndRegistersTheSameRule() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        var configuration = EndpointConfiguration(service: "orders", agentHost: "127.0.0.1", agentPort: agent.port,
                                                  certificates: agent.certificates.folder, localPort: 1, remotePort: 8080,
                                                  name: "orders-alice", rule: try RuleFlags().spec())
        configuration.backoff = ReconnectBackoff(initial: .milliseconds(10), maximum: .milliseconds(50))
        let events = EventRecorder()
        let session = InterceptSession(configuration: configuration, endpoint: try agent.developerEndpoint(), group: group, events: events.sink)

        let first = try await session.start()
        let serving = Task { try await session.serve() }
        var registrations = agent.registrations.makeAsyncIterator()
        var connections = agent.connections.makeAsyncIterator()
        let firstRequest = try #require(await registrations.next())
        let firstConnection = try #require(await connections.next())

        try await firstConnection.channel.close()
        let secondRequest = try #require(await registrations.next())
        _ = await events.next { if case .reconnected = $0 { true } else { false } }

        #expect(secondRequest == firstRequest)
        #expect(secondRequest.rule.generatedHeader?.value == first.header?.value)
        #expect(first.header != nil)
        let lost = events.all.contains { if case .tunnelLost = $0 { true } else { false } }
        #expect(lost)

        session.stop()
        try await serving.value
        #expect(agent.removals.withLockedValue { $0 } == ["orders-alice"])
        await agent.stop()
        try await group.shutdownGracefully()
    }
}

extension InterceptSessionTests {
    /// An agent that never answers the removal does not hold the exit: it is bounded.
    @Test func removalAtStopIsBounded() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        agent.answersRemovals.withLockedValue { $0 = false }
        let configuration = EndpointConfiguration(service: "orders", agentHost: "127.0.0.1", agentPort: agent.port,
                                                  certificates: agent.certificates.folder, localPort: 1, name: "orders-alice",
                                                  rule: try RuleFlags().spec(), removalTimeout: .milliseconds(100))
        let events = EventRecorder()
        let session = InterceptSession(configuration: configuration, endpoint: try agent.developerEndpoint(), group: group, events: events.sink)
        try await session.start()
        session.stop()
        try await session.serve()

        let failed = events.all.contains { if case .removalFailed(name: "orders-alice", _) = $0 { true } else { false } }
        #expect(failed)
        await agent.stop()
        try await group.shutdownGracefully()
    }
}
