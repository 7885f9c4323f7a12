import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntMatch
import ShuntTLS
import Testing

/// What operators see: `/metrics` in Prometheus text, structured log lines without credentials,
/// fail-open said once per episode, and options from `SHUNT_…` variables.
@Suite struct ObservabilityTests {
    static func value(_ metrics: String, _ series: String) -> Double? {
        for line in metrics.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test(.timeLimit(.minutes(1))) func metricsCountRoutesAnswersSessionsAndRefusedHandshakes() async throws {
        let world = try await AgentLoopbackTests.World.start(admin: true)
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        let alice = try await world.laptop("alice", serving: local)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /a HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("app GET /a"))
        #expect(try await caller.send("GET /b HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("app GET /b"))
        #expect(try await caller.send("GET /c HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body.hasPrefix("laptop GET /c"))
        await caller.close()
        let smuggler = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await smuggler.send("POST / HTTP/1.1\r\nHost: o\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").status == 400)
        await smuggler.close()
        // A laptop that trusts the agent but whose certificate another CA signed: the agent refuses it.
        let strangers = try TestCertificates()
        let issued = try strangers.agent.loadAuthority().issueClient(developer: "mallory")
        let mallory = try ShuntTLSEndpoint(side: .developer, certificate: issued.certificate, key: issued.privateKey,
                                           authority: try world.certs.agent.loadCertificate(.ca))
        await #expect(throws: (any Error).self) {
            _ = try await TestLaptop.connect(agentPort: world.agent.tunnelPort, endpoint: mallory, localPort: 1, group: world.group)
        }
        strangers.remove()

        let admin = try await KeepAliveClient(port: try #require(world.agent.adminPort), group: world.group)
        var text = ""
        for _ in 0..<100 {
            let response = try await admin.send("GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n")
            #expect(response.status == 200)
            #expect(response.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            text = response.body
            if Self.value(text, #"shunt_agent_handshake_failures_total{reason="unknown_ca"}"#) == 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(Self.value(text, #"shunt_agent_requests_total{route="app"}"#) == 2)
        #expect(Self.value(text, #"shunt_agent_requests_total{route="laptop"}"#) == 1)
        #expect(Self.value(text, #"shunt_agent_requests_total{route="failed_open"}"#) == 0)
        #expect(Self.value(text, #"shunt_agent_edge_answers_total{status="400"}"#) == 1)
        #expect(Self.value(text, #"shunt_agent_handshake_failures_total{reason="unknown_ca"}"#) == 1)
        #expect(Self.value(text, "shunt_agent_sessions") == 1)
        #expect(Self.value(text, "shunt_agent_sessions_accepted_total") == 1)
        #expect(Self.value(text, "shunt_agent_intercepts") == 1)
        #expect((Self.value(text, #"shunt_agent_tunnel_octets_total{direction="in"}"#) ?? 0) > 0)
        #expect((Self.value(text, #"shunt_agent_tunnel_octets_total{direction="out"}"#) ?? 0) > 0)
        await admin.close()
        await alice.close()
        await local.stop()
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(1))) func interceptLogLinesAreStructuredAndNeverCarryACredential() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let alice = try await world.laptop("alice", serving: nil)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["Authorization: Bearer s3cret-t0ken", "x-dev=alice"]).spec())
        _ = try await alice.call(InterceptCalls.remove, InterceptCalls.RemoveRequest(name: "orders-alice"), as: InterceptCalls.Empty.self)
        let registered = try #require(world.log.all.first { $0.contains("intercept registered") })
        #expect(registered.contains("intercept=orders-alice"))
        #expect(registered.contains("owner=alice"))
        #expect(registered.contains("authorization=<redacted 19 octets>"))
        #expect(registered.contains("x-dev=alice"))
        #expect(world.log.contains("intercept removed"))
        #expect(!world.log.all.contains { $0.contains("s3cret") }, "\(world.log.all)")
        await alice.close()
        try await world.stop()
    }

    @Test func jsonLinesParseAndEscape() throws {
        let lines = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "test") { _ in
            AgentLogHandler(format: .json, clock: { Date(timeIntervalSince1970: 0) }) { line in lines.withLockedValue { $0.append(line) } }
        }
        logger.warning("refused a tunnel connection", metadata: ["reason": "unknown_ca", "error": "say \"no\"\nnow"])
        let line = try #require(lines.withLockedValue { $0.first })
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object == ["time": "1970-01-01T00:00:00.000Z", "level": "warning", "message": "refused a tunnel connection",
                           "reason": "unknown_ca", "error": "say \"no\"\nnow"])
    }

    /// A laptop that cannot take requests under load: one log line when the episode starts, one
    /// when it ends, and every request counted.
    @Test func failOpenIsLoggedOncePerEpisodeAndCountedEveryTime() {
        let lines = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "test") { _ in AgentLogHandler(format: .text) { line in lines.withLockedValue { $0.append(line) } } }
        let metrics = AgentMetrics()
        let episodes = FailOpenEpisodes(logger: logger, metrics: metrics)
        struct Gone: Error {}
        for _ in 0..<1_000 { episodes.failed(intercept: "orders-alice", owner: "alice", error: Gone()) }
        #expect(episodes.inEpisode("orders-alice") == 1_000)
        episodes.failed(intercept: "orders-bob", owner: "bob", error: Gone())
        episodes.succeeded(intercept: "orders-alice", owner: "alice")
        episodes.failed(intercept: "orders-alice", owner: "alice", error: Gone())
        let all = lines.withLockedValue { $0 }
        #expect(all.count == 4, "\(all)")
        #expect(all.filter { $0.contains("failing open") && $0.contains("orders-alice") }.count == 2)
        #expect(all.contains { $0.contains("takes the intercept's requests again") && $0.contains("failed_open=1000") })
        let text = metrics.registry.emitToString()
        #expect(Self.value(text, #"shunt_agent_requests_total{route="failed_open"}"#) == 1_002)
        #expect(Self.value(text, #"shunt_agent_requests_total{route="laptop"}"#) == 1)
    }

    @Test func optionsComeFromTheEnvironmentAndTheCommandLineWins() {
        let options: [EnvironmentArguments.Option] = [.init("listen", repeatable: true), .init("app", repeatable: true),
                                                      .init("tunnel-listen"), .init("log-format")]
        let environment = ["SHUNT_LISTEN": "0.0.0.0:8080, 0.0.0.0:8081", "SHUNT_APP": "127.0.0.1:9090,127.0.0.1:9091",
                           "SHUNT_TUNNEL_LISTEN": "0.0.0.0:7443", "SHUNT_LOG_FORMAT": "", "SHUNT_OTHER": "x"]
        #expect(EnvironmentArguments.merge(arguments: [], environment: environment, options: options)
            == ["--listen=0.0.0.0:8080", "--listen=0.0.0.0:8081", "--app=127.0.0.1:9090", "--app=127.0.0.1:9091", "--tunnel-listen=0.0.0.0:7443"])
        #expect(EnvironmentArguments.merge(arguments: ["--tunnel-listen", "127.0.0.1:1", "--app=1.2.3.4:5"], environment: environment, options: options)
            == ["--tunnel-listen", "127.0.0.1:1", "--app=1.2.3.4:5", "--listen=0.0.0.0:8080", "--listen=0.0.0.0:8081"])
        #expect(EnvironmentArguments.merge(arguments: ["--service", "x", "--", "--listen"], environment: ["SHUNT_TUNNEL_LISTEN": "a:1"], options: options)
            == ["--service", "x", "--tunnel-listen=a:1", "--", "--listen"])
        #expect(EnvironmentArguments.Option("shutdown-deadline").variable == "SHUNT_SHUTDOWN_DEADLINE")
    }
}
