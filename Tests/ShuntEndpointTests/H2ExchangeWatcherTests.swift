import NIOCore
import NIOHPACK
@testable import ShuntEndpoint
import Testing

/// The laptop's view of an HTTP2 tunnel stream: what `H2ExchangeWatcher` reports for the streams
/// of a connection, however the octets are cut, and where it stops following.
@Suite struct H2ExchangeWatcherTests {
    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags,
                UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    /// Two directions with their own HPACK encoders, as a client and a server have.
    struct Peer {
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator())

        mutating func block(_ headers: [(String, String)]) -> [UInt8] {
            var buffer = ByteBuffer()
            try! encoder.encode(headers: HPACKHeaders(headers), to: &buffer)
            return Array(buffer.readableBytesView)
        }
    }

    /// A gRPC call on stream 1 (its request block split over HEADERS and CONTINUATION, padded
    /// DATA), a GET on stream 3 answered 404, and a call on stream 5 cancelled by the caller.
    static func conversation() -> (request: [UInt8], response: [UInt8]) {
        var client = Peer()
        var server = Peer()
        var request = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(type: 0x4, flags: 0, stream: 0, payload: [])
        let call = client.block([(":method", "POST"), (":scheme", "http"), (":path", "/orders.v1.Orders/Get"), (":authority", "orders"),
                                 ("content-type", "application/grpc"), ("te", "trailers")])
        request += frame(type: 0x1, flags: 0x20, stream: 1, payload: [0, 0, 0, 0, 16] + call.prefix(5))  // PRIORITY, no END_HEADERS
        request += frame(type: 0x9, flags: 0x4, stream: 1, payload: Array(call.dropFirst(5)))
        request += frame(type: 0x0, flags: 0x8 | 0x1, stream: 1, payload: [3] + Array(repeating: 7, count: 20) + [0, 0, 0])  // padded
        request += frame(type: 0x1, flags: 0x4 | 0x1, stream: 3, payload: client.block([(":method", "GET"), (":scheme", "http"), (":path", "/missing"), (":authority", "orders")]))
        request += frame(type: 0x1, flags: 0x4, stream: 5, payload: client.block([(":method", "POST"), (":scheme", "http"), (":path", "/orders.v1.Orders/Watch"), (":authority", "orders")]))
        request += frame(type: 0x3, flags: 0, stream: 5, payload: [0, 0, 0, 8])  // CANCEL

        var response = frame(type: 0x4, flags: 0, stream: 0, payload: []) + frame(type: 0x4, flags: 0x1, stream: 0, payload: [])
        response += frame(type: 0x1, flags: 0x4, stream: 1, payload: server.block([(":status", "200"), ("content-type", "application/grpc")]))
        response += frame(type: 0x0, flags: 0, stream: 1, payload: Array(repeating: 1, count: 100))
        response += frame(type: 0x1, flags: 0x4 | 0x1, stream: 1, payload: server.block([("grpc-status", "5"), ("grpc-message", "not found")]))
        response += frame(type: 0x1, flags: 0x4, stream: 3, payload: server.block([(":status", "404")]))
        response += frame(type: 0x0, flags: 0x1, stream: 3, payload: Array("no".utf8))
        return (request, response)
    }

    static let now = ContinuousClock.now

    static func run(pieceSize: Int) -> [H2ExchangeWatcher.Exchange] {
        let (request, response) = conversation()
        var watcher = H2ExchangeWatcher()
        var ended: [H2ExchangeWatcher.Exchange] = []
        let now = Self.now
        // The request side first, then the response side, each cut in pieces.
        for start in stride(from: 0, to: request.count, by: pieceSize) {
            ended += watcher.feed(ByteBuffer(bytes: request[start..<min(start + pieceSize, request.count)]).readableBytesView, direction: .request, at: now)
        }
        for start in stride(from: 0, to: response.count, by: pieceSize) {
            ended += watcher.feed(ByteBuffer(bytes: response[start..<min(start + pieceSize, response.count)]).readableBytesView, direction: .response, at: now)
        }
        #expect(watcher.isFollowing)
        return ended + watcher.finish(at: now)
    }

    @Test func eachStreamIsReportedWithItsRequestAndOutcome() {
        let ended = Self.run(pieceSize: 1 << 20)
        #expect(ended.map(\.stream) == [5, 1, 3], "in the order they ended")
        let cancelled = ended[0], call = ended[1], get = ended[2]
        #expect(cancelled.method == "POST" && cancelled.path == "/orders.v1.Orders/Watch")
        #expect(cancelled.resetCode == 8 && cancelled.status == nil)
        #expect(call.method == "POST" && call.path == "/orders.v1.Orders/Get")
        #expect(call.status == 200 && call.grpcStatus == 5)
        #expect(call.bytesIn == 24, "DATA frame payloads, padding included")
        #expect(call.bytesOut == 100)
        #expect(get.method == "GET" && get.path == "/missing" && get.status == 404 && get.bytesOut == 2)
    }

    @Test(arguments: [1, 2, 3, 7, 9, 10, 64])
    func theSameHoweverTheOctetsAreCut(pieceSize: Int) {
        #expect(Self.run(pieceSize: pieceSize) == Self.run(pieceSize: 1 << 20))
    }

    @Test func aStreamStillOpenAtTheEndIsReportedAsItIs() {
        var client = Peer()
        var watcher = H2ExchangeWatcher()
        let now = ContinuousClock.now
        let bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
            + Self.frame(type: 0x1, flags: 0x4, stream: 1, payload: client.block([(":method", "GET"), (":path", "/slow")]))
        #expect(watcher.feed(ByteBuffer(bytes: bytes).readableBytesView, direction: .request, at: now).isEmpty)
        let open = watcher.finish(at: now + .seconds(2))
        #expect(open.count == 1 && open[0].path == "/slow" && open[0].status == nil && open[0].duration == .seconds(2))
    }

    @Test func whatItCannotFollowEndsTheWatchingNotTheTraffic() {
        var notHTTP2 = H2ExchangeWatcher()
        #expect(notHTTP2.feed(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n").readableBytesView, direction: .request, at: .now).isEmpty)
        #expect(!notHTTP2.isFollowing)

        // A header block over the limit.
        var bounded = H2ExchangeWatcher(maxHeaderBlock: 64)
        let big = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
            + Self.frame(type: 0x1, flags: 0, stream: 1, payload: Array(repeating: 0x40, count: 40))
            + Self.frame(type: 0x9, flags: 0x4, stream: 1, payload: Array(repeating: 0x40, count: 40))
        _ = bounded.feed(ByteBuffer(bytes: big).readableBytesView, direction: .request, at: .now)
        #expect(!bounded.isFollowing)

        // An HPACK block that does not decode.
        var garbled = H2ExchangeWatcher()
        let bad = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Self.frame(type: 0x1, flags: 0x4, stream: 1, payload: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        _ = garbled.feed(ByteBuffer(bytes: bad).readableBytesView, direction: .request, at: .now)
        #expect(!garbled.isFollowing)
        #expect(garbled.finish(at: .now).isEmpty)
    }

    @Test func aLogLineSaysTheGRPCStatusAndTheReset() {
        var line = RequestLogLine(start: .init(timeIntervalSince1970: 0), method: "POST", path: "/orders.v1.Orders/Get", status: 200,
                                  duration: .milliseconds(3), bytesIn: 24, bytesOut: 100)
        line.grpcStatus = 5
        #expect(line.text(timeZone: .gmt) == "00:00:00  POST /orders.v1.Orders/Get  200 grpc-status 5  3.0 ms  in 24 B  out 100 B")
        #expect(line.json.contains("\"grpc_status\":5"))
        line.grpcStatus = nil
        line.status = nil
        line.reset = "CANCEL"
        #expect(line.text(timeZone: .gmt).contains("  - reset CANCEL  "))
        #expect(line.json.contains("\"reset\":\"CANCEL\""))
        #expect(H2RequestObserver.errorName(8) == "CANCEL" && H2RequestObserver.errorName(0x42) == "0x42")
    }
}
