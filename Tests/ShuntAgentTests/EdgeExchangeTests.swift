import NIOCore
@testable import ShuntAgent
import ShuntHTTP1
import Testing

/// The edge's per-connection state machine, fed bytes by hand.
@Suite struct EdgeExchangeTests {
    static let client = ForwardedHeadWriter.ClientAddress("10.1.2.3")!

    /// What the actions do, gathered: the bytes each way, the routes asked, the ends.
    struct Outcome {
        var routes: [String] = []
        var upstream = ""
        var client = ""
        var finishes: [Bool] = []
        var piped = false
        var closed = false
        var retries = 0

        mutating func apply(_ actions: [EdgeExchange.Action], from exchange: EdgeExchange) {
            for action in actions {
                switch action {
                case .route: routes.append(exchange.routingHead.map { String(decoding: $0.requestLine, as: UTF8.self) } ?? "no head")
                case .sendUpstream(let bytes): upstream += String(buffer: bytes)
                case .sendClient(let bytes): client += String(buffer: bytes)
                case .finishUpstream(let reusable): finishes.append(reusable)
                case .pipe: piped = true
                case .closeClient: closed = true
                case .retryOnNewConnection: retries += 1
                }
            }
        }
    }

    /// Where the buffer of `.sendUpstream(head)` in `actions` starts.
    static func forwardedHeadAddress(_ actions: [EdgeExchange.Action]) -> UnsafeRawPointer? {
        for case .sendUpstream(let head) in actions { return head.withUnsafeReadableBytes { $0.baseAddress } }
        return nil
    }

