import NIOCore
import ShuntEndpoint
import Testing

/// When a pooled connection to the local service may serve the next stream: a table of exchanges,
/// each also fed split at every octet boundary.
@Suite struct LocalExchangeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let request: String
        let response: String
        /// The octet of the response at which it completes; nil when it never does.
        let completesAt: Int?
        let reusable: Bool
        var testDescription: String { name }
    }

    static let get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    static let cases: [Case] = [
        Case(name: "content-length", request: get, response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", completesAt: 43, reusable: true),
        Case(name: "chunked with trailers", request: get,
             response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", completesAt: 70, reusable: true),
        Case(name: "POST with a body", request: "POST /o HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
             response: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", completesAt: 43, reusable: true),
        Case(name: "HEAD has no body whatever its length", request: "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n",
             response: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", completesAt: 39, reusable: true),
        Case(name: "204", request: get, response: "HTTP/1.1 204 No Content\r\n\r\n", completesAt: 27, reusable: true),
        Case(name: "304", request: get, response: "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", completesAt: 49, reusable: true),
        Case(name: "100-continue then the final answer", request: "POST /o HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
             response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", completesAt: 63, reusable: true),
        Case(name: "close-delimited", request: get, response: "HTTP/1.1 200 OK\r\n\r\nuntil the end", completesAt: nil, reusable: false),
        Case(name: "the service says close", request: get, response: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
             completesAt: 57, reusable: false),
        Case(name: "the request says close", request: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", completesAt: 38, reusable: false),
        Case(name: "HTTP/1.0 without keep-alive", request: get, response: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
             completesAt: 38, reusable: false),
        Case(name: "answered before the request body arrived", request: "POST /o HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
             response: "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n", completesAt: 53, reusable: false),
        Case(name: "extra octets after the response", request: get, response: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy",
             completesAt: 39, reusable: false),
        Case(name: "switching protocols", request: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
             response: "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", completesAt: nil, reusable: false),
        Case(name: "a response that does not parse", request: get, response: "HTTP/1.1 2OO OK\r\n\r\n", completesAt: nil, reusable: false),
    ]

    /// The request split at every octet with the response whole, then the response split at every
    /// octet (and the rest fed one octet at a time) with the request whole.
    @Test(arguments: cases) func wholeAndSplitAtEveryOctet(_ c: Case) {
        let request = Array(c.request.utf8)
        let response = Array(c.response.utf8)
        for requestSplit in 0...request.count {
            var exchange = LocalExchange()
            exchange.requestRead(ByteBuffer(bytes: request[..<requestSplit]))
            exchange.requestRead(ByteBuffer(bytes: request[requestSplit...]))
            let completes = exchange.responseRead(ByteBuffer(bytes: response))
            #expect(completes == (c.completesAt != nil), "\(c.name): request split \(requestSplit)")
            #expect(exchange.reusable == c.reusable, "\(c.name): request split \(requestSplit)")
        }
        for responseSplit in 0...response.count {
            var exchange = LocalExchange()
            exchange.requestRead(ByteBuffer(bytes: request))
            var completedAt: Int?
            if exchange.responseRead(ByteBuffer(bytes: response[..<responseSplit])) { completedAt = responseSplit }
            var fed = responseSplit
            while fed < response.count {
                let completes = exchange.responseRead(ByteBuffer(bytes: response[fed..<fed + 1]))
                fed += 1
                if completes {
                    #expect(completedAt == nil, "completes once")
                    completedAt = fed
                }
            }
            if responseSplit <= (c.completesAt ?? 0) {
                #expect(completedAt == c.completesAt, "\(c.name): response split \(responseSplit)")
            }
            #expect(exchange.reusable == c.reusable, "\(c.name): response split \(responseSplit)")
        }
    }

    @Test func aSecondRequestOnOneStreamSpendsTheConnection() {
        var exchange = LocalExchange()
        exchange.requestRead(ByteBuffer(string: Self.get))
        exchange.requestRead(ByteBuffer(string: Self.get))
        // Not followed any further: the connection ends with the stream, as an unpooled one would.
        let completes = exchange.responseRead(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(!completes)
        #expect(!exchange.reusable)
        #expect(exchange.spent)
    }

    @Test func aResponseBeforeAnyRequestSpendsTheConnection() {
        var exchange = LocalExchange()
        let completes = exchange.responseRead(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(!completes)
        #expect(exchange.spent)
        #expect(!exchange.reusable)
    }

    @Test func aRequestHeadOverTheLimitSpendsTheConnection() {
        var exchange = LocalExchange()
        let huge = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: exchange.limits.maxHeadSize) + "\r\n\r\n"
        exchange.requestRead(ByteBuffer(string: huge))
        #expect(exchange.spent)
    }

    /// Which requests may be sent again after a reused connection closed on them: complete, safe
    /// and bodiless ones, and only while nothing of the answer came.
    @Test(arguments: [
        ("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", true),
        ("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n", true),
        ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", true),
        ("TRACE /a HTTP/1.1\r\nHost: x\r\n\r\n", true),
        ("GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", false),
        ("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", false),
        ("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", false),
        ("DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n", false),
        ("GET /a HTTP/1.1\r\nHost: x\r\n", false),
    ])
    func mayResend(request: String, expected: Bool) {
        var exchange = LocalExchange()
        exchange.requestRead(ByteBuffer(string: request))
        #expect(exchange.mayResend == expected)
        _ = exchange.responseRead(ByteBuffer(string: "H"))
        #expect(!exchange.mayResend, "an octet of the answer came")
    }

    /// Nothing of the buffers read is kept: they are slices of the session's TLS plaintext buffer,
    /// and a slice kept past the read made the next TLS read copy that whole buffer (copy-on-write).
    /// Seen from outside: a write into the buffer after the exchange read it leaves it where it was.
    @Test func theBuffersReadAreNotKept() {
        var exchange = LocalExchange()
        for (octets, isRequest) in [("GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", true),
                                    ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false)] {
            var buffer = ByteBufferAllocator().buffer(capacity: 4096)
            buffer.writeString(octets)
            let before = buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
            if isRequest { exchange.requestRead(buffer) } else { _ = exchange.responseRead(buffer) }
            buffer.clear()  // unique: keeps its storage; shared: takes new storage
            buffer.writeString("x")
            #expect(buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) } == before, "\(octets.prefix(8)) kept")
        }
        #expect(exchange.reusable)
    }
}
