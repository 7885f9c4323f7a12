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
}
