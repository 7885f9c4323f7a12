import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
@testable import ShuntAgent
import ShuntHTTP1
import ShuntMatch
import ShuntSession
import Testing

/// The pure parts of the HTTP/2 edge: the preface test, the routable view of a header block, the
/// forwarding fields and the answers to a lost upstream.
@Suite struct HTTP2EdgeUnitTests {
    /// Flushes asked for in one turn of the loop leave together at its end, except that the
    /// `maxBatch`-th since the last one that left goes at once; a close sends what waits.
    @Test func flushesLeaveAtTheEndOfTheTurnOrAtTheBound() throws {
        final class FlushCounter: ChannelOutboundHandler {
            typealias OutboundIn = Any
            var flushes = 0
            func flush(context: ChannelHandlerContext) {
                flushes += 1
                context.flush()
            }
        }
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let counter = FlushCounter()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer(maxBatch: 16))
        for _ in 0..<15 { channel.pipeline.flush() }
        #expect(counter.flushes == 0)
        channel.pipeline.flush()  // the 16th
        #expect(counter.flushes == 1)
        for _ in 0..<20 { channel.pipeline.flush() }
        #expect(counter.flushes == 2)  // the 32nd
        loop.run()
        #expect(counter.flushes == 3)  // the last 4, at the end of the turn
        loop.run()
        #expect(counter.flushes == 3)

