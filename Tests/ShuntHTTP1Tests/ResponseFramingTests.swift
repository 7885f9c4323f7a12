import NIOCore
import ShuntHTTP1
import ShuntOracles
import Testing

/// RFC 9112 §6.3 for responses: what follows a head depends on the status and the request's method.
@Suite struct ResponseFramingTests {
    typealias Step = HTTP1Invariants.Step

    func framing(_ head: String, method: HTTPMethod = .get, upgrade: Bool = false) throws -> ResponseFraming {
        var parser = ResponseHeadParser()
        var input = ByteBuffer(string: head)
        return try #require(try parser.parse(&input, requestMethod: method, requestedUpgrade: upgrade)).framing
    }

    @Test func theRulesInOrder() throws {
        #expect(try framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method: .head) == .body(.none))
        #expect(try framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method: .head) == .body(.none))
        #expect(try framing("HTTP/1.1 204 No Content\r\n\r\n") == .body(.none))
        #expect(try framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n") == .body(.none))
        #expect(try framing("HTTP/1.1 100 Continue\r\n\r\n") == .interim)
        #expect(try framing("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n") == .interim)
        #expect(try framing("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", upgrade: true)
            == .switchingProtocols)
        #expect(try framing("HTTP/1.1 200 Connection established\r\n\r\n", method: .connect) == .tunnel)
        #expect(try framing("HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n", method: .connect) == .body(.contentLength(0)))
        #expect(try framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == .body(.chunked))
        #expect(try framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") == .body(.closeDelimited))
        #expect(try framing("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n") == .body(.contentLength(7)))
        #expect(try framing("HTTP/1.1 200 OK\r\n\r\n") == .body(.closeDelimited))
        #expect(try framing("HTTP/1.0 200 OK\r\n\r\n") == .body(.closeDelimited))
        #expect(try framing("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n") == .body(.contentLength(0)), "no SP before an empty reason")
    }

    @Test func badResponsesAreRefused() throws {
        let cases: [(String, String)] = [
            ("HTTP/1.1 101 Switching Protocols\r\n\r\n", "UNEXPECTED_101"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "CL_AND_TE"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "DUPLICATE_CL"),
            ("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "TE_IN_HTTP10"),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "CHUNKED_TWICE"),
            ("HTTP/1.1 20 OK\r\n\r\n", "BAD_STATUS_LINE"),
            ("HTTP/1.1 099 Low\r\n\r\n", "BAD_STATUS_LINE"),
            ("HTTP/1.1 200OK\r\n\r\n", "BAD_STATUS_LINE"),
            ("HTTP/2 200 OK\r\n\r\n", "BAD_STATUS_LINE"),
            ("HTTP/3.0 200 OK\r\n\r\n", "UNSUPPORTED_VERSION"),
            ("\r\nHTTP/1.1 200 OK\r\n\r\n", "LEADING_EMPTY_LINES"),
            ("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "BARE_LF"),
            ("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "OBS_FOLD"),
        ]
        for (text, code) in cases {
            let steps = responseSteps(text, methods: [.get])
            guard case .error(let got, _)? = steps.last else {
                Issue.record("accepted: \(text.debugDescription)")
                continue
            }
            #expect(got == code, "\(text.debugDescription)")
        }
    }

    @Test func interimResponsesThenTheFinalOne() {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        let steps = responseSteps(text, methods: [.post])
        #expect(steps.count == 5)
        #expect(steps[3] == .body(bytes("ok")))
        #expect(responseSteps(text, methods: [.post], pieces: [1]) == steps)
    }

    @Test func aHeadResponseHasNoBodyAndTheNextResponseFollows() {
        // Exchange 0 answers HEAD (Content-Length is not followed by a body), exchange 1 a GET.
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        let steps = responseSteps(text, methods: [.head, .get])
        #expect(steps.count == 5)
        #expect(steps[1] == .end(trailers: []))
        #expect(steps[3] == .body(bytes("hello")))
    }

    @Test func switchingProtocolsMakesTheConnectionARawPipe() {
        // Exchanges 0 and 1 are plain; exchange 2 asked to upgrade (see HTTP1Invariants.responses).
        let plain = "HTTP/1.1 204 No Content\r\n\r\n"
        let text = plain + plain + "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{01}\u{05}hello"
        let steps = responseSteps(text, methods: [.get])
        #expect(steps.last == .raw([0x01, 0x05] + bytes("hello")))
        #expect(responseSteps(text, methods: [.get], pieces: [1]) == steps)
    }

    @Test func aCloseDelimitedBodyEndsWithTheConnection() {
        let steps = responseSteps("HTTP/1.1 200 OK\r\n\r\nall of this\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", methods: [.get])
        #expect(steps.count == 3)
        #expect(steps[1] == .body(bytes("all of this\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")))
        #expect(steps[2] == .end(trailers: []))
    }

    @Test func aChunkedResponseWithTrailers() {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Digest\r\n\r\n4\r\nWiki\r\n5;e=1\r\npedia\r\n0\r\nX-Digest: abc\r\n\r\n"
        let steps = responseSteps(text, methods: [.get])
        #expect(steps.last == .end(trailers: ["X-Digest: abc"]))
        let body = steps.compactMap { if case .body(let data) = $0 { data } else { nil } }.joined()
        #expect(Array(body) == bytes("Wikipedia"))
        #expect(responseSteps(text, methods: [.get], pieces: [1]) == steps)
    }

    @Test func responsePersistence() throws {
        let request = try #require(try parseHead("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        func response(_ text: String) throws -> ResponseHead {
            var parser = ResponseHeadParser()
            var input = ByteBuffer(string: text)
            return try #require(try parser.parse(&input, requestMethod: .get))
        }
        #expect(ConnectionSemantics.connectionPersists(request: request, response: try response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")))
        #expect(!ConnectionSemantics.connectionPersists(request: request, response: try response("HTTP/1.1 200 OK\r\n\r\n")))
        #expect(!ConnectionSemantics.connectionPersists(request: request, response: try response("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")))
        #expect(!ConnectionSemantics.connectionPersists(request: request, response: try response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")))
    }
}
