import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP2
import NIOPosix
@testable import ShuntAgent
import Testing

/// The HTTP/2 edge's limits, each at its limit, with a raw frame-level client: concurrent streams,
/// the preface's header-read timeout, the idle timeout of a connection without streams, and the
/// Rapid Reset protection kept on.
@Suite struct HTTP2EdgeLimitsTests {
    /// An agent whose app is an h2c server that accepts streams and never answers.
    struct World {
        let group: MultiThreadedEventLoopGroup
        let certs: TestCertificates
        let app: Channel
        let agent: AgentServer

        static func start(_ edge: EdgeConfiguration) async throws -> World {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let certs = try TestCertificates()
            let app = try await ServerBootstrap(group: group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                            mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                        ) { stream in stream.eventLoop.makeSucceededVoidFuture() }
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            let configuration = AgentServer.Configuration.loopback(app: app.localAddress!, edge: edge)
            let agent = try await AgentServer.start(configuration, certificates: certs.agent, log: { _ in })
            return World(group: group, certs: certs, app: app, agent: agent)
        }

        func client() async throws -> FrameClient {
            try await FrameClient(port: agent.edgePorts[0], group: group)
        }

        func stop() async throws {
            try await agent.stop()
            try await app.close()
            certs.remove()
            try await group.shutdownGracefully()
        }
    }

    @Test(.timeLimit(.minutes(1))) func aStreamBeyondTheConcurrentLimitEndsTheConnection() async throws {
        var edge = EdgeConfiguration()
        edge.http2.maxConcurrentStreams = 3
        let world = try await World.start(edge)
        let client = try await world.client()
        try await client.send(FrameClient.preface + FrameClient.frame(type: 0x4, flags: 0, stream: 0, payload: []))
        let settings = try await client.waitFor { $0.contains { $0.type == 0x4 && $0.flags & 0x1 == 0 } }
        let announced = try #require(settings.first { $0.type == 0x4 && $0.flags & 0x1 == 0 })
        #expect(FrameClient.settings(announced.payload)[0x3] == 3, "SETTINGS_MAX_CONCURRENT_STREAMS is the configured limit")
        // The limit binds once the client acknowledges the edge's SETTINGS (RFC 9113 §6.5.3).
        var bytes = FrameClient.frame(type: 0x4, flags: 0x1, stream: 0, payload: [])
        for stream in [1, 3, 5, 7] as [UInt32] {
            bytes += FrameClient.headers(stream: stream, path: "/held/\(stream)", endStream: true)
        }
        try await client.send(bytes)
        // swift-nio-http2 treats a stream past the limit as a connection error (RFC 9113 §5.1.2
        // allows a stream error; the connection error is stricter): GOAWAY PROTOCOL_ERROR, then the close.
        let frames = try await client.waitFor { $0.contains { $0.type == 0x7 } }
        let goAway = try #require(frames.first { $0.type == 0x7 })
        #expect(Array(goAway.payload[4..<8]) == [0, 0, 0, 0x1], "PROTOCOL_ERROR")
        try await client.closed(within: .seconds(10))
        await client.close()
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(1))) func anUnfinishedPrefaceIsCutAtTheHeaderReadTimeout() async throws {
        var edge = EdgeConfiguration()
        edge.headerReadTimeout = .milliseconds(300)
        let world = try await World.start(edge)
        let client = try await world.client()
        let sent = ContinuousClock.now
        try await client.send(Array("PRI * HTTP/2.0\r\n".utf8))
        try await client.closed(within: .seconds(10))
        #expect(ContinuousClock.now - sent >= .milliseconds(250))
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(1))) func aConnectionWithoutStreamsIsClosedAtTheIdleTimeout() async throws {
        var edge = EdgeConfiguration()
        edge.idleTimeout = .milliseconds(300)
        let world = try await World.start(edge)
        // The same timeout closes a connection that sends nothing at all: on a loaded machine the
        // preface may come too late, and then the attempt is made again.
        var checked = false
        for _ in 0..<5 where !checked {
            let client = try await world.client()
            let sent = ContinuousClock.now
            guard (try? await client.send(FrameClient.preface + FrameClient.frame(type: 0x4, flags: 0, stream: 0, payload: []))) != nil,
                  (try? await client.waitFor(recording: false) { $0.contains { $0.type == 0x4 } }) != nil
            else { continue }
            try await client.closed(within: .seconds(10))
            #expect(ContinuousClock.now - sent >= .milliseconds(250))
            checked = true
        }
        #expect(checked, "an HTTP/2 connection was set up and then closed for idleness")
        try await world.stop()
    }

    /// A client that closes its side (FIN) is gone: the edge closes the connection at once, not at
    /// the idle timeout (a minute here), so nothing it held stays behind.
    @Test(.timeLimit(.minutes(1))) func aClientThatClosesItsSideIsLetGoAtOnce() async throws {
        let world = try await World.start(EdgeConfiguration())
        let client = try await world.client()
        try await client.send(FrameClient.preface + FrameClient.frame(type: 0x4, flags: 0, stream: 0, payload: []))
        _ = try await client.waitFor { $0.contains { $0.type == 0x4 } }
        try await client.channel.close(mode: .output)
        try await client.closed(within: .seconds(10))
        try await world.stop()
    }

    /// Rapid Reset (CVE-2023-44487): streams opened and reset at once, past swift-nio-http2's rate
    /// limit (200 RST_STREAM per 30 s), end the connection with GOAWAY ENHANCE_YOUR_CALM.
    @Test(.timeLimit(.minutes(1))) func rapidResetEndsTheConnectionWithEnhanceYourCalm() async throws {
        let world = try await World.start(EdgeConfiguration())
        let client = try await world.client()
        try await client.send(FrameClient.preface + FrameClient.frame(type: 0x4, flags: 0, stream: 0, payload: []))
        var bytes: [UInt8] = []
        for index in 0..<300 {
            let stream = UInt32(2 * index + 1)
            bytes += FrameClient.headers(stream: stream, path: "/", endStream: false)
            bytes += FrameClient.frame(type: 0x3, flags: 0, stream: stream, payload: [0, 0, 0, 0x8])  // CANCEL
        }
        try? await client.send(bytes)
        let frames = try await client.waitFor { $0.contains { $0.type == 0x7 } }
        let goAway = try #require(frames.first { $0.type == 0x7 })
        #expect(Array(goAway.payload[4..<8]) == [0, 0, 0, 0xB], "ENHANCE_YOUR_CALM")
        try await client.closed(within: .seconds(10))
        try await world.stop()
    }
}