        channel.pipeline.flush()
        _ = channel.close()
        #expect(counter.flushes == 4)  // before the close, not after the turn
        loop.run()
        #expect(counter.flushes == 4)
        #expect(FlushCoalescer().maxBatch == TickFlushes.defaultMaxBatch)
    }

    @Test func thePrefaceDecidesAtTheFirstOctetThatDiffers() {
        let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        func classify(_ text: String) -> ConnectionPreface.Decision {
            ConnectionPreface.classify(ByteBuffer(string: text).readableBytesView)
        }
        func classify(_ octets: ArraySlice<UInt8>) -> ConnectionPreface.Decision {
            ConnectionPreface.classify(ByteBuffer(bytes: octets).readableBytesView)
        }
        #expect(classify("") == .needMore)
        for length in 1..<24 {
            #expect(classify(Array(preface.utf8).prefix(length)) == .needMore, "\(length) octets")
        }
        #expect(classify(preface) == .http2)
        #expect(classify(preface + "\u{0}\u{0}\u{12}\u{4}") == .http2, "the SETTINGS frame may follow in the same read")
        #expect(classify("GET / HTTP/1.1\r\n") == .http1)
        #expect(classify("POST / HTTP/1.1\r\n") == .http1, "P is shared, O is not")
        #expect(classify("PRI * HTTP/1.1\r\n") == .http1)
        #expect(classify("pri * HTTP/2.0\r\n\r\nSM\r\n\r\n") == .http1, "the preface is case-sensitive")
        #expect(classify("\u{16}\u{3}\u{1}") == .http1, "anything else, TLS included, is left to the HTTP/1.1 edge")
    }

    private func request(_ fields: [(String, String)]) -> H2RoutableRequest {
        H2RoutableRequest(headers: HPACKHeaders(fields))
    }

    private func path(_ request: H2RoutableRequest) -> String {
        request.withPath { String(decoding: $0, as: UTF8.self) }
    }

    private func values(_ request: H2RoutableRequest, _ name: String) -> [String] {
        var seen: [String] = []
        _ = Array(name.utf8).withUnsafeBytes { name in
            request.containsHeader(named: name) { value in
                seen.append(String(decoding: value, as: UTF8.self))
                return false
            }
        }
        return seen
    }

    @Test func thePathIsPathUpToTheQueryAndPseudoHeadersAreNotHeaders() {
        let call = request([(":method", "POST"), (":scheme", "http"), (":authority", "orders:8080"), (":path", "/orders.v1.Orders/Get?x=1#f"),
                            ("content-type", "application/grpc"), ("x-dev", " alice "), ("x-dev", "bob"), ("path", "/other")])
        #expect(path(call) == "/orders.v1.Orders/Get")
        #expect(values(call, "x-dev") == ["alice", "bob"], "each field line, trimmed, in order")
        #expect(values(call, "path") == ["/other"], "a regular field named path is a header")
        #expect(values(call, ":path").isEmpty, "pseudo-header fields are never matched as headers")
        #expect(values(call, "authority").isEmpty)
        #expect(path(request([(":method", "CONNECT"), (":authority", "x:1")])) == "", "no :path, no path")
    }

    @Test func routingAnHTTP2RequestUsesTheSameRulesAsHTTP1() throws {
        var table = InterceptTable()
        try table.add(InterceptRule(owner: "alice", name: "alice", spec: try RuleFlags(httpHeader: ["x-dev=alice"], pathPrefix: ["/orders.v1.Orders"]).spec()))
        let matched = request([(":method", "POST"), (":path", "/orders.v1.Orders/Get"), ("x-dev", "alice")])
        let otherPath = request([(":method", "POST"), (":path", "/billing.v1.Billing/Get"), ("x-dev", "alice")])
        let noHeader = request([(":method", "POST"), (":path", "/orders.v1.Orders/Get")])
        #expect(table.route(matched).interceptName == "alice")
        #expect(table.route(otherPath).interceptName == nil)
        #expect(table.route(noHeader).interceptName == nil)
    }

    @Test func forwardingAppendsTheClientToBothForwardingFields() throws {
        let client = try #require(ForwardedHeadWriter.ClientAddress("10.0.0.7"))
        let plain = H2ForwardedHeaders.forwarded(HPACKHeaders([(":method", "GET"), (":path", "/"), ("te", "trailers")]), client: client)
        #expect(plain[":method"] == ["GET"])
        #expect(plain["te"] == ["trailers"], "te: trailers passes (gRPC needs it)")
        #expect(plain["x-forwarded-for"] == ["10.0.0.7"])
        #expect(plain["forwarded"] == ["for=10.0.0.7;proto=http"])
        let chained = H2ForwardedHeaders.forwarded(HPACKHeaders([(":path", "/"), ("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "5.6.7.8"),
                                                                  ("forwarded", "for=1.2.3.4")]), client: try #require(.init("::1")))
        #expect(chained["x-forwarded-for"] == ["1.2.3.4, 5.6.7.8, ::1"])
        #expect(chained["forwarded"] == ["for=1.2.3.4, for=\"[::1]\";proto=http"])
    }

    @Test func gRPCIsToldByItsContentType() {
        #expect(H2ForwardedHeaders.isGRPC(HPACKHeaders([("content-type", "application/grpc")])))
        #expect(H2ForwardedHeaders.isGRPC(HPACKHeaders([("content-type", "application/grpc+proto")])))
        #expect(H2ForwardedHeaders.isGRPC(HPACKHeaders([("content-type", "Application/GRPC")])))
        #expect(!H2ForwardedHeaders.isGRPC(HPACKHeaders([("content-type", "application/grpc-web")])))
        #expect(!H2ForwardedHeaders.isGRPC(HPACKHeaders([("content-type", "application/json")])))
        #expect(!H2ForwardedHeaders.isGRPC(HPACKHeaders()))
    }

    @Test func aLostUpstreamIsAnsweredAsTheCallerUnderstandsIt() throws {
        // gRPC before the response: trailers-only UNAVAILABLE.
        let early = H2Failure.answer(grpc: true, responseStarted: false, message: "shunt: alice's laptop went away")
        guard case .headers(let trailersOnly) = try #require(early.first), early.count == 1 else { Issue.record("\(early)"); return }
        #expect(trailersOnly.endStream)
        #expect(trailersOnly.headers[":status"] == ["200"])
        #expect(trailersOnly.headers["content-type"] == ["application/grpc"])
        #expect(trailersOnly.headers["grpc-status"] == ["14"])
        #expect(trailersOnly.headers["grpc-message"] == ["shunt: alice's laptop went away"])
        // gRPC after the response began: trailers only, no status.
        let late = H2Failure.answer(grpc: true, responseStarted: true, message: "gone")
        guard case .headers(let trailers) = try #require(late.first) else { Issue.record("\(late)"); return }
        #expect(trailers.headers[":status"].isEmpty)
        #expect(trailers.headers["grpc-status"] == ["14"])
        // Plain HTTP/2 before the response: 502 with the reason.
        let plain = H2Failure.answer(grpc: false, responseStarted: false, message: "shunt: the app is unreachable")
        guard case .headers(let head) = plain[0], case .data(let body) = plain[1] else { Issue.record("\(plain)"); return }
        #expect(head.headers[":status"] == ["502"])
        #expect(head.headers["content-length"] == ["30"])
        #expect(body.endStream)
        guard case .byteBuffer(let text) = body.data else { Issue.record("not a buffer"); return }
        #expect(String(buffer: text) == "shunt: the app is unreachable\n")
        // Plain HTTP/2 after the response began: a reset, never a response that looks complete.
        guard case .rstStream(let code) = try #require(H2Failure.answer(grpc: false, responseStarted: true, message: "x").first) else {
            Issue.record("no reset"); return
        }
        #expect(code == .internalError)
    }

    @Test func grpcMessageIsPercentEncoded() {
        #expect(H2Failure.percentEncoded("plain text: ok") == "plain text: ok")
        #expect(H2Failure.percentEncoded("100%") == "100%25")
        #expect(H2Failure.percentEncoded("a\nb") == "a%0Ab")
        #expect(H2Failure.percentEncoded("café") == "caf%C3%A9")
    }
}
