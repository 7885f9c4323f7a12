import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import ShuntSession
import ShuntTLS
import ShuntTestSupport
import ShuntWire
import Testing
import X509

/// Answers whatever arrives as a plain HTTP server would, then closes.
final class PlainHTTPRefuser: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")), promise: nil)
    }
}

/// Mutual TLS over real sockets on 127.0.0.1: what is accepted, and each refusal with its reason.
@Suite(.timeLimit(.minutes(2))) struct TLSHandshakeTests {
    @Test func aVerifiedSessionCarriesAStreamAndTheAgentKnowsTheDeveloper() async throws {
        let certs = try TemporaryCertificates(developer: "alice")
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: certs.folder, keyLogPath: nil), group: group)
        let connection = try await connectDeveloper(try .developer(folder: certs.folder, keyLogPath: nil), port: agent.port, group: group)
        #expect(connection.peer.name == "shunt-agent")
        let agentSide = try await agent.firstOutcome().get()
        #expect(agentSide.peer.name == "alice")
        #expect(agentSide.peer.subject.contains("CN=alice"))

        let session = connection.session
        let loop = connection.channel.eventLoop
        _ = try await loop.flatSubmit { session.ready(on: loop) }.awaited()
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let done = loop.makePromise(of: [UInt8].self)
        _ = try await loop.flatSubmit {
            session.openStream(kind: .tcp) { stream in
                stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(StreamCollector(done: done)) }
            }.flatMap { stream in
                stream.writeAndFlush(ByteBuffer(bytes: payload)).flatMap { stream.close(mode: .output) }
            }
        }.get()
        #expect(try await done.futureResult.awaited() == payload)
        try await connection.channel.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func aVersionMismatchEndsTheSessionNamingBothVersionRanges() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: certs.folder, keyLogPath: nil), group: group)
        var future = SessionConfiguration(role: .client)
        future.versions = 2...3
        let connection = try await connectDeveloper(try .developer(folder: certs.folder, keyLogPath: nil), port: agent.port,
                                                    configuration: future, group: group)
        let loop = connection.channel.eventLoop
        let session = connection.session
        await #expect {
            _ = try await loop.flatSubmit { session.ready(on: loop) }.awaited()
        } throws: { error in
            guard let error = error as? SessionError else { return false }
            return error.code == .versionMismatch && error.message.contains("2") && error.message.contains("1")
        }
        let agentConnection = try await agent.firstOutcome().get()
        let agentSession = agentConnection.session
        let agentLoop = agentConnection.channel.eventLoop
        let agentEnd = try await agentLoop.flatSubmit { agentSession.ended(on: agentLoop) }.awaited()
        #expect(agentEnd?.code == .versionMismatch)
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func aPlaintextClientIsRefusedAsNotTLS() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: certs.folder, keyLogPath: nil), group: group)
        // A Shunt session without TLS: the preface and a HELLO in the clear.
        let plain = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: agent.port).get()
        var bytes = ByteBuffer()
        FrameEncoder.writePreface(into: &bytes)
        FrameEncoder.encodeWhole(Frame(streamID: .session, payload: .hello(SessionConfiguration(role: .client).hello)), into: &bytes)
        try await plain.writeAndFlush(bytes)
        let refusal = try #require(try await agent.firstOutcome().refusal)
        guard case .notTLS = refusal.reason else {
            Issue.record("expected notTLS, got \(refusal)")
            return
        }
        #expect(refusal.description.contains("is not speaking TLS"))
        try? await plain.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func aDeveloperDiallingAPlaintextServerIsToldItIsNotTLS() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(PlainHTTPRefuser()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        await #expect {
            _ = try await connectDeveloper(try .developer(folder: certs.folder, keyLogPath: nil), port: server.localAddress!.port!, group: group)
        } throws: { error in
            guard let refusal = error as? HandshakeRefusal else { return false }
            if case .notTLS = refusal.reason { return true }
            return false
        }
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test func aSilentServerIsRefusedAtTheHandshakeTimeout() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let silent = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let developer = try ShuntTLSEndpoint(side: .developer, certificate: certs.folder.loadCertificate(.client),
                                             key: certs.folder.loadKey(.clientKey), authority: certs.folder.loadCertificate(.ca),
                                             handshakeTimeout: .milliseconds(300))
        await #expect {
            _ = try await connectDeveloper(developer, port: silent.localAddress!.port!, group: group)
        } throws: { error in
            (error as? HandshakeRefusal)?.reason == .timeout(300)
        }
        try await silent.close()
        try await group.shutdownGracefully()
    }

    @Test func aClientThatSaysNothingIsDroppedAtTheHandshakeTimeout() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let endpoint = try ShuntTLSEndpoint(side: .agent, certificate: certs.folder.loadCertificate(.agent),
                                            key: certs.folder.loadKey(.agentKey), authority: certs.folder.loadCertificate(.ca),
                                            handshakeTimeout: .milliseconds(300))
        let agent = try await TestAgent(endpoint: endpoint, group: group)
        let idle = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: agent.port).get()
        let refusal = try #require(try await agent.firstOutcome().refusal)
        #expect(refusal.reason == .timeout(300))
        try await idle.closeFuture.awaited()  // the agent closed it
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func anAgentFromAnotherCAIsRefusedAsUnknownCA() async throws {
        let ours = try TemporaryCertificates(developer: "alice")
        let theirs = try TemporaryCertificates(developer: "mallory")
        defer { ours.remove(); theirs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: theirs.folder, keyLogPath: nil), group: group)
        await #expect {
            _ = try await connectDeveloper(try .developer(folder: ours.folder, keyLogPath: nil), port: agent.port, group: group)
        } throws: { error in
            guard let refusal = error as? HandshakeRefusal, case .unknownAuthority(let issuer, let expected) = refusal.reason else { return false }
            return issuer.hasPrefix("Shunt CA (mallory ") && expected.hasPrefix("Shunt CA (alice ") && refusal.description.contains("unknown CA")
        }
        // The agent saw the developer refuse it (an alert), not a success.
        let agentSide = try await agent.firstOutcome()
        #expect(agentSide.refusal != nil)
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func aDeveloperCertificateFromAnotherCAIsRefusedByTheAgent() async throws {
        let ours = try TemporaryCertificates(developer: "alice")
        let theirs = try TemporaryCertificates(developer: "mallory")
        defer { ours.remove(); theirs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: ours.folder, keyLogPath: nil), group: group)
        // Mallory trusts our CA (so she accepts the agent) but her certificate is signed by her own.
        let mallory = try ShuntTLSEndpoint(side: .developer, certificate: theirs.folder.loadCertificate(.client),
                                           key: theirs.folder.loadKey(.clientKey), authority: ours.folder.loadCertificate(.ca))
        let developerSide: Result<ShuntConnection, Error>
        do { developerSide = .success(try await connectDeveloper(mallory, port: agent.port, group: group)) } catch { developerSide = .failure(error) }
        let refusal = try #require(try await agent.firstOutcome().refusal)
        guard case .unknownAuthority(let issuer, _) = refusal.reason else {
            Issue.record("expected unknownAuthority, got \(refusal)")
            return
        }
        #expect(issuer.hasPrefix("Shunt CA (mallory "))
        #expect(refusal.peer == "client")
        if case .success(let connection) = developerSide {
            // TLS 1.3: the client may finish before the agent's refusal arrives; its session never starts.
            let loop = connection.channel.eventLoop
            let session = connection.session
            await #expect(throws: (any Error).self) { _ = try await loop.flatSubmit { session.ready(on: loop) }.get() }
        }
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func anExpiredAgentCertificateIsRefusedAsExpired() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let past = Date(timeIntervalSinceNow: -30 * 86_400)
        let expired = try certs.authority.issueAgent(hosts: ["127.0.0.1"], now: past, notValidAfter: Date(timeIntervalSinceNow: -86_400))
        let endpoint = try ShuntTLSEndpoint(side: .agent, certificate: expired.certificate, key: expired.privateKey,
                                            authority: certs.authority.root.certificate)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: endpoint, group: group)
        await #expect {
            _ = try await connectDeveloper(try .developer(folder: certs.folder, keyLogPath: nil), port: agent.port, group: group)
        } throws: { error in
            guard let refusal = error as? HandshakeRefusal, case .expired = refusal.reason else { return false }
            return refusal.description.contains("expired on")
        }
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func anAgentCertificateForAnotherHostIsRefusedWithTheNames() async throws {
        let certs = try TemporaryCertificates(hosts: ["agent.example"])
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: certs.folder, keyLogPath: nil), group: group)
        await #expect {
            _ = try await connectDeveloper(try .developer(folder: certs.folder, keyLogPath: nil), port: agent.port, host: "127.0.0.1", group: group)
        } throws: { error in
            guard let refusal = error as? HandshakeRefusal, case .wrongName(let host, let names) = refusal.reason else { return false }
            return host == "127.0.0.1" && names == ["agent.example"]
        }
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func aClientOfferingAnotherALPNIsRefused() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: certs.folder, keyLogPath: nil), group: group)
        let h2 = try ShuntTLSEndpoint(side: .developer, certificate: certs.folder.loadCertificate(.client),
                                      key: certs.folder.loadKey(.clientKey), authority: certs.folder.loadCertificate(.ca), alpn: ["h2"])
        await #expect(throws: HandshakeRefusal.self) { _ = try await connectDeveloper(h2, port: agent.port, group: group) }
        let refusal = try #require(try await agent.firstOutcome().refusal)
        #expect(refusal.reason == .wrongALPN(nil))
        #expect(refusal.description.contains("did not agree on ALPN shunt/1"))
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func aClientWithoutACertificateIsRefused() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: certs.folder, keyLogPath: nil), group: group)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .none
        configuration.applicationProtocols = [ShuntTLS.alpn]
        let context = try NIOSSLContext(configuration: configuration)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                }
            }
            .connect(host: "127.0.0.1", port: agent.port).get()
        let refusal = try #require(try await agent.firstOutcome().refusal)
        #expect(refusal.reason == .noCertificate)
        #expect(refusal.description.contains("presented no certificate"))
        try? await channel.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func theKeyLogIsWrittenOnlyWhenAskedFor() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let log = certs.folder.url.appendingPathComponent("keys.log").path
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try .agent(folder: certs.folder, keyLogPath: nil), group: group)
        let connection = try await connectDeveloper(try .developer(folder: certs.folder, keyLogPath: log), port: agent.port, group: group)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET"))
        #expect(text.contains("CLIENT_TRAFFIC_SECRET_0"))
        let attributes = try FileManager.default.attributesOfItem(atPath: log)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        try await connection.channel.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }
}
