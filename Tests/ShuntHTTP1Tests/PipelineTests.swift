import NIOCore
import ShuntHTTP1
import ShuntOracles
import Testing

@Suite struct PipelineTests {
    @Test func pipelinedRequestsWithBodiesAreFramedExactly() throws {
        let stream = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
            + "\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n"
            + "PUT /d HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
        var input = ByteBuffer(string: stream)
        var parser = RequestHeadParser()
        var seen: [String] = []
        var forwarded = ByteBuffer()
        while input.readableBytes > 0 {
            let head = try #require(try parser.parse(&input))
            seen.append(String(decoding: head.path, as: UTF8.self))
            var headBytes = head.bytes
            forwarded.writeBuffer(&headBytes)
            var framer = BodyFramer(framing: head.framing)
            var body = ""
            while let event = try framer.next(&input) {
                switch event {
                case .body(let data): body += String(buffer: data)
                case .framing: break
                case .end(let trailers):
                    if let trailers { seen.append("trailers: \(trailers.first(named: "x-sum") ?? "")") }
                }
                if var bytes = event.wireBytes { forwarded.writeBuffer(&bytes) }
            }
            #expect(framer.isComplete)
            seen.append("body: \(body)")
        }
        #expect(seen == ["/a", "body: hello", "/b", "trailers: 1", "body: abc", "/c", "body: ", "/d", "body: "])
        // Everything but the one skipped empty line is forwarded verbatim.
        #expect(String(buffer: forwarded) == stream.replacingOccurrences(of: "\r\n\r\nGET /c", with: "\r\nGET /c"))
    }

    @Test func bodySlicesShareTheInputsStorage() throws {
        var framer = BodyFramer(framing: .contentLength(4))
        var input = ByteBuffer(string: "abcdefgh")
        guard case .body(let data)? = try framer.next(&input) else {
            Issue.record("no body")
            return
        }
        #expect(String(buffer: data) == "abcd")
        #expect(String(buffer: input) == "efgh")
        data.withUnsafeReadableBytes { body in
            input.withUnsafeReadableBytes { rest in #expect(body.baseAddress! + 4 == rest.baseAddress!) }
        }
    }

    @Test func aChunkLineSplitAcrossReadsIsHeldUntilItsCRLF() throws {
        var framer = BodyFramer(framing: .chunked)
        var first = ByteBuffer(string: "1f;ext=")
        #expect(try framer.next(&first) == nil)
        var second = ByteBuffer(string: "1\r\n")
        guard case .framing(let line)? = try framer.next(&second) else {
            Issue.record("no line")
            return
        }
        #expect(String(buffer: line) == "1f;ext=1\r\n")
    }

    @Test func aClosedConnectionInsideABodyIsTruncation() throws {
        var framer = BodyFramer(framing: .contentLength(10))
        var input = ByteBuffer(string: "abc")
        _ = try framer.next(&input)
        #expect(throws: HTTP1ParseError(.truncatedMessage, offset: 3, detail: "connection closed inside a message body")) {
            try framer.inputEnded()
        }
    }
}

extension BodyFramer.Event: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.body(let a), .body(let b)), (.framing(let a), .framing(let b)): a == b
        case (.end(let a), .end(let b)): a?.count == b?.count
        default: false
        }
    }
}