    static let response = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    /// The buffer a head was forwarded in is written again for the next request once the upstream let
    /// go of it; while the upstream still holds it, the next head goes in another buffer and the one
    /// held keeps its octets. A buffer above `maxKeptForwardedHeadCapacity` is not kept.
    @Test func theForwardedHeadsBufferIsReusedOnlyOnceReleased() throws {
        var exchange = EdgeExchange(client: Self.client)
        let request = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        _ = exchange.clientRead(ByteBuffer(string: request))
        var first = exchange.upstreamReady()
        let firstAddress = try #require(Self.forwardedHeadAddress(first))
        #expect(exchange.keptForwardedHeadCapacity > 0)
        #expect(exchange.keptForwardedHeadCapacity <= EdgeExchange.maxKeptForwardedHeadCapacity)
        _ = exchange.upstreamRead(Self.response)
        first.removeAll()  // the upstream wrote it

        _ = exchange.clientRead(ByteBuffer(string: "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"))
        let held = exchange.upstreamReady()  // held by the upstream until the end of the test
        #expect(Self.forwardedHeadAddress(held) == firstAddress)
        _ = exchange.upstreamRead(Self.response)

        _ = exchange.clientRead(ByteBuffer(string: "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"))
        let third = exchange.upstreamReady()
        #expect(Self.forwardedHeadAddress(third) != firstAddress)
        for case .sendUpstream(let head) in held { #expect(String(buffer: head).hasPrefix("GET /b HTTP/1.1\r\n")) }
        for case .sendUpstream(let head) in third { #expect(String(buffer: head).hasPrefix("GET /c HTTP/1.1\r\n")) }
        _ = exchange.upstreamRead(Self.response)

        // A head whose buffer needs more than the kept capacity: forwarded whole, its buffer not kept.
        let large = "GET /d HTTP/1.1\r\nHost: h\r\nX-Big: " + String(repeating: "b", count: EdgeExchange.maxKeptForwardedHeadCapacity) + "\r\n\r\n"
        _ = exchange.clientRead(ByteBuffer(string: large))
        var outcome = Outcome()
        outcome.apply(exchange.upstreamReady(), from: exchange)
        #expect(outcome.upstream.hasPrefix(String(large.dropLast(2))))
        #expect(exchange.keptForwardedHeadCapacity == 0)
        _ = exchange.upstreamRead(Self.response)

        // The largest head whose buffer is kept.
        let fits = "GET /e HTTP/1.1\r\nHost: h\r\n\r\n"
        let padding = EdgeExchange.maxKeptForwardedHeadCapacity - EdgeExchange.forwardedHeadGrowth - fits.utf8.count - "X-P: \r\n".utf8.count
        _ = exchange.clientRead(ByteBuffer(string: "GET /e HTTP/1.1\r\nHost: h\r\nX-P: " + String(repeating: "p", count: padding) + "\r\n\r\n"))
        _ = exchange.upstreamReady()
        #expect(exchange.keptForwardedHeadCapacity == EdgeExchange.maxKeptForwardedHeadCapacity)
    }

    /// The client's octets already consumed do not stay in the connection's buffer: one by one, or
    /// with a pipelined request always waiting, thousands of requests on one keep-alive connection
    /// leave it as large as a few requests need (it grew by every request before).
    @Test func aKeptAliveConnectionsBufferDoesNotGrowWithItsRequests() {
        let request = "GET /orders HTTP/1.1\r\nHost: orders\r\n\r\n"
        var exchange = EdgeExchange(client: Self.client)
        for _ in 0..<3_000 {
            _ = exchange.clientRead(ByteBuffer(string: request))
            _ = exchange.upstreamReady()
            _ = exchange.upstreamRead(Self.response)
        }
        #expect(!exchange.isClosed)
        #expect(exchange.inboundCapacity <= 1024)

        // Two requests always waiting when the next arrives: the buffer never empties, and what was
        // read is dropped once `maxConsumedInboundOctets` of it lie in front of the waiting ones.
        var pipelined = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(pipelined.clientRead(ByteBuffer(string: request + request + request)), from: pipelined)
        var mostConsumed = 0
        for _ in 0..<3_000 {
            outcome.apply(pipelined.upstreamReady(), from: pipelined)
            mostConsumed = max(mostConsumed, pipelined.consumedInboundOctets)
            outcome.apply(pipelined.clientRead(ByteBuffer(string: request)), from: pipelined)
            outcome.apply(pipelined.upstreamRead(Self.response), from: pipelined)  // a waiting request is routed
        }
        // Dropped when the limit is passed, not before: at most one request's octets beyond it.
        #expect(mostConsumed > EdgeExchange.maxConsumedInboundOctets)
        #expect(mostConsumed <= EdgeExchange.maxConsumedInboundOctets + request.utf8.count)
        #expect(!pipelined.isClosed)
        #expect(outcome.routes.count == 3_001)
        #expect(outcome.client == String(repeating: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", count: 3_000))
        #expect(pipelined.inboundCapacity <= 2 * EdgeExchange.maxConsumedInboundOctets)
    }

    @Test func aRequestIsRoutedForwardedWithTheClientAndAnsweredVerbatim() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET /orders?id=1 HTTP/1.1\r\nHost: orders\r\nConnection: keep-alive\r\n\r\n")), from: exchange)
        #expect(outcome.routes == ["GET /orders?id=1 HTTP/1.1"])
        #expect(outcome.upstream.isEmpty)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        #expect(outcome.upstream.hasPrefix("GET /orders?id=1 HTTP/1.1\r\n"))
        #expect(outcome.upstream.lowercased().contains("x-forwarded-for: 10.1.2.3\r\n"))
        #expect(!outcome.upstream.lowercased().contains("connection: keep-alive"))
        #expect(exchange.wantsClientBytes, "reading goes on while the response is awaited")
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")), from: exchange)
        #expect(outcome.finishes.isEmpty)
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "lo")), from: exchange)
        #expect(outcome.client == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect(outcome.finishes == [true])
        #expect(!outcome.closed)
        #expect(exchange.wantsClientBytes)
    }

    /// Two requests in one read: the second is routed only once the first is answered.
    @Test func pipelinedRequestsAreServedOneAtATimeInOrder() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")), from: exchange)
        #expect(outcome.routes == ["GET /a HTTP/1.1"])
        outcome.apply(exchange.upstreamReady(), from: exchange)
        #expect(outcome.routes.count == 1)
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 204 No Content\r\n\r\n")), from: exchange)
        #expect(outcome.routes == ["GET /a HTTP/1.1", "GET /b HTTP/1.1"])
        #expect(outcome.finishes == [true])
    }

    @Test func aChunkedBodyPassesThroughVerbatimWhateverTheSplits() {
        let body = "4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: t\r\n\r\n"
        let request = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        for split in stride(from: 1, to: request.utf8.count, by: 3) {
            var exchange = EdgeExchange(client: Self.client)
            var outcome = Outcome()
            let bytes = Array(request.utf8)
            outcome.apply(exchange.clientRead(ByteBuffer(bytes: bytes[..<split])), from: exchange)
            if outcome.routes.isEmpty {
                outcome.apply(exchange.clientRead(ByteBuffer(bytes: bytes[split...])), from: exchange)
                outcome.apply(exchange.upstreamReady(), from: exchange)
            } else {
                outcome.apply(exchange.upstreamReady(), from: exchange)
                outcome.apply(exchange.clientRead(ByteBuffer(bytes: bytes[split...])), from: exchange)
            }
            #expect(outcome.upstream.hasSuffix("\r\n\r\n" + body), "split at \(split)")
        }
    }

    @Test(arguments: [
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
    ])
    func aSmugglingAttemptGets400AndTheConnectionCloses(request: String) {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: request)), from: exchange)
        #expect(outcome.routes.isEmpty)
        #expect(outcome.client.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(outcome.closed)
    }

    @Test func aContinueIsPassedOnBeforeTheFinalResponse() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "PUT /f HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        #expect(exchange.wantsClientBytes)
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")), from: exchange)
        #expect(outcome.client == "HTTP/1.1 100 Continue\r\n\r\n")
        outcome.apply(exchange.clientRead(ByteBuffer(string: "abc")), from: exchange)
        #expect(outcome.upstream.hasSuffix("\r\n\r\nabc"))
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")), from: exchange)
        #expect(outcome.finishes == [true])
    }

    @Test func anUpgradeBecomesARawPipe() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        #expect(outcome.upstream.lowercased().contains("upgrade: websocket"))
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nFRAME1")), from: exchange)
        #expect(outcome.piped)
        #expect(outcome.client.hasSuffix("\r\n\r\nFRAME1"))
        outcome.apply(exchange.clientRead(ByteBuffer(string: "\u{1}\u{2}raw")), from: exchange)
        #expect(outcome.upstream.hasSuffix("\u{1}\u{2}raw"))
    }

    @Test func anUpstreamThatClosesBeforeAnsweringIsA502() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        outcome.apply(exchange.upstreamEnded(), from: exchange)
        #expect(outcome.client.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        #expect(outcome.client.contains("closed before it answered"))
        #expect(outcome.closed)
        #expect(outcome.finishes == [false])
    }

    @Test func aFailedUpstreamNamesWhatFailed() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamFailed(status: 502, message: "shunt: intercept orders-alice: alice's laptop could not serve the request: nothing listens on 127.0.0.1:8080"), from: exchange)
        #expect(outcome.client.contains("nothing listens on 127.0.0.1:8080"))
        #expect(outcome.closed)
    }

    /// `Connection: close` ends the client's connection after the response; the upstream's, which
    /// never saw that hop-by-hop field, goes back to the pool when the response left it whole. An
    /// HTTP/1.0 request (the app gets it without keep-alive), a response that says close, or octets
    /// after the response end the upstream's too.
    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
        ("GET / HTTP/1.0\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n", false),
    ])
    func connectionCloseEndsTheConnectionAfterTheResponse(request: String, response: String, upstreamKept: Bool) {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: request)), from: exchange)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: response)), from: exchange)
        #expect(outcome.finishes == [upstreamKept])
        #expect(outcome.closed)
    }

    /// A client that closes once its request went out still gets its answer; the upstream's connection,
    /// left whole, is kept.
    @Test func aClientThatLeftAfterItsRequestLeavesTheUpstreamWhole() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        outcome.apply(exchange.clientEnded(), from: exchange)
        #expect(!outcome.closed && outcome.finishes.isEmpty)
        outcome.apply(exchange.upstreamRead(Self.response), from: exchange)
        #expect(outcome.client.hasSuffix("ok"))
        #expect(outcome.finishes == [true])
        #expect(outcome.closed)
    }

    /// An answer before the whole request body (an early 413): the rest of the body cannot be told from
    /// a next request, so the connection ends after the answer.
    @Test func anEarlyAnswerEndsTheConnection() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")), from: exchange)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")), from: exchange)
        #expect(outcome.client.hasPrefix("HTTP/1.1 413"))
        #expect(outcome.closed)
        #expect(outcome.finishes == [false])
    }

    @Test func aCloseDelimitedResponseEndsWithTheUpstreamAndTheConnection() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\nall of it")), from: exchange)
        #expect(outcome.finishes.isEmpty)
        outcome.apply(exchange.upstreamEnded(), from: exchange)
        #expect(outcome.client.hasSuffix("all of it"))
        #expect(outcome.finishes == [false])
        #expect(outcome.closed)
    }
}

