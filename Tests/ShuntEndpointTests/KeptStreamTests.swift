import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntEndpoint
import ShuntSession
import ShuntTLS
import ShuntTestSupport
import ShuntWire
import Testing

/// The laptop serves an HTTP stream as a caller's keep-alive connection (spec §10.2): exchange after
/// exchange on one stream, each on a pooled connection to the local service, one log line each; the
/// agent's FIN between exchanges is answered with FIN; a request after the laptop ended the stream is
/// refused; a service gone between exchanges resets the stream with the reason.
@Suite(.timeLimit(.minutes(1))) struct KeptStreamTests {
    static let request = Array("GET /api HTTP/1.1\r\nHost: orders\r\n\r\n".utf8)
    static let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)

    @Test func theLaptopAdvertisesKeptStreamsAndCreditForThem() {
        let settings = InterceptClient.sessionConfiguration.settings
        #expect(settings.servesHTTPKeepAlive)
        #expect(settings.initialMaxStreams == InterceptClient.maxStreams)
        #expect(settings.helloSettings.contains(Setting(.httpKeepAlive, 1)))
    }

    @Test func oneStreamCarriesExchangeAfterExchangeAndTheAgentsFINIsAnswered() async throws {
        let events = EventRecorder()
        let world = try await PoolWorld.start(response: Self.response, pool: LocalPoolLimits(idleTimeout: .seconds(60)), events: events.sink)
        let stream = try await KeptStream.open(on: world.connection, requestID: "41")
        for round in 1...5 {
            let answer = try await stream.exchange(Self.request, responseLength: Self.response.count)
            #expect(answer == Self.response, "exchange \(round)")
        }
        #expect(world.local.requests == 5)
        #expect(world.local.accepted.withLockedValue { $0 } == 1, "one connection from the pool served all five")
        try await stream.finish()  // our FIN between exchanges: the laptop answers with its own

        let lines = events.all.compactMap { event -> RequestLogLine? in
            if case .request(let line) = event { return line }
            return nil
        }
        #expect(lines.map(\.requestID) == ["41", "41.2", "41.3", "41.4", "41.5"])
        #expect(lines.allSatisfy { $0.method == "GET" && $0.path == "/api" && $0.status == 200 && $0.bytesOut == Self.response.count })
        #expect(lines.allSatisfy { $0.bytesIn == Self.request.count })
        try await world.stop()
    }

    /// A later exchange of a kept stream whose reused connection the service closes as the request
    /// arrives is sent again on a new connection, exactly as it went out: the copy kept for sending
    /// it again lives in storage the stream reuses from one exchange to the next, and holds that
    /// exchange's octets only (a longer request before it leaves nothing behind).
    @Test func aLaterExchangeIsSentAgainAsItWentOutWhenItsReusedConnectionClosesOnIt() async throws {
        let world = try await PoolWorld.start(response: Self.response, closeOnRequest: 3, pool: LocalPoolLimits(idleTimeout: .seconds(60)))
        let stream = try await KeptStream.open(on: world.connection, requestID: "5")
        // /a on a new connection; /bbbb reuses it; /c reuses it, is dropped, and goes out again on a second one.
        for path in ["/a", "/bbbb", "/c"] {
            let request = Array("GET \(path) HTTP/1.1\r\nHost: orders\r\n\r\n".utf8)
            #expect(try await stream.exchange(request, responseLength: Self.response.count) == Self.response, "\(path)")
        }
        #expect(world.local.answered.withLockedValue { $0 } == ["GET /a HTTP/1.1", "GET /bbbb HTTP/1.1", "GET /c HTTP/1.1"])
        #expect(world.local.accepted.withLockedValue { $0 } == 2)
        try await world.stop()
    }

    /// A response that says `Connection: close` ends the stream after it (FIN); a request that the
    /// agent sent before that FIN reached it is refused: nothing of it reached the service.
    @Test func aRequestAfterTheLaptopEndedTheStreamIsRefused() async throws {
        let closing = Array("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".utf8)
        let world = try await PoolWorld.start(response: closing, pool: LocalPoolLimits(idleTimeout: .seconds(60)))
        let stream = try await KeptStream.open(on: world.connection, requestID: "7")
        #expect(try await stream.exchange(Self.request, responseLength: closing.count) == closing)
        try await stream.waitForFIN()
        let refusal = try await stream.sendExpectingReset(Self.request)
        #expect(refusal.code == .refusedStream)
        #expect(world.local.requests == 1)
        try await world.stop()
    }

    /// Between two exchanges the pooled connection idles out and the service stops listening: the
    /// next request on the kept stream resets it with CONNECT_ERROR, naming the address.
    @Test func aServiceGoneBetweenExchangesResetsTheStreamWithTheReason() async throws {
        let events = EventRecorder()
        let world = try await PoolWorld.start(response: Self.response, pool: LocalPoolLimits(idleTimeout: .milliseconds(50)), events: events.sink)
        let stream = try await KeptStream.open(on: world.connection, requestID: "9")
        #expect(try await stream.exchange(Self.request, responseLength: Self.response.count) == Self.response)
        let port = world.local.port
        await world.local.stop()
        // Held until the end: no other test's server can be given the port and answer instead.
        let gone = try ReservedPort(port: port)
        defer { withExtendedLifetime(gone) {} }
        let since = ContinuousClock.now
        while world.local.open.withLockedValue({ $0 }) != 0 && ContinuousClock.now - since < .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let reset = try await stream.sendExpectingReset(Self.request)
        #expect(reset.code == .connectError)
        #expect(reset.reason.contains("nothing listens on 127.0.0.1:\(port)"), "\(reset.reason)")
        // The second exchange's line says it was not served; the first's, that it was.
        let lines = events.all.compactMap { event -> RequestLogLine? in if case .request(let line) = event { line } else { nil } }
        #expect(lines.map(\.requestID) == ["9", "9.2"])
        #expect(lines.map(\.status) == [200, nil])
        #expect(lines.map(\.failure) == [nil, "local service unreachable"])
        #expect(lines.last?.path == "/api")
        try await world.stop()
    }
}

