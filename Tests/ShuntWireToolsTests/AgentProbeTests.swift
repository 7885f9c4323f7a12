import Foundation
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTLS
import ShuntWire
import ShuntWireTools
import Testing

/// A Shunt agent's session server on 127.0.0.1 (an ephemeral port): TLS, HELLO, PING answers.
private final class LoopbackAgent: Sendable {
    let listener: Channel

    init(folder: CertificateFolder, group: EventLoopGroup, maxStreams: UInt32 = 42) async throws {
        let endpoint = try ShuntTLSEndpoint.agent(folder: folder, keyLogPath: nil)
        listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                endpoint.configure(channel) { _ in
                    var configuration = SessionConfiguration(role: .server)
                    configuration.settings.initialMaxStreams = maxStreams
                    return SessionHandler(configuration: configuration, inboundStreamInitializer: { $0.close() })
                }.whenFailure { _ in }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { listener.localAddress!.port! }
}

private func temporaryFolder(developer: String = "alice") throws -> CertificateFolder {
    let folder = CertificateFolder(FileManager.default.temporaryDirectory.appendingPathComponent("shunt-wire-\(UUID().uuidString)"))
    try folder.initialize(developer: developer, hosts: ["localhost", "127.0.0.1"])
    return folder
}

@Suite("shunt-wire ping")
struct AgentProbeTests {
    @Test("a healthy agent: version, its settings, its certificate chain and N round trips")
    func healthyAgent() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder.url) }
        let agent = try await LoopbackAgent(folder: folder, group: group)
        var options = AgentProbe.Options()
        options.count = 3
        options.interval = .milliseconds(5)
        let probe = AgentProbe(endpoint: try .developer(folder: folder, keyLogPath: nil), authority: try folder.loadCertificate(.ca), options: options)
        let report = try await probe.run(host: "127.0.0.1", port: agent.port, group: group)
        #expect(report.healthy)
        #expect(report.version == 1)
        #expect(report.roundTrips.count == 3)
        #expect(report.peerSettings.initialMaxStreams == 42)
        #expect(report.peerSettings.compression == 1)
        #expect(report.localIdentity == "alice")
        try #require(report.chain.count == 2)
        #expect(report.chain[0].names.contains("127.0.0.1"))
        #expect(report.chain[0].issuer == report.chain[1].subject)
        let text = report.text
        #expect(text.contains("protocol version 1"))
        #expect(text.contains("INITIAL_MAX_STREAMS      42\n"))
        #expect(text.contains("round trip min/median/max = "))
        #expect(text.hasSuffix("healthy"))
        try await agent.listener.close()
        try await group.shutdownGracefully()
    }

    @Test("an agent of another CA: the handshake failure names both CAs")
    func unknownAuthority() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agentFolder = try temporaryFolder(developer: "ops")
        let ourFolder = try temporaryFolder(developer: "bob")
        defer {
            try? FileManager.default.removeItem(at: agentFolder.url)
            try? FileManager.default.removeItem(at: ourFolder.url)
        }
        let agent = try await LoopbackAgent(folder: agentFolder, group: group)
        let probe = AgentProbe(endpoint: try .developer(folder: ourFolder, keyLogPath: nil))
        do {
            _ = try await probe.run(host: "127.0.0.1", port: agent.port, group: group)
            Issue.record("the probe succeeded")
        } catch let failure as AgentProbe.Failure {
            #expect(failure.stage == "TLS handshake")
            #expect(failure.message.contains("Shunt CA (ops ") && failure.message.contains("Shunt CA (bob "), "\(failure)")
        }
        try await agent.listener.close()
        try await group.shutdownGracefully()
    }

    @Test("nothing listening: a connect failure")
    func nothingListening() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder.url) }
        // Bind and close to get a port nobody listens on.
        let placeholder = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = placeholder.localAddress!.port!
        try await placeholder.close()
        let probe = AgentProbe(endpoint: try .developer(folder: folder, keyLogPath: nil))
        await #expect(throws: AgentProbe.Failure.self) {
            _ = try await probe.run(host: "127.0.0.1", port: port, group: group)
        }
        try await group.shutdownGracefully()
    }
}

@Suite("shunt-wire ping: refusals explained")
struct RefusalExplanationTests {
    @Test("an alert from the agent is explained by what it objects to", arguments: [
        ("TLSV1_ALERT_NO_APPLICATION_PROTOCOL", "refused ALPN shunt/1"),
        ("SSLV3_ALERT_CERTIFICATE_EXPIRED", "as expired"),
        ("TLSV1_ALERT_UNKNOWN_CA", "trusts another CA"),
        ("SSLV3_ALERT_CERTIFICATE_UNKNOWN", "trusts another CA"),
        ("TLSV1_ALERT_PROTOCOL_VERSION", "TLS 1.3 only"),
        ("SSLV3_ALERT_BAD_CERTIFICATE", "refused this side's certificate"),
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", "no TLS 1.3 parameters in common"),
        ("TLSV1_ALERT_DECODE_ERROR", "ended the TLS handshake"),
    ])
    func alerts(alert: String, expected: String) {
        let text = AgentProbe.explain(HandshakeRefusal(.refusedByPeer(alert: alert), peer: "agent"))
        #expect(text.contains(expected) && text.contains(alert), "\(text)")
    }

    @Test("refusals this side made keep their own explanation")
    func ownRefusals() {
        let refusal = HandshakeRefusal(.wrongName(host: "10.0.0.5", names: ["agent.example"]), peer: "agent")
        #expect(AgentProbe.explain(refusal) == refusal.description)
    }
}