extension EdgeExchangeTests {
    /// Found by FuzzEdge (Fuzz/FailCases/FuzzEdge-reflected-host-in-400): the 400 for a bad Host
    /// quoted the request's bytes in its body, as long as the head. The message is now printable
    /// ASCII, at most `maxErrorMessage` octets.
    @Test func anErrorAnswerDoesNotReflectTheRequestsBytes() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        let host = String(repeating: "\u{C4}", count: 2_000)
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n")), from: exchange)
        #expect(outcome.client.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!outcome.client.contains("\u{C4}"))
        #expect(outcome.client.utf8.count < 200 + EdgeExchange.maxErrorMessage)
        #expect(outcome.closed)
    }

    /// While a response is awaited, what the client sends next waits unparsed, up to the head limit:
    /// then reading stops until the response is complete, and the waiting request is served after it.
    @Test func pipelinedBytesWaitUpToTheHeadLimit() {
        let limits = HTTP1Limits()
        var exchange = EdgeExchange(client: Self.client, limits: limits)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: orders\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(), from: exchange)
        let next = "GET /b HTTP/1.1\r\nHost: orders\r\nX-Pad: "
        let pad = String(repeating: "p", count: limits.maxHeadSize - next.utf8.count - 5)
        outcome.apply(exchange.clientRead(ByteBuffer(string: next + pad)), from: exchange)
        #expect(exchange.wantsClientBytes, "one octet under the limit")
        #expect(outcome.routes.count == 1)
        outcome.apply(exchange.clientRead(ByteBuffer(string: "\r\n")), from: exchange)
        #expect(exchange.wantsClientBytes, "still under the limit")
        outcome.apply(exchange.clientRead(ByteBuffer(string: "\r\n")), from: exchange)
        #expect(exchange.wantsClientBytes, "still under the limit")
        outcome.apply(exchange.clientRead(ByteBuffer(string: "x")), from: exchange)
        #expect(!exchange.wantsClientBytes, "at the limit")
        #expect(outcome.routes.count == 1, "the next request is not parsed before this one is answered")
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 204 No Content\r\n\r\n")), from: exchange)
        #expect(outcome.finishes == [true])
        #expect(outcome.routes.count == 2, "the waiting request is routed once the response is complete")
    }

    // MARK: A reused connection closed by the app as the request took it

    /// A GET on a reused connection that the app closed before answering is sent again, once, on a
    /// new connection; the client sees only the answer.
    @Test func aSafeRequestOnAReusedConnectionThatClosedIsSentAgainOnce() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(reused: true), from: exchange)
        let firstSend = outcome.upstream
        outcome.apply(exchange.upstreamEnded(), from: exchange)
        #expect(outcome.retries == 1 && outcome.finishes == [false] && outcome.client.isEmpty && !outcome.closed)
        #expect(!exchange.wantsClientBytes, "waiting for the new connection")
        outcome.apply(exchange.upstreamReady(), from: exchange)
        #expect(outcome.upstream == firstSend + firstSend, "the same request again")
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), from: exchange)
        #expect(outcome.client == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(outcome.finishes == [false, true])

        // The next request may be retried again; a second failure of the same request is a 502.
        outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(reused: true), from: exchange)
        outcome.apply(exchange.upstreamFailed(status: 502, message: "connection reset"), from: exchange)
        #expect(outcome.retries == 1)
        outcome.apply(exchange.upstreamReady(reused: true), from: exchange)
        outcome.apply(exchange.upstreamEnded(), from: exchange)
        #expect(outcome.retries == 1)
        #expect(outcome.client.hasPrefix("HTTP/1.1 502 Bad Gateway"))
        #expect(outcome.closed)
    }

    @Test(arguments: [
        ("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", true, "not safe"),
        ("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", true, "not safe, has a body"),
        ("GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", true, "has a body"),
        ("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", false, "a new connection, not a reused one"),
    ])
    func otherRequestsAreNotSentAgain(request: String, reused: Bool, why: String) {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: request)), from: exchange)
        outcome.apply(exchange.upstreamReady(reused: reused), from: exchange)
        outcome.apply(exchange.upstreamEnded(), from: exchange)
        #expect(outcome.retries == 0, "\(why)")
        #expect(outcome.client.hasPrefix("HTTP/1.1 502 Bad Gateway"), "\(why)")
    }

    /// A kept tunnel stream refused the request (REFUSED_STREAM: the laptop had ended it, nothing of
    /// the request was processed): any bodiless request goes out again on a new stream, a POST
    /// included; one with a body cannot (its octets are gone) and gets 502, as does a refusal of a
    /// fresh upstream or a second refusal.
    @Test(arguments: [
        ("POST /a HTTP/1.1\r\nHost: x\r\n\r\n", true, 1, "bodiless POST on a kept stream"),
        ("DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n", true, 1, "bodiless DELETE on a kept stream"),
        ("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", true, 0, "its body went out"),
        ("POST /a HTTP/1.1\r\nHost: x\r\n\r\n", false, 0, "a fresh stream is never refused for crossing"),
    ])
    func aRefusedRequestIsSentAgainWhenTheExchangeStillHasItWhole(request: String, reused: Bool, retries: Int, why: String) {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: request)), from: exchange)
        outcome.apply(exchange.upstreamReady(reused: reused), from: exchange)
        let firstSend = outcome.upstream
        outcome.apply(exchange.upstreamRefused(status: 502, message: "refused"), from: exchange)
        #expect(outcome.retries == retries, "\(why)")
        if retries == 1 {
            #expect(outcome.client.isEmpty && !outcome.closed, "\(why)")
            outcome.apply(exchange.upstreamReady(), from: exchange)
            #expect(outcome.upstream == firstSend + firstSend, "the same request again: \(why)")
            outcome.apply(exchange.upstreamRefused(status: 502, message: "refused again"), from: exchange)
            #expect(outcome.retries == 1, "once only: \(why)")
        }
        #expect(outcome.client.hasPrefix("HTTP/1.1 502 Bad Gateway"), "\(why)")
        #expect(outcome.closed, "\(why)")
    }

    /// Once the answer began, nothing is sent again: the client gets what came, then the close.
    @Test func noRetryOnceTheAnswerBegan() {
        var exchange = EdgeExchange(client: Self.client)
        var outcome = Outcome()
        outcome.apply(exchange.clientRead(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")), from: exchange)
        outcome.apply(exchange.upstreamReady(reused: true), from: exchange)
        outcome.apply(exchange.upstreamRead(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npar")), from: exchange)
        outcome.apply(exchange.upstreamEnded(), from: exchange)
        #expect(outcome.retries == 0 && outcome.closed)
    }

    /// What one upstream read passes on leaves as few writes as its memory allows: a head and its
    /// body read together are one slice of the read; the octets are the response's, whatever the splits.
    @Test func aResponseReadWholeLeavesAsOneWriteAndVerbatimWhateverTheSplits() {
        let responses = [
            "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ncluster\n",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: t\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
        ]
        for response in responses {
            let octets = Array(response.utf8)
            for split in 0..<octets.count {
                var exchange = EdgeExchange(client: Self.client)
                var outcome = Outcome()
                outcome.apply(exchange.clientRead(ByteBuffer(string: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")), from: exchange)
                outcome.apply(exchange.upstreamReady(), from: exchange)
                var writes = 0
                for piece in [octets[..<split], octets[split...]] where !piece.isEmpty {
                    let actions = exchange.upstreamRead(ByteBuffer(bytes: piece))
                    writes += actions.filter { if case .sendClient = $0 { true } else { false } }.count
                    outcome.apply(actions, from: exchange)
                }
                #expect(outcome.client == response, "split at \(split)")
                #expect(outcome.finishes == [true], "split at \(split)")
                if split == 0 { #expect(writes == 1, "read whole: one write to the client") }
            }
        }
    }
}
