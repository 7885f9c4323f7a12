import NIOCore
import ShuntHTTP1
import ShuntOracles
import Testing

/// Each request the edge must refuse, with the code and the status the client gets. Classic desync
/// vectors (CL.TE, TE.CL, TE.TE obfuscations) first, then each rule of RFC 9112 §2.2, §3, §5, §6, §7.
@Suite struct RequestSmugglingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let input: String
        let code: String
        let status: Int
        var testDescription: String { name }
    }

    static let post = "POST / HTTP/1.1\r\nHost: a\r\n"
    static let chunked = post + "Transfer-Encoding: chunked\r\n\r\n"

    static let refused: [Case] = [
        // Classic desync vectors.
        Case(name: "CL.TE", input: post + "Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED", code: "CL_AND_TE", status: 400),
        Case(name: "TE.CL", input: post + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", code: "CL_AND_TE", status: 400),
        Case(name: "TE xchunked", input: post + "Transfer-Encoding: xchunked\r\n\r\n", code: "CHUNKED_NOT_FINAL", status: 400),
        Case(name: "TE space before colon", input: post + "Transfer-Encoding : chunked\r\n\r\n", code: "WHITESPACE_BEFORE_COLON", status: 400),
        Case(name: "TE then TE x", input: post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", code: "CHUNKED_NOT_FINAL", status: 400),
        Case(name: "CL 6 then CL 5", input: post + "Content-Length: 6\r\nContent-Length: 5\r\n\r\nabcdef", code: "DUPLICATE_CL", status: 400),
        Case(name: "CL 5 twice (identical, still refused)", input: post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nabcde", code: "DUPLICATE_CL", status: 400),
        Case(name: "obs-fold TE", input: post + "Transfer-Encoding:\r\n chunked\r\n\r\n", code: "OBS_FOLD", status: 400),
        Case(name: "obs-fold with tab", input: post + "X-A: b\r\n\tc\r\n\r\n", code: "OBS_FOLD", status: 400),
        Case(name: "whitespace before the first field line", input: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", code: "OBS_FOLD", status: 400),
        Case(name: "bare LF line endings", input: "GET / HTTP/1.1\nHost: a\n\n", code: "BARE_LF", status: 400),
        Case(name: "bare LF after a field", input: "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", code: "BARE_LF", status: 400),
        Case(name: "bare LF ending the head", input: "GET / HTTP/1.1\r\nHost: a\r\n\n", code: "BARE_LF", status: 400),
        Case(name: "bare CR in a field", input: "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", code: "BARE_CR", status: 400),
        Case(name: "bare CR in the request-line", input: "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", code: "BARE_CR", status: 400),
        Case(name: "LF as chunk line end", input: chunked + "5\nhello\r\n0\r\n\r\n", code: "BARE_LF", status: 400),
        Case(name: "chunk size 0x5", input: chunked + "0x5\r\nhello\r\n0\r\n\r\n", code: "BAD_CHUNK_SIZE", status: 400),
        Case(name: "chunk size +5", input: chunked + "+5\r\nhello\r\n0\r\n\r\n", code: "BAD_CHUNK_SIZE", status: 400),
        Case(name: "chunk size with leading space", input: chunked + " 5\r\nhello\r\n0\r\n\r\n", code: "BAD_CHUNK_SIZE", status: 400),
        Case(name: "chunk size -1", input: chunked + "-1\r\n\r\n", code: "BAD_CHUNK_SIZE", status: 400),
        Case(name: "empty chunk size", input: chunked + "\r\n\r\n", code: "BAD_CHUNK_SIZE", status: 400),
        Case(name: "huge hex chunk size", input: chunked + "fffffffffffffffffffff\r\n", code: "CHUNK_SIZE_TOO_LARGE", status: 400),
        Case(name: "Int64 overflow by one", input: chunked + "8000000000000000\r\n", code: "CHUNK_SIZE_TOO_LARGE", status: 400),
        Case(name: "trailing space after chunk size", input: chunked + "5 \r\nhello\r\n0\r\n\r\n", code: "BAD_CHUNK_EXT", status: 400),
        Case(name: "empty chunk extension", input: chunked + "5;\r\nhello\r\n0\r\n\r\n", code: "BAD_CHUNK_EXT", status: 400),
        Case(name: "extension without value", input: chunked + "5;a=\r\nhello\r\n0\r\n\r\n", code: "BAD_CHUNK_EXT", status: 400),
        Case(name: "unterminated quoted extension", input: chunked + "5;a=\"b\r\nhello\r\n0\r\n\r\n", code: "BAD_CHUNK_EXT", status: 400),
        Case(name: "chunk data longer than its size", input: chunked + "3\r\nhello\r\n0\r\n\r\n", code: "MISSING_CHUNK_CRLF", status: 400),
        Case(name: "chunk data with LF only", input: chunked + "5\r\nhello\n0\r\n\r\n", code: "MISSING_CHUNK_CRLF", status: 400),
        Case(name: "chunk data with CR then junk", input: chunked + "5\r\nhello\rX0\r\n\r\n", code: "MISSING_CHUNK_CRLF", status: 400),
        Case(name: "Content-Length in a trailer", input: chunked + "0\r\nContent-Length: 5\r\n\r\n", code: "FORBIDDEN_TRAILER_FIELD", status: 400),
        Case(name: "Transfer-Encoding in a trailer", input: chunked + "0\r\nTransfer-Encoding: chunked\r\n\r\n", code: "FORBIDDEN_TRAILER_FIELD", status: 400),
        Case(name: "obs-fold in a trailer", input: chunked + "0\r\nX: a\r\n b\r\n\r\n", code: "OBS_FOLD", status: 400),
        Case(name: "bare LF in a trailer", input: chunked + "0\r\nX: a\n\r\n", code: "BARE_LF", status: 400),
        // Transfer-Encoding (§6.1, §6.3).
        Case(name: "TE in HTTP/1.0", input: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", code: "TE_IN_HTTP10", status: 400),
        Case(name: "gzip, chunked", input: post + "Transfer-Encoding: gzip, chunked\r\n\r\n", code: "UNSUPPORTED_TE", status: 501),
        Case(name: "gzip then chunked on two lines", input: post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", code: "UNSUPPORTED_TE", status: 501),
        Case(name: "chunked, gzip", input: post + "Transfer-Encoding: chunked, gzip\r\n\r\n", code: "CHUNKED_NOT_FINAL", status: 400),
        Case(name: "gzip alone", input: post + "Transfer-Encoding: gzip\r\n\r\n", code: "CHUNKED_NOT_FINAL", status: 400),
        Case(name: "chunked, chunked", input: post + "Transfer-Encoding: chunked, chunked\r\n\r\n", code: "CHUNKED_TWICE", status: 400),
        Case(name: "chunked on two lines", input: post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", code: "CHUNKED_TWICE", status: 400),
        Case(name: "empty list element", input: post + "Transfer-Encoding: chunked,\r\n\r\n", code: "BAD_TE", status: 400),
        Case(name: "empty TE", input: post + "Transfer-Encoding:\r\n\r\n", code: "BAD_TE", status: 400),
        Case(name: "quoted chunked", input: post + "Transfer-Encoding: \"chunked\"\r\n\r\n", code: "BAD_TE", status: 400),
        Case(name: "chunked with a parameter", input: post + "Transfer-Encoding: chunked;q=1\r\n\r\n", code: "BAD_TE", status: 400),
        Case(name: "chunked with a vertical tab", input: post + "Transfer-Encoding: \u{0B}chunked\r\n\r\n", code: "BAD_FIELD_VALUE", status: 400),
        // Content-Length (§6.2).
        Case(name: "CL with sign", input: post + "Content-Length: +5\r\n\r\nhello", code: "BAD_CL", status: 400),
        Case(name: "CL negative", input: post + "Content-Length: -1\r\n\r\n", code: "BAD_CL", status: 400),
        Case(name: "CL inner space", input: post + "Content-Length: 1 0\r\n\r\n", code: "BAD_CL", status: 400),
        Case(name: "CL empty", input: post + "Content-Length:\r\n\r\n", code: "BAD_CL", status: 400),
        Case(name: "CL list", input: post + "Content-Length: 5, 5\r\n\r\nhello", code: "BAD_CL", status: 400),
        Case(name: "CL hex", input: post + "Content-Length: 0x5\r\n\r\nhello", code: "BAD_CL", status: 400),
        Case(name: "CL overflow", input: post + "Content-Length: 9223372036854775808\r\n\r\n", code: "BAD_CL", status: 400),
        Case(name: "CL with letters", input: post + "Content-Length: 5a\r\n\r\n", code: "BAD_CL", status: 400),
        // Bytes and field syntax (§2.2, §5).
        Case(name: "NUL in a value", input: "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n", code: "NUL_BYTE", status: 400),
        Case(name: "NUL in the method", input: "G\u{0}T / HTTP/1.1\r\nHost: a\r\n\r\n", code: "NUL_BYTE", status: 400),
        Case(name: "control octet in a value", input: "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{1}b\r\n\r\n", code: "BAD_FIELD_VALUE", status: 400),
        Case(name: "DEL in a value", input: "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{7F}\r\n\r\n", code: "BAD_FIELD_VALUE", status: 400),
        Case(name: "empty field name", input: "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", code: "EMPTY_FIELD_NAME", status: 400),
        Case(name: "tab before colon", input: "GET / HTTP/1.1\r\nHost: a\r\nX\t: x\r\n\r\n", code: "WHITESPACE_BEFORE_COLON", status: 400),
        Case(name: "space inside a name", input: "GET / HTTP/1.1\r\nHost: a\r\nX Y: x\r\n\r\n", code: "BAD_FIELD_NAME", status: 400),
        Case(name: "separator in a name", input: "GET / HTTP/1.1\r\nHost: a\r\nX(y): x\r\n\r\n", code: "BAD_FIELD_NAME", status: 400),
        Case(name: "field line without colon", input: "GET / HTTP/1.1\r\nHost: a\r\nXyz\r\n\r\n", code: "MISSING_COLON", status: 400),
        // Request-line (§3).
        Case(name: "invalid method octet", input: "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_METHOD", status: 400),
        Case(name: "tab instead of space", input: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_METHOD", status: 400),
        Case(name: "two spaces", input: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "no version", input: "GET /\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_LINE", status: 400),
        Case(name: "HTTP/0.9 style", input: "GET\r\n\r\n", code: "BAD_REQUEST_LINE", status: 400),
        Case(name: "HTTP/2.0", input: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", code: "UNSUPPORTED_VERSION", status: 505),
        Case(name: "HTTP/1.2", input: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", code: "UNSUPPORTED_VERSION", status: 505),
        Case(name: "lowercase version", input: "GET / http/1.1\r\nHost: a\r\n\r\n", code: "BAD_VERSION", status: 400),
        Case(name: "space after version", input: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", code: "BAD_VERSION", status: 400),
        Case(name: "two leading empty lines", input: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", code: "LEADING_EMPTY_LINES", status: 400),
        Case(name: "leading bare LF", input: "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", code: "BARE_LF", status: 400),
        // Request-target (§3.2).
        Case(name: "asterisk for GET", input: "GET * HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "CONNECT with a path", input: "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "CONNECT without port", input: "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "authority-form for GET", input: "GET a:443 HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "fragment", input: "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "bad percent-encoding", input: "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "raw non-ASCII", input: "GET /é HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "userinfo", input: "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        Case(name: "ftp scheme", input: "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", code: "BAD_REQUEST_TARGET", status: 400),
        // Host (RFC 9112 §3.2).
        Case(name: "no Host in HTTP/1.1", input: "GET / HTTP/1.1\r\nX: y\r\n\r\n", code: "MISSING_HOST", status: 400),
        Case(name: "two Hosts", input: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", code: "DUPLICATE_HOST", status: 400),
        Case(name: "two Hosts in HTTP/1.0", input: "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", code: "DUPLICATE_HOST", status: 400),
        Case(name: "Host with space", input: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", code: "BAD_HOST", status: 400),
        Case(name: "Host with userinfo", input: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", code: "BAD_HOST", status: 400),
        Case(name: "empty Host", input: "GET / HTTP/1.1\r\nHost:\r\n\r\n", code: "BAD_HOST", status: 400),
        Case(name: "Host differs from absolute-form", input: "GET http://a/x HTTP/1.1\r\nHost: b\r\n\r\n", code: "HOST_MISMATCH", status: 400),
        // End of input.
        Case(name: "body cut short", input: post + "Content-Length: 10\r\n\r\nabc", code: "TRUNCATED_MESSAGE", status: 400),
        Case(name: "chunked body cut short", input: chunked + "5\r\nhel", code: "TRUNCATED_MESSAGE", status: 400),
    ]

    @Test(arguments: refused)
    func theEdgeRefusesIt(_ item: Case) throws {
        let input = bytes(item.input)
        let error = try #require(requestError(input), "\(item.name) was accepted")
        #expect(error.code == item.code)
        #expect(HTTP1ParseError.Kind(rawValue: error.code)?.status == item.status)
        #expect(error.offset <= input.count)
        // The same refusal, at the same octet, however the input is cut.
        let whole = HTTP1Invariants.requests(input)
        for pieces in [[1], [2], [3, 7]] {
            #expect(HTTP1Invariants.requests(input, pieces: pieces) == whole, "pieces \(pieces)")
        }
    }

    static let accepted: [(String, String)] = [
        ("TE with a tab as OWS", post + "Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n"),
        ("TE in capitals", post + "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n"),
        ("TE with trailing whitespace", post + "Transfer-Encoding: chunked \t\r\n\r\n0\r\n\r\n"),
        ("CL with OWS", post + "Content-Length:  5 \r\n\r\nhello"),
        ("CL with leading zeros", post + "Content-Length: 005\r\n\r\nhello"),
        ("one leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n"),
        ("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("CONNECT authority", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"),
        ("CONNECT IPv6", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"),
        ("absolute-form", "GET http://A.example:80/x?y HTTP/1.1\r\nHost: a.example:80\r\n\r\n"),
        ("obs-text and tab inside a value", "GET / HTTP/1.1\r\nHost: a\r\nX: \u{E9}\ta\r\n\r\n"),
        ("chunk extensions", chunked + "5;a=b ; c = \"d \\\" e\";f\r\nhello\r\n0;last\r\nX-T: 1\r\n\r\n"),
        ("uppercase hex chunk size", chunked + "A\r\n0123456789\r\n0\r\n\r\n"),
    ]

    @Test(arguments: accepted.map(\.1))
    func theEdgeAcceptsIt(_ input: String) throws {
        let outcome = HTTP1Invariants.requests(bytes(input))
        #expect(requestError(bytes(input)) == nil, "\(outcome.steps)")
        guard case .end? = outcome.steps.last else {
            Issue.record("message not complete: \(outcome.steps)")
            return
        }
    }

    @Test func errorsPointAtTheOffendingOctet() throws {
        #expect(requestError(bytes("GET / HTTP/1.1\nHost: a\r\n\r\n"))?.offset == 14)
        #expect(requestError(bytes("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{1}\r\n\r\n"))?.offset == 29)
        #expect(requestError(bytes("GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n"))?.offset == 26)
        #expect(requestError(bytes("\r\nGET / HTTP/1.1\nHost: a\r\n\r\n"))?.offset == 16)
        // Body offsets count from the first body octet: "5\r\nhello" then "X" at 8.
        #expect(requestError(bytes(Self.chunked + "5\r\nhelloX"))?.offset == 8)
        #expect(requestError(bytes(Self.post + "Content-Length: 1\r\nContent-Length: 1\r\n\r\n"))?.offset == 45)
    }

    @Test func everyKindMapsToTheStatusOfItsRule() {
        #expect(HTTP1ParseError.Kind.headTooLarge.status == 431)
        #expect(HTTP1ParseError.Kind.tooManyFields.status == 431)
        #expect(HTTP1ParseError.Kind.trailerTooLarge.status == 431)
        #expect(HTTP1ParseError.Kind.requestTargetTooLong.status == 414)
        #expect(HTTP1ParseError.Kind.unsupportedTransferCoding.status == 501)
        #expect(HTTP1ParseError.Kind.unsupportedVersion.status == 505)
        let codes = HTTP1ParseError.Kind.allCases.map(\.rawValue)
        #expect(Set(codes).count == codes.count, "codes are unique")
        let error = HTTP1ParseError(.contentLengthWithTransferEncoding, offset: 58, detail: "both")
        #expect(error.description == "CL_AND_TE at octet 58: both (400)")
    }
}