/// The agent's end of one HTTP stream kept for several exchanges.
struct KeptStream: @unchecked Sendable {
    let channel: Channel
    let probe: KeptStreamProbe

    static func open(on connection: ShuntConnection, requestID: String) async throws -> KeptStream {
        let loop = connection.channel.eventLoop
        let metadata = StreamMetadata([(key: "intercept", value: "orders-alice"), (key: "client", value: "10.1.2.3:40000"),
                                       (key: "port", value: "8080"), (key: "request-id", value: requestID)])
        let probe = KeptStreamProbe(eventLoop: loop)
        let session = connection.session
        let channel = try await loop.flatSubmit {
            session.openStream(kind: .http, metadata: metadata) { stream in
                stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(probe) }
            }
        }.awaited()
        return KeptStream(channel: channel, probe: probe)
    }

    /// Sends `request` and returns the next `responseLength` octets that come back.
    func exchange(_ request: [UInt8], responseLength: Int) async throws -> [UInt8] {
        let answer = try await channel.eventLoop.flatSubmit {
            let future = probe.expect(responseLength)
            channel.writeAndFlush(ByteBuffer(bytes: request), promise: nil)
            return future
        }.get()
        return answer
    }

    func waitForFIN() async throws { try await probe.ended.futureResult.awaited() }

    /// FIN from our side, then the laptop's.
    func finish() async throws {
        try await channel.close(mode: .output)
        try await waitForFIN()
        try await channel.closeFuture.awaited()
    }

    func sendExpectingReset(_ request: [UInt8]) async throws -> StreamResetError {
        channel.writeAndFlush(ByteBuffer(bytes: request), promise: nil)
        return try await probe.reset.futureResult.awaited()
    }
}

final class KeptStreamProbe: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let eventLoop: EventLoop
    let ended: EventLoopPromise<Void>
    let reset: EventLoopPromise<StreamResetError>
    private var bytes: [UInt8] = []
    private var waiting: (count: Int, promise: EventLoopPromise<[UInt8]>)?

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        ended = eventLoop.makePromise()
        reset = eventLoop.makePromise()
    }

    func expect(_ count: Int) -> EventLoopFuture<[UInt8]> {
        let promise = eventLoop.makePromise(of: [UInt8].self)
        waiting = (count, promise)
        deliver()
        return promise.futureResult
    }

    private func deliver() {
        guard let (count, promise) = waiting, bytes.count >= count else { return }
        waiting = nil
        let answer = Array(bytes.prefix(count))
        bytes.removeFirst(count)
        promise.succeed(answer)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += Array(unwrapInboundIn(data).readableBytesView)
        deliver()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { ended.succeed() }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let error = error as? StreamResetError { reset.succeed(error) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        ended.succeed()
        reset.fail(ChannelError.eof)
        waiting?.promise.fail(ChannelError.eof)
        waiting = nil
    }
}
