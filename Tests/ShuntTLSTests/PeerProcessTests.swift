import Foundation
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTLS
import ShuntTestSupport
import ShuntWire
import Testing

/// A real laptop process (`shunt relay client`) holding a stream through a TLS session to an
/// in-test agent, then frozen or killed: the agent notices, resets the stream and tells its owner.
@Suite(.serialized) struct PeerProcessTests {
    /// The `shunt` executable `swift build --build-tests` puts beside the test bundle.
    static var shuntBinary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("shunt")
    }

    struct Running {
        let process: Process
        let connection: ShuntConnection
        let stream: ShuntStreamChannel
        let client: Channel
    }

    /// Starts the relay client against the agent and pushes one round trip through a stream.
    static func startPeer(agent: TestAgent, certs: TemporaryCertificates, group: MultiThreadedEventLoopGroup) async throws -> Running {
        let binary = shuntBinary
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "\(binary.path) is missing: build with `swift build --build-tests`")
        let listen = try freePort()
        let process = Process()
        process.executableURL = binary
        process.arguments = ["relay", "client", "--certs", certs.folder.url.path, "--agent", "127.0.0.1:\(agent.port)", "--listen", "127.0.0.1:\(listen)"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        var client: Channel?
        for _ in 0..<300 where client == nil {
            client = try? await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: listen).get()
            if client == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let connected = try #require(client, "shunt relay client never listened on \(listen)")
        let echoed = group.next().makePromise(of: [UInt8].self)
        try await connected.eventLoop.submit { try connected.pipeline.syncOperations.addHandler(FirstBytes(count: 5, done: echoed)) }.get()
        try await connected.writeAndFlush(ByteBuffer(string: "hello"))
        #expect(try await echoed.futureResult.awaited() == Array("hello".utf8))
        let connection = try await agent.firstOutcome().get()
        let stream = try await connection.channel.eventLoop.submit { try #require(connection.session.streamChannels.values.first) }.get()
        return Running(process: process, connection: connection, stream: stream, client: connected)
    }

    static func freePort() throws -> Int {
        let socket = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? socket.close().wait() }
        return socket.localAddress!.port!
    }

    /// SIGSTOP: the peer's socket stays open but nothing more comes, not even PING answers. The agent
    /// declares it dead after the death bound (3 s), resets its stream and reports TIMEOUT.
    @Test(.timeLimit(.minutes(1))) func aFrozenPeerIsDeclaredDeadWithinTheBound() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try ShuntTLSEndpoint.agent(folder: certs.folder), group: group)
        let peer = try await Self.startPeer(agent: agent, certs: certs, group: group)
        defer {
            kill(peer.process.processIdentifier, SIGKILL)
            peer.process.waitUntilExit()
        }
        let session = peer.connection.session
        let loop = peer.connection.channel.eventLoop
        let ended = try await loop.submit { session.ended(on: loop) }.get()
        // The end is timed on the session's event loop, as it happens: this task may resume late.
        let endedAt = ended.map { error in (error, NIODeadline.now()) }
        let frozenAt = NIODeadline.now()
        kill(peer.process.processIdentifier, SIGSTOP)
        let (ending, at) = try await endedAt.awaited()
        let error = try #require(ending)
        let silentFor = at - frozenAt
        #expect(error.code == .timeout)
        #expect(error.origin == .transport)
        // The bound is 3 s of silence, counted from the last frame received (≤ 1 s PING interval before).
        #expect(silentFor < .seconds(5), "declared dead after \(silentFor.nanoseconds / 1_000_000) ms")
        #expect(silentFor > .seconds(1), "declared dead after \(silentFor.nanoseconds / 1_000_000) ms")
        // The stream was reset and its channel closed; the owner saw why.
        try await peer.stream.closeFuture.awaited()
        try? await peer.client.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }

    /// SIGKILL: the kernel closes the peer's socket; the agent learns at once (well before the
    /// death bound), and the stream is reset.
    @Test(.timeLimit(.minutes(1))) func aKilledPeerEndsTheSessionAtOnce() async throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await TestAgent(endpoint: try ShuntTLSEndpoint.agent(folder: certs.folder), group: group)
        let peer = try await Self.startPeer(agent: agent, certs: certs, group: group)
        let session = peer.connection.session
        let loop = peer.connection.channel.eventLoop
        let ended = try await loop.submit { session.ended(on: loop) }.get()
        let endedAt = ended.map { error in (error, NIODeadline.now()) }
        let killedAt = NIODeadline.now()
        kill(peer.process.processIdentifier, SIGKILL)
        let (ending, at) = try await endedAt.awaited()
        let error = try #require(ending)
        #expect(error.origin == .transport)
        #expect(error.code != .timeout, "\(error)")
        #expect(at - killedAt < .seconds(2), "ended \((at - killedAt).nanoseconds / 1_000_000) ms after the kill")
        _ = await peer.process.exited()
        try await peer.stream.closeFuture.awaited()
        try? await peer.client.close()
        await agent.stop()
        try await group.shutdownGracefully()
    }
}

/// Completes with the first `count` octets read.
final class FirstBytes: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let count: Int
    let done: EventLoopPromise<[UInt8]>
    var bytes: [UInt8] = []
    init(count: Int, done: EventLoopPromise<[UInt8]>) {
        self.count = count
        self.done = done
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytesView
        if bytes.count >= count { done.succeed(Array(bytes.prefix(count))) }
    }
    func channelInactive(context: ChannelHandlerContext) { done.fail(ChannelError.eof) }
}
