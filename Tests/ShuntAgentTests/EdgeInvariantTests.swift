import Foundation
import ShuntOracles
import ShuntTestSupport
import Testing

/// The fuzz target `FuzzEdge`'s invariants (`EdgeInvariants`) on its seeds and on a few thousand
/// seeded mutations of them, plus every `Fuzz/FailCases/FuzzEdge-*` file.
@Suite struct EdgeInvariantTests {
    static func edge(_ flags: UInt8, _ client: String, _ upstream: String) -> [UInt8] {
        FuzzSeeds.twoSided(flags, client, upstream)
    }

    static let host = "Host: orders\r\n"
    static let seeds: [[UInt8]] = [
        edge(0x07, "GET /orders/1 HTTP/1.1\r\n\(host)X-Dev: alice\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        edge(0x03, "POST /api/x HTTP/1.1\r\n\(host)X-Team: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\n\r\n"),
        edge(0x0F, String(repeating: "GET /a HTTP/1.1\r\n\(host)\r\n", count: 3), String(repeating: "HTTP/1.1 204 No Content\r\n\r\n", count: 3)),
        edge(0x05, "PUT /f HTTP/1.1\r\n\(host)Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
             "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
        edge(0x06, "GET /ws HTTP/1.1\r\n\(host)Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nframes",
             "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw"),
        edge(0x08, "POST / HTTP/1.1\r\n\(host)Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", ""),
        edge(0x13, "GET / HTTP/1.1\r\n\(host)\r\n", ""),
        edge(0x24, "GET / HTTP/1.1\r\n\(host)\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"),
        edge(0x01, "GET / HTTP/1.1\r\n\(host)\r\n", "HTTP/1.1 200 OK\r\n\r\nuntil the end"),
    ]

    @Test(arguments: seeds.indices)
    func aSeedKeepsTheEdgeInvariants(_ index: Int) {
        #expect(throws: Never.self) { try EdgeInvariants.check(Self.seeds[index]) }
    }

    /// Byte flips, insertions, deletions and cuts of the seeds, from a fixed random seed.
    @Test func mutatedSeedsKeepTheEdgeInvariants() {
        var mutations = SeededMutations(seed: 0x5348_554E_5445_4447)
        for round in 0..<3_000 {
            let input = mutations.mutated(Self.seeds)
            do {
                try EdgeInvariants.check(input)
            } catch {
                Issue.record("round \(round): \(error); input \(input)")
                return
            }
        }
    }

    static let failCases = FuzzSeeds.failCases(of: "FuzzEdge")

    @Test(arguments: failCases)
    func aFailCaseKeepsTheEdgeInvariants(_ name: String) throws {
        let input = try FuzzSeeds.failCase(name)
        #expect(throws: Never.self) { try EdgeInvariants.check(input) }
    }
}
