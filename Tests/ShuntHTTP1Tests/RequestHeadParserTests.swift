import NIOCore
import ShuntHTTP1
import Testing

@Suite struct RequestHeadParserTests {
    @Test func aHeadIsParsedIntoRangesOfItsOwnBytes() throws {
        let text = "GET /orders/42?x=1 HTTP/1.1\r\nHost: svc\r\nX-User:  alice \r\nx-user: bob\r\nAccept: */*\r\n\r\n"
        let head = try #require(try parseHead(text))
        #expect(head.method == .get)
        #expect(head.version == .http11)
        #expect(head.targetForm == .origin)
        #expect(String(decoding: head.target, as: UTF8.self) == "/orders/42?x=1")
        #expect(String(decoding: head.path, as: UTF8.self) == "/orders/42")
        #expect(head.pathRange == 4..<14)
        #expect(head.bytes.readableBytes == text.utf8.count)
        #expect(head.framing == BodyFraming.none)
        #expect(head.headers.count == 4)
        #expect(head.headers.values(named: "X-USER").map { String(decoding: $0, as: UTF8.self) } == ["alice", "bob"])
        #expect(head.headers.first(named: "accept") == "*/*")
        #expect(head.headers.count(named: "x-user") == 2)
        #expect(!head.headers.contains(named: "x-use"))
        #expect(head.keepAlive)
    }

    @Test func aRuleMatcherCanWalkEveryFieldAsBytes() throws {
        let head = try #require(try parseHead("GET / HTTP/1.1\r\nHost: a\r\nX-Dev: me\r\n\r\n"))
        var seen: [String] = []
        for field in head.headers where field.hasName("x-dev") {
            #expect(field.value.elementsEqual("me".utf8))
            seen.append(field.nameString)
        }
        #expect(seen == ["X-Dev"])
        let ranges = head.headers.ranges(at: 1)
        #expect(ranges.name == 25..<30 && ranges.value == 32..<34)
    }

    @Test func theHeadIsSlicedFromTheInputAndTheBodyStaysThere() throws {
        var parser = RequestHeadParser()
        var input = ByteBuffer(string: "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET")
        let head = try #require(try parser.parse(&input))
        #expect(head.framing == .contentLength(3))
        #expect(String(buffer: input) == "abcGET")
    }

    @Test func aHeadInOneReadSharesTheReadsStorage() throws {
        var parser = RequestHeadParser()
        var input = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\nnext")
        let start = input.withUnsafeReadableBytes { $0.baseAddress! }
        let head = try #require(try parser.parse(&input))
        head.bytes.withUnsafeReadableBytes { #expect($0.baseAddress! == start) }
    }

    @Test func aHeadInPiecesIsParsedWhenItsEmptyLineArrives() throws {
        var parser = RequestHeadParser()
        for piece in ["GET / HT", "TP/1.1\r\nHost: a\r", "\n\r"] {
            var input = ByteBuffer(string: piece)
            #expect(try parser.parse(&input) == nil)
            #expect(input.readableBytes == 0)
        }
        var last = ByteBuffer(string: "\nrest")
        let head = try #require(try parser.parse(&last))
        #expect(head.headers.first(named: "host") == "a")
        #expect(String(buffer: last) == "rest")
    }

    @Test func afterAnErrorTheParserKeepsRefusing() throws {
        var parser = RequestHeadParser()
        var bad = ByteBuffer(string: "GET / HTTP/1.1\nHost: a\r\n\r\n")
        #expect(throws: HTTP1ParseError.self) { try parser.parse(&bad) }
        var good = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(throws: HTTP1ParseError.self) { try parser.parse(&good) }
    }

    @Test func targetFormsAndTheirPaths() throws {
        let absolute = try #require(try parseHead("GET http://a:8080/p/q?r HTTP/1.1\r\nHost: a:8080\r\n\r\n"))
        #expect(absolute.targetForm == .absolute)
        #expect(String(decoding: absolute.path, as: UTF8.self) == "/p/q")
        let bare = try #require(try parseHead("GET https://a HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(bare.path.isEmpty)
        let connect = try #require(try parseHead("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"))
        #expect(connect.targetForm == .authority && connect.path.isEmpty && connect.method == .connect)
        let star = try #require(try parseHead("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(star.targetForm == .asterisk)
        let custom = try #require(try parseHead("PURGE / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(custom.method == .other("PURGE"))
        let lower = try #require(try parseHead("get / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(lower.method == .other("get"), "methods are case-sensitive")
    }

    @Test func framingOfRequests() throws {
        #expect(try parseHead("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")?.framing == .chunked)
        #expect(try parseHead("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")?.framing == .contentLength(0))
        #expect(try parseHead("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n")?.framing
            == .contentLength(.max))
        #expect(try parseHead("POST / HTTP/1.0\r\n\r\n")?.framing == BodyFraming.none)
    }

    @Test func connectionSemantics() throws {
        func head(_ version: String, _ fields: String) throws -> RequestHead {
            try #require(try parseHead("GET / \(version)\r\nHost: a\r\n\(fields)\r\n"))
        }
        #expect(try head("HTTP/1.1", "").keepAlive)
        #expect(try !head("HTTP/1.1", "Connection: close\r\n").keepAlive)
        #expect(try !head("HTTP/1.1", "Connection: foo, CLOSE\r\n").keepAlive)
        #expect(try !head("HTTP/1.0", "").keepAlive)
        #expect(try head("HTTP/1.0", "Connection: Keep-Alive\r\n").keepAlive)
        #expect(try head("HTTP/1.1", "Expect: 100-Continue\r\n").expectsContinue)
        #expect(try !head("HTTP/1.0", "Expect: 100-continue\r\n").expectsContinue)
        #expect(try !head("HTTP/1.1", "Expect: something\r\n").expectsContinue)
        #expect(try head("HTTP/1.1", "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n").isUpgradeRequest)
        #expect(try !head("HTTP/1.1", "Upgrade: websocket\r\n").isUpgradeRequest)
        #expect(try !head("HTTP/1.0", "Upgrade: websocket\r\nConnection: upgrade\r\n").isUpgradeRequest)
    }
}
