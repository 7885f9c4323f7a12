import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ShuntAgent
import ShuntHTTP1
import ShuntMatch
import ShuntTLS
import ShuntTestSupport
import Testing

/// The real `shunt intercept` process (built beside this bundle) against an agent on 127.0.0.1:
/// upgrades, 100 MiB each way with checksums, a laptop killed mid-stream, an agent restarted, and
/// the messages a user reads when something is wrong.
@Suite(.serialized) struct EndToEndTests {
    // MARK: The process

    final class ShuntProcess: @unchecked Sendable {
        let process = Process()
        let output: URL
        let errors: URL

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("shunt")
            try #require(FileManager.default.isExecutableFile(atPath: binary.path), "\(binary.path) is missing: build with `swift build --build-tests`")
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-e2e-\(UUID().uuidString)")
            output = base.appendingPathExtension("out")
            errors = base.appendingPathExtension("err")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
            process.executableURL = binary
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            process.standardOutput = try FileHandle(forWritingTo: output)
            process.standardError = try FileHandle(forWritingTo: errors)
            try process.run()
        }

        var stdout: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }

        func exitStatus() async -> Int32 {
            await process.exited()
        }

        func signal(_ number: Int32) { kill(process.processIdentifier, number) }

        func cleanUp() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
    }

    /// Starts `shunt intercept orders` for alice against the world's agent, and waits until the agent
    /// holds the intercept.
    static func intercept(_ world: AgentLoopbackTests.World, local: Int, extra: [String] = ["--http-header=x-dev=alice"],
                          name: String = "orders-alice") async throws -> ShuntProcess {
        let process = try ShuntProcess(["intercept", "orders", "--agent", "127.0.0.1:\(world.agent.tunnelPort)", "--certs", world.certs.root.path,
                                        "--port", "\(local)", "--name", name, "--output", "json"] + extra)
        for _ in 0..<400 {
            if world.agent.registry.list().contains(where: { $0.name == name }) { return process }
            if !process.process.isRunning { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the intercept was not registered: \(process.stderr)")
        throw CancellationError()
    }

    // MARK: Tests

    @Test(.timeLimit(.minutes(1))) func aWebSocketUpgradeThroughAPersonalInterceptBecomesAPipeToTheLaptop() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let upgrader = try await UpgradeEchoServer(group: world.group)
        let laptop = try await Self.intercept(world, local: upgrader.port)
        defer { laptop.cleanUp() }
        let client = try await RawClient(port: world.agent.edgePorts[0], group: world.group)
        try await client.send("GET /chat HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let head = try await client.read(until: "\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 101 Switching Protocols"))
        for message in ["hello\n", "through the tunnel\n"] {
            try await client.send(message)
            #expect(try await client.read(until: "\n") == message.uppercased())
        }
        await client.close()
        // Without the header the same path stays in the cluster.
        let plain = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await plain.send("GET /chat HTTP/1.1\r\nHost: orders\r\n\r\n").body.hasPrefix("app GET /chat"))
        await plain.close()
        laptop.signal(SIGINT)
        #expect(await laptop.exitStatus() == 0)
        await upgrader.stop()
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(3))) func aHundredMebibytesUpAndDownArriveIntact() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let local = try await ChecksumServer(group: world.group)
        let laptop = try await Self.intercept(world, local: local.port)
        defer { laptop.cleanUp() }
        let size = 100 << 20

        let client = try await RawClient(port: world.agent.edgePorts[0], group: world.group)
        try await ChecksumServer.upAndDown(size, through: client, fields: "x-dev: alice\r\n")
        await client.close()
        laptop.signal(SIGINT)
        #expect(await laptop.exitStatus() == 0)
        await local.stop()
        try await world.stop()
    }

    /// SIGKILL the laptop in the middle of a download: the caller's response ends (no hang), the
    /// next matched request reaches the app within the death bound, and requests without the header
    /// never see an error.
    @Test(.timeLimit(.minutes(1))) func killingTheLaptopMidStreamHandsItsTrafficBackToTheApp() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let local = try await ChecksumServer(group: world.group)
        let laptop = try await Self.intercept(world, local: local.port)
        defer { laptop.cleanUp() }

        let errors = NIOLockedValueBox(0)
        let served = NIOLockedValueBox(0)
        let stop = NIOLockedValueBox(false)
        let bystander = Task {
            let client = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
            while !stop.withLockedValue({ $0 }) {
                do {
                    let answer = try await client.send("GET /others HTTP/1.1\r\nHost: orders\r\n\r\n")
                    if answer.status == 200 && answer.body.hasPrefix("app GET /others") { served.withLockedValue { $0 += 1 } } else { errors.withLockedValue { $0 += 1 } }
                } catch {
                    errors.withLockedValue { $0 += 1 }
                    return
                }
            }
            await client.close()
        }

        // The bystander is under way before the kill (bounded wait).
        let bystanderStart = ContinuousClock.now
        while served.withLockedValue({ $0 }) < 5 && ContinuousClock.now - bystanderStart < .seconds(10) {
            try await Task.sleep(for: .milliseconds(10))
        }
        let downloader = try await RawClient(port: world.agent.edgePorts[0], group: world.group)
        try await downloader.send("GET /download/\(1 << 30) HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\n\r\n")
        _ = try await downloader.read(until: "\r\n\r\n")
        try await Task.sleep(for: .milliseconds(200))
        let killed = ContinuousClock.now
        let killedAt = NIODeadline.now()
        laptop.signal(SIGKILL)
        _ = await laptop.exitStatus()
        // The download ends (the connection closes: its response cannot be completed).
        try await downloader.closed()

        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        // Judged by when each request was sent (read on the caller's event loop), not by when this
        // task got to look: a request sent after the bound must reach the app; one sent before it
        // may still have gone to the dead laptop.
        var back = false
        var lastMiss: NIODeadline?
        while !back && ContinuousClock.now - killed < .seconds(10) {
            let attempted = NIODeadline.now()
            if let answer = try? await caller.send("GET /mine HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\n\r\n") {
                back = answer.body.hasPrefix("app GET /mine")
                if !back { lastMiss = answer.sentAt }
            } else {
                lastMiss = attempted
            }
            if !back { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(back, "matched traffic never came back to the app")
        if let lastMiss {
            let missedAfter = lastMiss - killedAt
            #expect(missedAfter < .seconds(3), "the death bound is 3 s; a request sent \(missedAfter.nanoseconds / 1_000_000) ms after the kill missed the app")
        }
        // And it goes on after the kill: five more answers from the app (bounded wait).
        let servedAtKill = served.withLockedValue { $0 }
        let after = ContinuousClock.now
        while served.withLockedValue({ $0 }) < servedAtKill + 5 && ContinuousClock.now - after < .seconds(10) {
            try await Task.sleep(for: .milliseconds(10))
        }
        stop.withLockedValue { $0 = true }
        try await bystander.value
        #expect(errors.withLockedValue { $0 } == 0)
        #expect(served.withLockedValue { $0 } >= servedAtKill + 5, "the bystander kept being served")
        await caller.close()
        await local.stop()
        try await world.stop()
    }

    /// The agent restarts (same tunnel port): the laptop reconnects by itself, registers the same
    /// rule again, and matched requests reach it again.
    @Test(.timeLimit(.minutes(1))) func afterAnAgentRestartTheLaptopReconnectsAndServesAgain() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        let laptop = try await Self.intercept(world, local: local.port)
        defer { laptop.cleanUp() }
        let header = try #require(world.agent.registry.list().first?.header)
        let tunnelPort = world.agent.tunnelPort

        await world.agent.shutdown(deadline: .seconds(2))
        var configuration = AgentServer.Configuration(appAddresses: [try SocketAddress(ipAddress: "127.0.0.1", port: world.app.port)])
        configuration.tunnelHost = "127.0.0.1"
        configuration.tunnelPort = tunnelPort
        configuration.edgeHost = "127.0.0.1"
        configuration.edgePorts = [0]
        let restarted = try await AgentServer.start(configuration, certificates: world.certs.agent, log: { _ in })
        for _ in 0..<1_000 where restarted.registry.list().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        let again = try #require(restarted.registry.list().first, "the laptop did not register again: \(laptop.stderr)")
        #expect(again.name == "orders-alice")
        #expect(again.header == header)
        let caller = try await KeepAliveClient(port: restarted.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /again HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\n\r\n").body.hasPrefix("laptop GET /again"))
        #expect((laptop.stdout + laptop.stderr).contains("reconnect"), "\(laptop.stdout) \(laptop.stderr)")
        await caller.close()
        laptop.signal(SIGINT)
        #expect(await laptop.exitStatus() == 0)
        try await restarted.stop()
        await local.stop()
        await world.app.stop()
        world.certs.remove()
        try await world.group.shutdownGracefully()
    }

    /// What a user reads: an agent of another CA, an expired certificate, no agent, no local service.
    @Test(.timeLimit(.minutes(1))) func eachFailureSaysWhatToDo() async throws {
        let world = try await AgentLoopbackTests.World.start()
        defer { world.certs.remove() }

        // Another CA's certificates: the agent is not trusted.
        let strangers = try TestCertificates()
        defer { strangers.remove() }
        let wrongCA = try ShuntProcess(["intercept", "orders", "--agent", "127.0.0.1:\(world.agent.tunnelPort)", "--certs", strangers.root.path])
        defer { wrongCA.cleanUp() }
        #expect(await wrongCA.exitStatus() == 1)
        #expect(wrongCA.stderr.contains("not by this side's CA"), "\(wrongCA.stderr)")
        #expect(wrongCA.stderr.contains("unknown CA"), "\(wrongCA.stderr)")

        // An expired client certificate: the agent refuses it; the user is told it expired.
        let expiredFolder = strangers.root.appendingPathComponent("expired")
        try FileManager.default.createDirectory(at: expiredFolder, withIntermediateDirectories: true)
        for file in [CertificateFile.ca, .caKey] {
            try FileManager.default.copyItem(atPath: world.certs.agent.path(file), toPath: expiredFolder.appendingPathComponent(file.rawValue).path)
        }
        let old = try world.certs.agent.loadAuthority().issueClient(developer: "alice", notValidAfter: Date() - 3_600)
        try old.certificatePEM.write(to: expiredFolder.appendingPathComponent(CertificateFile.client.rawValue), atomically: true, encoding: .utf8)
        try old.privateKeyPEM.write(to: expiredFolder.appendingPathComponent(CertificateFile.clientKey.rawValue), atomically: true, encoding: .utf8)
        let expired = try ShuntProcess(["intercept", "orders", "--agent", "127.0.0.1:\(world.agent.tunnelPort)", "--certs", expiredFolder.path])
        defer { expired.cleanUp() }
        #expect(await expired.exitStatus() == 1)
        #expect(expired.stderr.contains("your client certificate"), "\(expired.stderr)")
        #expect(expired.stderr.contains("expired on"), "\(expired.stderr)")

        // Nothing listens at the agent's address.
        let closed = try ReservedPort()
        let closedPort = closed.port
        let unreachable = try ShuntProcess(["intercept", "orders", "--agent", "127.0.0.1:\(closedPort)", "--certs", world.certs.root.path])
        defer { unreachable.cleanUp() }
        #expect(await unreachable.exitStatus() == 1)
        #expect(unreachable.stderr.contains("127.0.0.1:\(closedPort)"), "\(unreachable.stderr)")
        #expect(unreachable.stderr.lowercased().contains("refused"), "\(unreachable.stderr)")

        // The local service is down: the CLI says so as the intercept starts, before any request;
        // callers get a 502 naming the laptop; the warning is not said again.
        let laptop = try await Self.intercept(world, local: closedPort)
        defer { laptop.cleanUp() }
        let since = ContinuousClock.now
        while !laptop.stdout.contains(#""event":"local-unreachable""#) && ContinuousClock.now - since < .seconds(5) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(laptop.stdout.contains(#""reason":"nothing listens on 127.0.0.1:\#(closedPort) on alice's laptop""#), "\(laptop.stdout)")
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        let answer = try await caller.send("GET /x HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\n\r\n")
        #expect(answer.status == 502)
        #expect(answer.body.contains("nothing listens on 127.0.0.1:\(closedPort) on alice's laptop"), "\(answer.body)")
        await caller.close()
        let second = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await second.send("GET /y HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\n\r\n").status == 502)
        await second.close()
        laptop.signal(SIGINT)
        #expect(await laptop.exitStatus() == 0)
        let warnings = laptop.stdout.components(separatedBy: "nothing listens").count - 1 + laptop.stderr.components(separatedBy: "nothing listens").count - 1
        #expect(warnings == 1, "stdout: \(laptop.stdout) stderr: \(laptop.stderr)")
        // Each request still has its line (this laptop writes JSON), saying it was not served.
        let unserved = laptop.stdout.split(separator: "\n").filter { $0.contains(#""failure":"local service unreachable""#) }
        #expect(unserved.count == 2, "stdout: \(laptop.stdout)")
        #expect(unserved.first?.contains(#""path":"/x""#) == true && unserved.last?.contains(#""path":"/y""#) == true, "stdout: \(laptop.stdout)")
        withExtendedLifetime(closed) {}
        try await world.stop()
    }
}

// MARK: Helpers

/// The same pseudo-random octets on both ends (xorshift), for bodies that are checked by hash.
struct PatternGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for index in 0..<words.count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                words[index] = state
            }
        }
        return out
    }
}

