import Foundation
import NIOCore
import NIOPosix
import ShuntEndpoint
import ShuntMatch
import ShuntSession
import ShuntTLS
import Testing

/// The laptop's control calls against a fake agent over real TLS on 127.0.0.1.
@Suite(.timeLimit(.minutes(1))) struct InterceptClientTests {
    @Test func registerSendsTheRequestAndReturnsTheIntercept() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(), group: group)
        let rule = try RuleFlags(httpHeader: ["auto"], pathPrefix: ["/api"]).spec()
        let request = InterceptCalls.RegisterRequest(name: "orders-alice", port: 8080, rule: rule, compress: true)

        let intercept = try await client.register(request)

        var registrations = agent.registrations.makeAsyncIterator()
        #expect(await registrations.next() == request)
        #expect(intercept.name == "orders-alice")
        #expect(intercept.owner == "alice")
        #expect(intercept.rule == rule)
        #expect(intercept.header?.value == rule.generatedHeader?.value)
        await client.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func aConflictSurfacesWithTheAgentsMessage() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let message = "port 8080 of orders: intercept orders-bob (owner bob) could take the same requests (INTERCEPT_OVERLAP)"
        agent.registerFailure.withLockedValue { $0 = InterceptCalls.Failure(.interceptConflict, message) }
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(), group: group)

        await #expect(throws: InterceptCalls.Failure(.interceptConflict, message)) {
            try await client.register(InterceptCalls.RegisterRequest(name: "orders-alice", rule: try RuleFlags().spec()))
        }
        await client.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func listRemoveAndInfoAreTyped() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(), group: group)

        let info = try await client.info()
        #expect(info.env["GREETING"] == "hello world")
        try await client.remove(name: "orders-alice")
        #expect(agent.removals.withLockedValue { $0 } == ["orders-alice"])
        let listed = InterceptCalls.Intercept(name: "orders-bob", owner: "bob", port: 8080, rule: .global, since: "2025-01-01T00:00:00Z", requests: 12)
        agent.listed.withLockedValue { $0 = [listed] }
        #expect(try await client.list() == [listed])
        await client.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func nothingListeningAtTheAgentAddressSaysConnectionRefused() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let endpoint = try agent.developerEndpoint()
        let port = agent.port
        await agent.stop()

        await #expect {
            _ = try await InterceptClient.connect(host: "127.0.0.1", port: port, endpoint: endpoint, group: group)
        } throws: { error in
            "\(error)" == "cannot reach the agent at 127.0.0.1:\(port): connection refused"
        }
        try await group.shutdownGracefully()
    }
}
