import NIOCore
import ShuntOracles
@testable import ShuntHTTP1
import Testing

/// A whole head that arrives in one read, with nothing wrong in its lines, is read in one pass
/// (`RequestHeadParser.wellFormedHead`, `ResponseHeadParser.wellFormedBlock`); any other input is
/// left untouched for the scanner. The one pass must take exactly the heads the scanner would give,
/// and refuse nothing itself.
@Suite struct OnePassHeadTests {
    static let request = "GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n"
    static let response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok"

    static func onePassRequest(_ text: String, _ limits: HTTP1Limits = HTTP1Limits()) throws -> (RequestHead?, Int) {
        var input = ByteBuffer(string: text)
        let head = try RequestHeadParser.wellFormedHead(&input, limits: limits)
        return (head, input.readableBytes)
    }

    static func onePassResponse(_ text: String, _ limits: HTTP1Limits = HTTP1Limits()) -> (Bool, Int) {
        var input = ByteBuffer(string: text)
        let found = ResponseHeadParser.wellFormedBlock(&input, limits: limits) != nil
        return (found, input.readableBytes)
    }

    @Test func aWholeWellFormedHeadIsTakenInOnePass() throws {
        let (head, left) = try Self.onePassRequest(Self.request + "GET /next")
        // The same head as the scanner's path gives, fed octet by octet.
        var parser = RequestHeadParser()
        var scanned: RequestHead?
        for octet in Self.request.utf8 {
            var piece = ByteBuffer(bytes: [octet])
            scanned = try parser.parse(&piece) ?? scanned
        }
        #expect(head.map(HTTP1Invariants.summary) == scanned.map(HTTP1Invariants.summary))
        #expect(head != nil)
        #expect(left == "GET /next".utf8.count)
        let (found, rest) = Self.onePassResponse(Self.response)
        #expect(found && rest == 2)
    }

    /// Anything the one pass does not take is left as it was: the scanner reads it from the start.
    @Test(arguments: [
        "GET /a HTTP/1.1\r\nHost: h\r\n",                   // not whole yet
        "GET /a HTTP/1.1\r\nHost: h\r\n\r",                 // the empty line's LF not yet
        "\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",           // an empty line before the request-line
        "GET /a HTTP/1.1\nHost: h\r\n\r\n",                 // bare LF after the request-line
        "GET /a HTTP/1.1\r\nHost: h\n\r\n",                 // bare LF after a field line
        "GET /a HTTP/1.1\r\nHost: h\r\n\n",                 // bare LF for the empty line
        "GET /a HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",    // obs-fold
        "GET /a HTTP/1.1\r\nHost : h\r\n\r\n",              // space before the colon
        "GET /a HTTP/1.1\r\nX-A: \u{1}\r\nHost: h\r\n\r\n", // a control in a value
        "GET /a HTTP/1.1\r\nX-A: a\rb\r\nHost: h\r\n\r\n",  // bare CR in a value
        "GET /a  HTTP/1.1\r\nHost: h\r\n\r\n",              // two spaces in the request-line
        "GET /a HTTP/1.1\r\nHost: h\r\nX-B: \u{7F}\r\n\r\n",// DEL in a value
    ])
    func otherInputIsLeftForTheScanner(_ text: String) throws {
        let (head, left) = try Self.onePassRequest(text)
        #expect(head == nil)
        #expect(left == text.utf8.count)
        // Whole or octet by octet, the parser's outcome is the same.
        #expect(HTTP1Invariants.requests(bytes(text)) == HTTP1Invariants.requests(bytes(text), pieces: [1]))
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",         // not whole yet
        "\r\nHTTP/1.1 200 OK\r\n\r\n",                     // an empty line before the status-line
        "HTTP/1.1 200 O\0K\r\n\r\n",                        // NUL in the status-line
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",       // bare LF after the status-line
        "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",       // bare LF after a field line
        "HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n",    // a field line starting with a space
    ])
    func otherResponsesAreLeftForTheScanner(_ text: String) {
        let (found, left) = Self.onePassResponse(text)
        #expect(!found)
        #expect(left == text.utf8.count)
        #expect(responseSteps(text, methods: [.get]) == responseSteps(text, methods: [.get], pieces: [1]))
    }

    /// A status-line the scanner lets through but the parser refuses is refused the same either way,
    /// before the field lines: the one pass checks the status-line as the scanner's block's is.
    @Test(arguments: [
        "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 O\u{1}K\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
    ])
    func badStatusLinesFailAlikeWholeOrInPieces(_ text: String) {
        let whole = responseSteps(text, methods: [.get])
        #expect(whole == responseSteps(text, methods: [.get], pieces: [1]))
        guard case .error? = whole.last else {
            Issue.record("\(text.debugDescription) was accepted: \(whole)")
            return
        }
    }

    /// The limits: a head of exactly `maxHeadSize` octets with exactly `maxHeaderCount` field lines is
    /// taken in one pass; one octet or one line more is left to the scanner, which refuses it.
    @Test func atTheLimitsOnePassTakesAndBeyondTheScannerRefuses() throws {
        let limits = HTTP1Limits(maxHeadSize: 128, maxHeaderCount: 4)
        func request(size: Int, fields: Int) -> String {
            let start = "GET / HTTP/1.1\r\nHost: h\r\n" + (2..<fields).map { "X-\($0): v\r\n" }.joined() + "X-Pad: "
            return start + String(repeating: "p", count: size - start.utf8.count - 4) + "\r\n\r\n"
        }
        #expect(request(size: 128, fields: 4).utf8.count == 128)
        #expect(try Self.onePassRequest(request(size: 128, fields: 4), limits).0 != nil)
        #expect(try Self.onePassRequest(request(size: 129, fields: 4), limits).0 == nil)
        #expect(try Self.onePassRequest(request(size: 128, fields: 5), limits).0 == nil)
        #expect(requestError(bytes(request(size: 128, fields: 4)), limits: limits) == nil)
        #expect(requestError(bytes(request(size: 129, fields: 4)), limits: limits)?.code == "HEAD_TOO_LARGE")
        #expect(requestError(bytes(request(size: 128, fields: 5)), limits: limits)?.code == "TOO_MANY_FIELDS")

        func response(size: Int, fields: Int) -> String {
            let start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + (2..<fields).map { "X-\($0): v\r\n" }.joined() + "X-Pad: "
            return start + String(repeating: "p", count: size - start.utf8.count - 4) + "\r\n\r\n"
        }
        #expect(response(size: 128, fields: 4).utf8.count == 128)
        #expect(Self.onePassResponse(response(size: 128, fields: 4), limits).0)
        #expect(!Self.onePassResponse(response(size: 129, fields: 4), limits).0)
        #expect(!Self.onePassResponse(response(size: 128, fields: 5), limits).0)
        for (text, code) in [(response(size: 128, fields: 4), nil), (response(size: 129, fields: 4), "HEAD_TOO_LARGE"),
                             (response(size: 128, fields: 5), "TOO_MANY_FIELDS")] {
            let steps = HTTP1Invariants.responses(bytes(text), methods: [.get], limits: limits).steps
            if case .error(let got, _)? = steps.last { #expect(got == code) } else { #expect(code == nil) }
        }
    }
}