/// A client that writes raw HTTP/2 octets and parses the frames it gets back.
final class FrameClient: @unchecked Sendable {
    struct Frame {
        let type: UInt8
        let flags: UInt8
        let stream: UInt32
        let payload: [UInt8]
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    let channel: Channel
    private let received = NIOLockedValueBox<[UInt8]>([])

    init(port: Int, group: EventLoopGroup) async throws {
        let received = self.received
        channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received: received)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    func send(_ bytes: [UInt8]) async throws { try await channel.writeAndFlush(ByteBuffer(bytes: bytes)) }
    func close() async { try? await channel.close() }

    func closed(within bound: Duration) async throws {
        let deadline = ContinuousClock.now + bound
        while channel.isActive && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!channel.isActive, "the edge closed the connection")
    }

    /// The frames received so far, once `condition` holds for them (polled, up to 10 s).
    func waitFor(recording: Bool = true, _ condition: ([Frame]) -> Bool) async throws -> [Frame] {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let frames = Self.parse(received.withLockedValue { $0 })
            if condition(frames) { return frames }
            guard ContinuousClock.now < deadline, recording || channel.isActive else {
                if recording { Issue.record("not received: \(frames.map { "type \($0.type) stream \($0.stream) \($0.payload.prefix(8))" })") }
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    static func parse(_ bytes: [UInt8]) -> [Frame] {
        var frames: [Frame] = []
        var offset = 0
        while bytes.count - offset >= 9 {
            let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            guard bytes.count - offset - 9 >= length else { break }
            let stream = UInt32(bytes[offset + 5] & 0x7F) << 24 | UInt32(bytes[offset + 6]) << 16 | UInt32(bytes[offset + 7]) << 8 | UInt32(bytes[offset + 8])
            frames.append(Frame(type: bytes[offset + 3], flags: bytes[offset + 4], stream: stream,
                                payload: Array(bytes[(offset + 9)..<(offset + 9 + length)])))
            offset += 9 + length
        }
        return frames
    }

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags,
                UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    /// A GET as one HEADERS frame (END_HEADERS), its fields as HPACK literals without indexing.
    static func headers(stream: UInt32, path: String, endStream: Bool) -> [UInt8] {
        var block: [UInt8] = []
        for (name, value) in [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "orders")] {
            block.append(0x00)
            block.append(UInt8(name.utf8.count))
            block += Array(name.utf8)
            block.append(UInt8(value.utf8.count))
            block += Array(value.utf8)
        }
        return frame(type: 0x1, flags: 0x4 | (endStream ? 0x1 : 0), stream: stream, payload: block)
    }

    /// A SETTINGS payload as identifier → value.
    static func settings(_ payload: [UInt8]) -> [UInt16: UInt32] {
        var result: [UInt16: UInt32] = [:]
        var offset = 0
        while payload.count - offset >= 6 {
            let id = UInt16(payload[offset]) << 8 | UInt16(payload[offset + 1])
            let value = UInt32(payload[offset + 2]) << 24 | UInt32(payload[offset + 3]) << 16 | UInt32(payload[offset + 4]) << 8 | UInt32(payload[offset + 5])
            result[id] = value
            offset += 6
        }
        return result
    }

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[UInt8]>

        init(received: NIOLockedValueBox<[UInt8]>) {
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            received.withLockedValue { $0 += Array(bytes.readableBytesView) }
        }
    }
}
