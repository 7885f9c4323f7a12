import Foundation
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntMatch
import Testing

/// An agent in front of a service with two ports: each edge port forwards to its own app port, and
/// an intercept takes only the traffic of the port it names.
@Suite struct MultiPortTests {
    @Test(.timeLimit(.minutes(1))) func eachServicePortHasItsAppAndItsOwnIntercepts() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let certs = try TestCertificates()
        let web = try await NamedHTTPServer(name: "web", group: group)
        let admin = try await NamedHTTPServer(name: "admin", group: group)
        let local = try await NamedHTTPServer(name: "laptop", group: group)
        var configuration = AgentServer.Configuration(appAddresses: [try SocketAddress(ipAddress: "127.0.0.1", port: web.port),
                                                                     try SocketAddress(ipAddress: "127.0.0.1", port: admin.port)])
        configuration.tunnelHost = "127.0.0.1"
        configuration.tunnelPort = 0
        configuration.edgeHosts = ["127.0.0.1", "127.0.0.1"]
        configuration.edgePorts = [0, 0]
        let agent = try await AgentServer.start(configuration, certificates: certs.agent, log: { _ in })
        let ports = agent.edgePorts
        #expect(ports.count == 2 && ports[0] != ports[1])

        let alice = try await TestLaptop.connect(agentPort: agent.tunnelPort, endpoint: try certs.developer("alice"), localPort: local.port, group: group)
        let rule = try RuleFlags(httpHeader: ["x-dev=alice"]).spec()
        let registered = try await alice.call(InterceptCalls.register, InterceptCalls.RegisterRequest(name: "orders-admin-alice", port: ports[1], rule: rule),
                                              as: InterceptCalls.Intercept.self).get()
        #expect(registered.port == ports[1])
        // Without a port, the first one is meant; the same rule on it is a separate intercept.
        let first = try await alice.register("orders-web-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice-web"]).spec())
        #expect(first.port == ports[0])

        let onWeb = try await KeepAliveClient(port: ports[0], group: group)
        let onAdmin = try await KeepAliveClient(port: ports[1], group: group)
        #expect(try await onWeb.send("GET /w HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body.hasPrefix("web GET /w"))
        #expect(try await onWeb.send("GET /w HTTP/1.1\r\nHost: o\r\nx-dev: alice-web\r\n\r\n").body.hasPrefix("laptop GET /w"))
        #expect(try await onAdmin.send("GET /a HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body.hasPrefix("laptop GET /a"))
        #expect(try await onAdmin.send("GET /a HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("admin GET /a"))
        #expect(try await onAdmin.send("GET /a HTTP/1.1\r\nHost: o\r\nx-dev: alice-web\r\n\r\n").body.hasPrefix("admin GET /a"))
        #expect(Set(agent.registry.list().map(\.port)) == Set(ports))

        // A port the agent does not serve is refused by name.
        let wrong = try await alice.call(InterceptCalls.register, InterceptCalls.RegisterRequest(name: "x", port: 1, rule: rule), as: InterceptCalls.Intercept.self)
        #expect(wrong.error != nil)

        await onWeb.close()
        await onAdmin.close()
        await alice.close()
        try await agent.stop()
        for server in [web, admin, local] { await server.stop() }
        certs.remove()
        try await group.shutdownGracefully()
    }
}