/// The developer's service for big bodies: `PUT` answers with the body's SHA-256 (hex); `GET
/// /download/N` sends N octets of `PatternGenerator(seed: 7)`, streamed with backpressure.
final class ChecksumServer: Sendable {
    let channel: Channel
    var port: Int { channel.localAddress!.port! }
    /// Body octets of downloads handed to the socket so far, all connections together.
    let sent = NIOLockedValueBox(0)

    init(group: EventLoopGroup) async throws {
        let sent = self.sent
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(sent: sent))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async { try? await channel.close() }

    /// `size` octets (a whole number of MiB) of the pattern up, whose SHA-256 the server answers,
    /// then the same down, on `client`'s one connection, with `fields` added to both heads.
    static func upAndDown(_ size: Int, through client: RawClient, fields: String = "") async throws {
        var hasher = SHA256()
        var generator = PatternGenerator(seed: 7)
        try await client.send("PUT /upload HTTP/1.1\r\nHost: orders\r\n\(fields)Content-Length: \(size)\r\n\r\n")
        for _ in 0..<(size >> 20) {
            let chunk = generator.next(1 << 20)
            hasher.update(data: chunk)
            try await client.send(ByteBuffer(bytes: chunk))
        }
        let expected = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let upload = try await client.readResponse()
        #expect(upload.head.hasPrefix("HTTP/1.1 200"))
        #expect(upload.body == Array(expected.utf8))
        try await client.send("GET /download/\(size) HTTP/1.1\r\nHost: orders\r\n\(fields)\r\n")
        let download = try await client.readResponse(hashing: true)
        #expect(download.head.hasPrefix("HTTP/1.1 200"))
        #expect(download.length == size)
        #expect(download.digest == expected)
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        var hasher = SHA256()
        var head: HTTPRequestHead?
        var remaining = 0
        var generator = PatternGenerator(seed: 7)
        let sent: NIOLockedValueBox<Int>

        init(sent: NIOLockedValueBox<Int>) {
            self.sent = sent
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                hasher = SHA256()
            case .body(let body):
                hasher.update(data: Array(body.readableBytesView))
            case .end:
                guard let head else { return }
                if head.method == .GET, head.uri.hasPrefix("/download/"), let size = Int(head.uri.dropFirst("/download/".count)) {
                    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "\(size)"]))), promise: nil)
                    remaining = size
                    generator = PatternGenerator(seed: 7)
                    sendMore(context: context)
                } else {
                    let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
                    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "\(digest.utf8.count)"]))), promise: nil)
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: digest)))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }

        private func sendMore(context: ChannelHandlerContext) {
            while remaining > 0 && context.channel.isWritable {
                let count = min(remaining, 1 << 16)
                remaining -= count
                sent.withLockedValue { $0 += count }
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: generator.next(count))))), promise: nil)
                if remaining == 0 { context.write(wrapOutboundOut(.end(nil)), promise: nil) }
            }
            context.flush()
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable && remaining > 0 { sendMore(context: context) }
            context.fireChannelWritabilityChanged()
        }
    }
}

