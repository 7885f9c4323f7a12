import NIOCore
import PropertyBased
import ShuntHTTP1
import ShuntOracles
import Testing

/// However a valid stream is cut into reads, the edge sees the same messages and forwards the same octets.
@Suite struct SplitInvarianceTests {
    static let corpus: [String] = [
        "GET /a?b HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n",
        "\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=\"v\"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
    ]

    @Test(arguments: corpus)
    func everyTwoPieceSplitAndByteByByteAgreeWithWhole(_ text: String) {
        let input = bytes(text)
        let whole = HTTP1Invariants.requests(input)
        #expect(whole.steps.allSatisfy { if case .error = $0 { false } else { true } }, "\(whole.steps)")
        #expect(throws: Never.self) { try HTTP1Invariants.checkForwarded(whole, input) }
        #expect(HTTP1Invariants.requests(input, pieces: [1]) == whole)
        for offset in 1..<input.count {
            #expect(HTTP1Invariants.requests(input, pieces: [offset, input.count]) == whole, "split at \(offset)")
        }
    }

    @Test func randomValidStreamsParseIdenticallyInAnyPieces() async {
        await propertyCheck(count: 100, input: Gen.uint64(in: 0...UInt64.max), Gen.int(in: 1...5), Gen.int(in: 1...40)) { seed, count, piece in
            let input = RandomRequests.stream(seed: seed, count: count)
            let whole = HTTP1Invariants.requests(input)
            let ends = whole.steps.filter { if case .end = $0 { true } else { false } }.count
            #expect(ends == count, "seed \(seed): \(whole.steps)")
            #expect(throws: Never.self) { try HTTP1Invariants.checkForwarded(whole, input) }
            #expect(HTTP1Invariants.requests(input, pieces: [piece]) == whole, "seed \(seed), pieces of \(piece)")
            #expect(HTTP1Invariants.requests(input, pieces: [1]) == whole, "seed \(seed), byte by byte")
            let cut = Int(seed % UInt64(max(1, input.count)))
            #expect(HTTP1Invariants.requests(input, pieces: [cut, input.count]) == whole, "seed \(seed), split at \(cut)")
        }
    }

    @Test func randomCorruptionsFailIdenticallyInAnyPieces() async {
        await propertyCheck(count: 150, input: Gen.uint64(in: 0...UInt64.max), Gen.int(in: 1...13)) { seed, piece in
            var input = RandomRequests.stream(seed: seed, count: 3)
            var random = SplitMix(state: seed ^ 0xABCD)
            for _ in 0..<3 {
                let position = Int.random(in: 0..<input.count, using: &random)
                input[position] = [0x0A, 0x0D, 0x00, 0x20, 0x09, 0x3A, 0x2C, 0x7F, UInt8.random(in: 0...255, using: &random)]
                    .randomElement(using: &random)!
            }
            let whole = HTTP1Invariants.requests(input)
            #expect(throws: Never.self) { try HTTP1Invariants.checkForwarded(whole, input) }
            #expect(HTTP1Invariants.requests(input, pieces: [piece]) == whole, "seed \(seed)")
            #expect(HTTP1Invariants.requests(input, pieces: [1]) == whole, "seed \(seed)")
        }
    }
}

/// A forwarded head re-parses as the same request, without hop-by-hop fields, with our client appended.
@Suite struct ForwardingRoundTripTests {
    @Test func randomRequestsForwardCleanly() async {
        await propertyCheck(count: 100, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            let outcome = HTTP1Invariants.requests(RandomRequests.stream(seed: seed, count: 3))
            #expect(outcome.forwardingViolations.isEmpty, "seed \(seed): \(outcome.forwardingViolations)")
        }
    }
}

/// The fuzz target's own check, over mutated request and response streams.
@Suite struct OracleCheckTests {
    static let responses = [
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\nX-D: 1\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 101 Switching\r\n\r\nraw",
        "HTTP/1.0 200 OK\r\n\r\nclose-delimited",
    ]

    @Test func mutatedStreamsKeepTheInvariants() async {
        await propertyCheck(count: 200, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var random = SplitMix(state: seed)
            let isResponse = Bool.random(using: &random)
            var stream = isResponse
                ? bytes(Self.responses.randomElement(using: &random)!)
                : RandomRequests.stream(seed: seed, count: 2)
            for _ in 0..<Int.random(in: 0...2, using: &random) {
                stream[Int.random(in: 0..<stream.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            let selector = UInt8.random(in: 0...255, using: &random) & 0xFE | (isResponse ? 1 : 0)
            #expect(throws: Never.self, "seed \(seed)") { try HTTP1Invariants.check([selector] + stream) }
        }
    }

    @Test func randomStreamsAgreeAtEverySplitPoint() async {
        await propertyCheck(count: 5, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            let input = RandomRequests.stream(seed: seed, count: 1)
            let whole = HTTP1Invariants.requests(input)
            for offset in 1..<input.count where HTTP1Invariants.requests(input, pieces: [offset, input.count]) != whole {
                Issue.record("seed \(seed): split at \(offset) differs")
                return
            }
        }
    }
}
