import PropertyBased
import ShuntEndpoint
import Testing

/// The request log's scanner: method and path from the request line, the final status from the
/// response, never more than the first 8 KiB looked at.
@Suite struct HTTPHeadScannerTests {
    @Test func aRequestLineSplitAcrossReadsIsFound() {
        var scanner = HTTPHeadScanner(side: .request)
        for piece in ["GE", "T /api/ord", "ers?id=7 HT", "TP/1.1\r", "\nHost: orders\r\n\r\n"] {
            scanner.scan(Array(piece.utf8))
        }
        #expect(scanner.method == "GET")
        #expect(scanner.path == "/api/orders")
        #expect(scanner.isFinished)
    }

    @Test func emptyLinesBeforeTheRequestLineAreSkipped() {
        var scanner = HTTPHeadScanner(side: .request)
        scanner.scan(Array("\r\nPOST / HTTP/1.1\r\n".utf8))
        #expect(scanner.method == "POST")
        #expect(scanner.path == "/")
    }

    @Test func aHundredContinueIsSkippedForTheFinalStatus() {
        var scanner = HTTPHeadScanner(side: .response)
        scanner.scan(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        #expect(scanner.status == nil)
        #expect(!scanner.isFinished)
        scanner.scan(Array("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(scanner.status == 200)
    }

    @Test func switchingProtocolsIsFinal() {
        var scanner = HTTPHeadScanner(side: .response)
        scanner.scan(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".utf8))
        #expect(scanner.status == 101)
    }

    @Test func aStatusLineWithoutReasonIsAccepted() {
        var scanner = HTTPHeadScanner(side: .response)
        scanner.scan(Array("HTTP/1.1 404\r\n".utf8))
        #expect(scanner.status == 404)
    }

    @Test func garbageGivesNothingAndStopsLooking() {
        var request = HTTPHeadScanner(side: .request)
        request.scan([0x16, 0x03, 0x01, 0x00, 0x0A] + Array("GET / HTTP/1.1\r\n".utf8))
        #expect(request.isFinished)
        #expect(request.method == nil && request.path == nil)

        var response = HTTPHeadScanner(side: .response)
        response.scan(Array("SSH-2.0-OpenSSH_9.6\r\nHTTP/1.1 200 OK\r\n".utf8))
        #expect(response.isFinished)
        #expect(response.status == nil)

        var lowercase = HTTPHeadScanner(side: .response)
        lowercase.scan(Array("HTTP/1.1 2x0 OK\r\n".utf8))
        #expect(lowercase.status == nil)
    }

    @Test func moreThanEightKibibytesWithoutANewlineIsGivenUp() {
        var scanner = HTTPHeadScanner(side: .request)
        scanner.scan(Array(repeating: UInt8(ascii: "a"), count: HTTPHeadScanner.defaultLimit - 1))
        #expect(!scanner.isFinished)
        scanner.scan([UInt8(ascii: "a"), UInt8(ascii: " ")])
        #expect(scanner.isFinished)
        scanner.scan(Array(" / HTTP/1.1\r\n".utf8))
        #expect(scanner.method == nil)
    }

    @Test func aRequestLineEndingExactlyAtTheLimitIsFound() {
        let line = "GET /" + String(repeating: "x", count: 100) + " HTTP/1.1\n"
        var scanner = HTTPHeadScanner(side: .request, limit: line.utf8.count)
        scanner.scan(Array(line.utf8))
        #expect(scanner.path?.count == 101)
    }

    /// The scanner reads contiguous input a line at a time and other input an octet at a time: both
    /// find the same, however the input is split, at any limit (the octet path is the reference).
    @Test func lineAtATimeAgreesWithOctetAtATime() {
        var random = Xoshiro(seed: (0x5EED, 0x4EAD, 0x5CA1, 0xAB1E))
        func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int.random(in: 0..<bound, using: &random) }
        let pieces = ["GET", "POST", " ", "  ", "/a", "/api/x?q=1", "#f", "HTTP/1.1", "HTTP/1.0", "HTTP/", "\r", "\n", "\r\n",
                      "HTTP/1.1 100 Continue", "HTTP/1.1 200 OK", "HTTP/1.1 101 Up", "204", "x", "\u{01}", "Host: a", "é"]
        for round in 0..<3_000 {
            var input: [UInt8] = []
            for _ in 0..<below(12) { input += Array(pieces[below(pieces.count)].utf8) }
            let side: HTTPHeadScanner.Side = round % 2 == 0 ? .request : .response
            let limit = round % 5 == 0 ? 1 + below(40) : HTTPHeadScanner.defaultLimit
            var cuts = (0..<below(4)).map { _ in below(input.count + 1) }.sorted()
            cuts.append(input.count)
            var lines = HTTPHeadScanner(side: side, limit: limit)
            var octets = HTTPHeadScanner(side: side, limit: limit)
            var start = 0
            for cut in cuts {
                lines.scan(Array(input[start..<cut]))
                octets.scan(input[start..<cut].lazy.map { $0 })  // no contiguous storage: octet by octet
                start = cut
            }
            #expect(lines == octets, "input \(input), cuts \(cuts), limit \(limit)")
        }
    }

    /// A kept stream's next exchange reuses the scanners: `reset` forgets everything found.
    @Test func resetStartsAFreshExchange() {
        var request = HTTPHeadScanner(side: .request)
        request.scan(Array("GET /one HTTP/1.1\r\n".utf8))
        request.reset()
        #expect(request == HTTPHeadScanner(side: .request))
        request.scan(Array("PUT /two HTTP/1.1\r\n".utf8))
        #expect(request.method == "PUT" && request.path == "/two")

        var response = HTTPHeadScanner(side: .response)
        response.scan(Array("HTTP/1.1 100 Continue\r\nX: y".utf8))
        response.reset()
        #expect(response == HTTPHeadScanner(side: .response))
        response.scan(Array("HTTP/1.1 404 Not Found\r\n".utf8))
        #expect(response.status == 404)
    }
}
