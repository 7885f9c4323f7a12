import NIOCore
import ShuntHTTP1
import Testing

@Suite struct ForwardedHeadWriterTests {
    func forwarded(_ text: String, client: String = "10.1.2.3") throws -> String {
        let head = try #require(try parseHead(text))
        var out = ByteBuffer()
        ForwardedHeadWriter.write(head, client: try #require(ForwardedHeadWriter.ClientAddress(client)), into: &out)
        return String(buffer: out)
    }

    @Test func hopByHopFieldsAreDroppedAndTheClientAppended() throws {
        let text = "POST /a HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\n"
            + "Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-Sum\r\nProxy-Authorization: Basic x\r\n"
            + "Proxy-Authenticate: Basic\r\nX-Secret: s\r\nX-Keep: k\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(try forwarded(text) == "POST /a HTTP/1.1\r\nHost: svc\r\nX-Keep: k\r\nTransfer-Encoding: chunked\r\n"
            + "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    @Test func existingForwardingFieldsAreAppendedTo() throws {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\nx-forwarded-for: 3.3.3.3\r\n"
            + "Forwarded: for=1.1.1.1\r\n\r\n"
        #expect(try forwarded(text, client: "2001:db8::1") == "GET / HTTP/1.1\r\nHost: a\r\n"
            + "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 2001:db8::1\r\n"
            + "Forwarded: for=1.1.1.1, for=\"[2001:db8::1]\";proto=http\r\n\r\n")
    }

    @Test func framingFieldsSurviveBeingListedInConnection() throws {
        let text = "POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Host\r\nContent-Length: 2\r\n\r\n"
        #expect(try forwarded(text) == "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
            + "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    @Test func anUpgradeRequestKeepsUpgradeAndConnectionUpgrade() throws {
        let text = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n"
        #expect(try forwarded(text) == "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n"
            + "Connection: upgrade\r\nX-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    @Test func keptFieldsAreWrittenNameColonValueWithoutTheirWhitespace() throws {
        let text = "GET / HTTP/1.1\r\nhOsT:a\r\nX-Keep:\t  k  k \t\r\nX-Empty:\r\n\r\n"
        #expect(try forwarded(text) == "GET / HTTP/1.1\r\nhOsT: a\r\nX-Keep: k  k\r\nX-Empty: \r\n"
            + "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    /// Lines already written `name: value` leave as received, in runs copied whole; a dropped line
    /// ends a run, and a line with other whitespace is rewritten between runs, at the first field,
    /// the last, or in between.
    @Test func runsOfKeptLinesAroundDroppedAndRewrittenOnes() throws {
        let text = "GET / HTTP/1.1\r\nX-A: 1\r\nConnection: X-Drop\r\nX-Drop: d\r\nX-B:b\r\nX-C: c\r\nX-D:  d\r\n"
            + "X-E: e\t\r\nHost: h\r\nX-Empty: \r\nX-F: f f\r\n\r\n"
        #expect(try forwarded(text) == "GET / HTTP/1.1\r\nX-A: 1\r\nX-B: b\r\nX-C: c\r\nX-D: d\r\nX-E: e\r\nHost: h\r\n"
            + "X-Empty: \r\nX-F: f f\r\nX-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
        let firstRewrittenLastDropped = "GET / HTTP/1.1\r\nHost:h\r\nX-A: 1\r\nTE: trailers\r\n\r\n"
        #expect(try forwarded(firstRewrittenLastDropped) == "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
            + "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
        let firstDroppedLastRewritten = "GET / HTTP/1.1\r\nKeep-Alive: 5\r\nHost: h\r\nX-A:\t1\r\n\r\n"
        #expect(try forwarded(firstDroppedLastRewritten) == "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
            + "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
        #expect(try forwarded("GET / HTTP/1.0\r\n\r\n") == "GET / HTTP/1.0\r\n"
            + "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
        #expect(try forwarded("GET / HTTP/1.0\r\nConnection: close\r\n\r\n") == "GET / HTTP/1.0\r\n"
            + "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    @Test func namesListedInConnectionAreDroppedWhateverTheirCase() throws {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nconnection: x-SECRET, X-Secre\r\nX-Secret: s\r\nx-secret: t\r\n"
            + "X-Secre: u\r\nX-Secrets: kept\r\nKEEP-ALIVE: timeout=5\r\nx-FORWARDED-for: 1.1.1.1\r\n\r\n"
        #expect(try forwarded(text) == "GET / HTTP/1.1\r\nHost: a\r\nX-Secrets: kept\r\n"
            + "X-Forwarded-For: 1.1.1.1, 10.1.2.3\r\nForwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    @Test func onlyAddressesAreAcceptedAsTheClient() {
        #expect(ForwardedHeadWriter.ClientAddress("10.0.0.1") != nil)
        #expect(ForwardedHeadWriter.ClientAddress("::1")?.isIPv6 == true)
        #expect(ForwardedHeadWriter.ClientAddress("1.2.3.4\r\nX: y") == nil)
        #expect(ForwardedHeadWriter.ClientAddress("") == nil)
    }

    @Test func theHopByHopListIsTheRFCs() {
        #expect(HopByHopHeaders.names.count == 9)
    }
}
