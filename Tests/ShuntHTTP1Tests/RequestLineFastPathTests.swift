import NIOCore
@testable import ShuntHTTP1
import Testing

/// `RequestHeadParser` reads a well-formed request-line through a raw pointer in one pass and leaves
/// every other to the checked path, which names the first error. The two must agree: every line the
/// checked path accepts is taken by the fast one with the same method, version, target, form, path
/// and authority, and the fast one takes nothing the checked path refuses.
@Suite struct RequestLineFastPathTests {
    static let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PROPFIND",
                          "get", "G@T", "", "GE T", "M-SEARCH", "X!#$%&'*+.^_`|~9"]
    static let targets = ["/", "/api/orders?id=7", "/a%20b", "*", "http://h/x", "HTTPS://h:8443", "http://h", "h:443",
                          "example.com:80", "", "/a b", "/#frag", "/\u{7F}", "ftp://h/", "//x", "/" + String(repeating: "a", count: 40)]
    static let versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1", "HTTP/1.10", "HTTP/1", "HTTP/1.1 ", " HTTP/1.1", "HTTP/1.x", ""]

    @Test func theFastPathAgreesWithTheCheckedOne() throws {
        let limits = HTTP1Limits(maxRequestTargetLength: 32)
        var lines: [String] = []
        for method in Self.methods {
            for target in Self.targets {
                for version in Self.versions {
                    lines.append("\(method) \(target) \(version)")
                }
            }
        }
        lines += ["GET  / HTTP/1.1", "GET / HTTP/1.1 x", "GET /", "GET", " GET / HTTP/1.1", "GET\t/ HTTP/1.1",
                  "GET /" + String(repeating: "b", count: 31) + " HTTP/1.1", "GET /" + String(repeating: "b", count: 30) + " HTTP/1.1"]
        var taken = 0
        for line in lines {
            let head = ByteBuffer(string: line + "\r\nHost: h\r\n\r\n")
            let fast = head.withUnsafeReadableBytes { RequestHeadParser.wellFormedRequestLine($0, limits: limits) }
            let checked = Result { () throws(HTTP1ParseError) in try RequestHeadParser.checkedRequestLine(head, offsetBase: 0, limits: limits) }
            switch (fast, checked) {
            case (let fast?, .success(let checked)):
                taken += 1
                #expect(fast.lineEnd == checked.lineEnd, "\(line)")
                #expect(fast.method == checked.method, "\(line)")
                #expect(fast.version == checked.version, "\(line)")
                #expect(fast.targetRange == checked.targetRange, "\(line)")
                #expect(fast.form == checked.form, "\(line)")
                #expect(fast.path == checked.path, "\(line)")
                #expect(fast.authority == checked.authority, "\(line)")
            case (nil, .success):
                Issue.record("the fast path left a well-formed line to the checked one: \(line)")
            case (_?, .failure(let error)):
                Issue.record("the fast path took a line the checked one refuses (\(error)): \(line)")
            case (nil, .failure):
                break
            }
        }
        // Both kinds were seen: lines taken, and lines refused.
        #expect(taken > 100 && taken < lines.count)
    }
}
