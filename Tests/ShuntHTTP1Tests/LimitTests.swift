import NIOCore
import ShuntHTTP1
import ShuntOracles
import Testing

/// Every limit of `HTTP1Limits`: exactly at it passes, one more is refused with its code.
@Suite struct LimitTests {
    /// A GET whose head is exactly `size` octets, padded in one field.
    static func head(size: Int, target: String = "/") -> String {
        let fixed = "GET \(target) HTTP/1.1\r\nHost: a\r\nX-Pad: \r\n\r\n"
        return "GET \(target) HTTP/1.1\r\nHost: a\r\nX-Pad: " + String(repeating: "p", count: size - fixed.utf8.count) + "\r\n\r\n"
    }

    static func outcome(_ text: String, _ limits: HTTP1Limits = HTTP1Limits()) -> String? {
        requestError(bytes(text), limits: limits)?.code
    }

    @Test(arguments: [256, 65_536])
    func headSize(_ limit: Int) {
        let limits = HTTP1Limits(maxHeadSize: limit)
        #expect(Self.head(size: limit).utf8.count == limit)
        #expect(Self.outcome(Self.head(size: limit), limits) == nil)
        #expect(Self.outcome(Self.head(size: limit + 1), limits) == "HEAD_TOO_LARGE")
        #expect(HTTP1ParseError.Kind.headTooLarge.status == 431)
        // Refused at the first octet past the limit, before the head ends.
        #expect(requestError(Array(bytes(Self.head(size: limit * 2)).prefix(limit + 1)), limits: limits)?.offset == limit)
    }

    @Test func headerCount() {
        let limits = HTTP1Limits(maxHeaderCount: 5)
        let fields = { (count: Int) in "GET / HTTP/1.1\r\nHost: a\r\n" + (1..<count).map { "X-\($0): v\r\n" }.joined() + "\r\n" }
        #expect(Self.outcome(fields(5), limits) == nil)
        #expect(Self.outcome(fields(6), limits) == "TOO_MANY_FIELDS")
        #expect(Self.outcome(fields(100)) == nil)
        #expect(Self.outcome(fields(101)) == "TOO_MANY_FIELDS")
    }

    @Test func requestTargetLength() {
        let target = { (length: Int) in "/" + String(repeating: "t", count: length - 1) }
        #expect(Self.outcome(Self.head(size: 9_000, target: target(8_192))) == nil)
        #expect(Self.outcome(Self.head(size: 9_000, target: target(8_193))) == "REQUEST_TARGET_TOO_LONG")
        #expect(HTTP1ParseError.Kind.requestTargetTooLong.status == 414)
        // Refused as soon as the target passes the limit, not when the head limit is reached.
        let limits = HTTP1Limits(maxRequestTargetLength: 16)
        #expect(requestError(bytes("GET " + target(17)), limits: limits)?.code == "REQUEST_TARGET_TOO_LONG")
        #expect(requestError(bytes("GET " + target(16)), limits: limits) == nil)
    }

    @Test func leadingEmptyLines() {
        let request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        let limits = HTTP1Limits(maxLeadingEmptyLines: 3)
        #expect(Self.outcome(String(repeating: "\r\n", count: 3) + request, limits) == nil)
        #expect(Self.outcome(String(repeating: "\r\n", count: 4) + request, limits) == "LEADING_EMPTY_LINES")
        #expect(Self.outcome("\r\n" + request) == nil)
        #expect(Self.outcome("\r\n\r\n" + request) == "LEADING_EMPTY_LINES")
        #expect(Self.outcome(request, HTTP1Limits(maxLeadingEmptyLines: 0)) == nil)
        #expect(Self.outcome("\r\n" + request, HTTP1Limits(maxLeadingEmptyLines: 0)) == "LEADING_EMPTY_LINES")
    }

    static let chunkedHead = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test func chunkLineLength() {
        let limits = HTTP1Limits(maxChunkLineLength: 32)
        let line = { (length: Int) in "1;x=" + String(repeating: "e", count: length - 4) }
        #expect(line(32).utf8.count == 32)
        #expect(Self.outcome(Self.chunkedHead + line(32) + "\r\nA\r\n0\r\n\r\n", limits) == nil)
        #expect(Self.outcome(Self.chunkedHead + line(33) + "\r\nA\r\n0\r\n\r\n", limits) == "CHUNK_LINE_TOO_LONG")
        let defaults = HTTP1Limits()
        #expect(Self.outcome(Self.chunkedHead + line(1_024) + "\r\nA\r\n0\r\n\r\n", defaults) == nil)
        #expect(Self.outcome(Self.chunkedHead + line(1_025) + "\r\nA\r\n0\r\n\r\n", defaults) == "CHUNK_LINE_TOO_LONG")
    }

    @Test func chunkSize() throws {
        let limits = HTTP1Limits(maxChunkSize: 0x100)
        #expect(Self.outcome(Self.chunkedHead + "100\r\n" + String(repeating: "d", count: 256) + "\r\n0\r\n\r\n", limits) == nil)
        #expect(Self.outcome(Self.chunkedHead + "101\r\n", limits) == "CHUNK_SIZE_TOO_LARGE")
        #expect(Self.outcome(Self.chunkedHead + "00000000000000000000100\r\n" + String(repeating: "d", count: 256) + "\r\n0\r\n\r\n", limits) == nil)
        // The default is Int64.max: the largest chunk-size line is accepted, one more is not.
        var framer = BodyFramer(framing: .chunked)
        var line = ByteBuffer(string: "7fffffffffffffff\r\n")
        #expect(try framer.next(&line)?.wireBytes?.readableBytes == 18)
        var over = BodyFramer(framing: .chunked)
        var overLine = ByteBuffer(string: "8000000000000000\r\n")
        #expect(throws: HTTP1ParseError(.chunkSizeTooLarge, offset: 0, detail: "chunk-size exceeds \(Int64.max)")) {
            try over.next(&overLine)
        }
    }

    @Test func trailerSize() {
        let limits = HTTP1Limits(maxTrailerSize: 64)
        let trailer = { (size: Int) in "X-T: " + String(repeating: "t", count: size - 9) + "\r\n\r\n" }
        #expect(trailer(64).utf8.count == 64)
        #expect(Self.outcome(Self.chunkedHead + "0\r\n" + trailer(64), limits) == nil)
        #expect(Self.outcome(Self.chunkedHead + "0\r\n" + trailer(65), limits) == "TRAILER_TOO_LARGE")
        #expect(Self.outcome(Self.chunkedHead + "0\r\n" + trailer(16_384)) == nil)
        #expect(Self.outcome(Self.chunkedHead + "0\r\n" + trailer(16_385)) == "TRAILER_TOO_LARGE")
        // Trailer field lines count against maxHeaderCount.
        let fields = { (count: Int) in (0..<count).map { "T\($0): v\r\n" }.joined() + "\r\n" }
        #expect(Self.outcome(Self.chunkedHead + "0\r\n" + fields(3), HTTP1Limits(maxHeaderCount: 3)) == nil)
        #expect(Self.outcome(Self.chunkedHead + "0\r\n" + fields(4), HTTP1Limits(maxHeaderCount: 3)) == "TOO_MANY_FIELDS")
    }
}