/// Answers an upgrade request with 101, then echoes each line in capitals.
final class UpgradeEchoServer: Sendable {
    let channel: Channel
    var port: Int { channel.localAddress!.port! }

    init(group: EventLoopGroup) async throws {
        channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async { try? await channel.close() }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        var upgraded = false
        var pending = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            pending += String(buffer: unwrapInboundIn(data))
            if !upgraded {
                guard let end = pending.range(of: "\r\n\r\n") else { return }
                pending = String(pending[end.upperBound...])
                upgraded = true
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")), promise: nil)
            }
            while let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[...newline])
                pending = String(pending[pending.index(after: newline)...])
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: line.uppercased())), promise: nil)
            }
        }
    }
}

/// A raw client connection: writes what it is given, reads into a buffer, and parses one response
/// (optionally only hashing its body, for big downloads).
final class RawClient: @unchecked Sendable {
    let channel: Channel
    private let reader: Reader

    init(port: Int, group: EventLoopGroup) async throws {
        let reader = Reader()
        self.reader = reader
        channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reader) } }
            .connect(host: "127.0.0.1", port: port).get()
    }

    func send(_ text: String) async throws { try await channel.writeAndFlush(ByteBuffer(string: text)) }
    func send(_ bytes: ByteBuffer) async throws { try await channel.writeAndFlush(bytes) }
    func close() async { try? await channel.close() }
    func closed() async throws { try await channel.closeFuture.awaited() }

    /// Reads until `marker` has arrived and returns everything up to and including it.
    func read(until marker: String) async throws -> String {
        let loop = channel.eventLoop
        let reader = self.reader
        while true {
            // Looking and starting to wait in one turn of the loop: bytes cannot slip in between.
            let found: String? = try await loop.flatSubmit {
                if let found = reader.take(until: Array(marker.utf8)) { return loop.makeSucceededFuture(found) }
                return reader.waitForMore().map { nil }
            }.get()
            if let found { return found }
        }
    }

    struct Response {
        var head: String
        var body: [UInt8] = []
        var length = 0
        var digest = ""
    }

    /// One Content-Length response.
    func readResponse(hashing: Bool = false) async throws -> Response {
        let head = try await read(until: "\r\n\r\n")
        let lengthLine = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
        let length = Int(lengthLine.map { $0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces) } ?? "0") ?? 0
        var response = Response(head: head)
        var hasher = SHA256()
        let loop = channel.eventLoop
        let reader = self.reader
        while response.length < length {
            let wanted = length - response.length
            let chunk: [UInt8] = try await loop.flatSubmit {
                let chunk = reader.take(atMost: wanted)
                return chunk.isEmpty ? reader.waitForMore().map { [] } : loop.makeSucceededFuture(chunk)
            }.get()
            if chunk.isEmpty { continue }
            response.length += chunk.count
            if hashing { hasher.update(data: chunk) } else { response.body += chunk }
        }
        if hashing { response.digest = hasher.finalize().map { String(format: "%02x", $0) }.joined() }
        return response
    }

    final class Reader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var buffer = ByteBuffer()
        var waiter: EventLoopPromise<Void>?
        var ended = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            buffer.writeBuffer(&bytes)
            waiter?.succeed()
            waiter = nil
        }

        func channelInactive(context: ChannelHandlerContext) {
            ended = true
            waiter?.fail(ChannelError.eof)
            waiter = nil
            context.fireChannelInactive()
        }

        func waitForMore() -> EventLoopFuture<Void> {
            // Only called on the channel's loop, from `submit`.
            let loop = MultiThreadedEventLoopGroup.currentEventLoop!
            if ended { return loop.makeFailedFuture(ChannelError.eof) }
            let promise = loop.makePromise(of: Void.self)
            waiter = promise
            return promise.futureResult
        }

        func take(until marker: [UInt8]) -> String? {
            let view = buffer.readableBytesView
            guard view.count >= marker.count else { return nil }
            var index = view.startIndex
            while index <= view.endIndex - marker.count {
                if view[index..<index + marker.count].elementsEqual(marker) {
                    let length = index - view.startIndex + marker.count
                    return buffer.readString(length: length)
                }
                index += 1
            }
            return nil
        }

        func take(atMost count: Int) -> [UInt8] {
            buffer.readBytes(length: min(count, buffer.readableBytes)) ?? []
        }
    }
}
