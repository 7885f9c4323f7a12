import Foundation
import ShuntOracles
import ShuntTestSupport
import Testing

/// The agent and the laptop agree where an exchange on a tunnel stream ends (`BoundaryAgreement`, the
/// fuzz target `FuzzBoundary`): on seeds of every way a response ends, on a few thousand seeded
/// mutations of them, and on every `Fuzz/FailCases/FuzzBoundary-*` file.
@Suite struct BoundaryAgreementTests {
    static func input(_ piece: UInt8, _ caller: String, _ service: String) -> [UInt8] {
        FuzzSeeds.twoSided(piece, caller, service)
    }

    static let host = "Host: orders\r\n"
    static let get = "GET /a HTTP/1.1\r\n\(host)\r\n"
    /// (caller, service, where both ends see the response end, whether the agent keeps the stream)
    static let seeds: [(caller: String, service: String, end: Int?, kept: Bool)] = [
        (get, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 43, true),
        (get, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", 70, true),
        ("HEAD /a HTTP/1.1\r\n\(host)\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 39, true),
        (get, "HTTP/1.1 204 No Content\r\n\r\n", 27, true),
        (get, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 49, true),
        ("POST /o HTTP/1.1\r\n\(host)Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 63, true),
        (get, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 57, false),
        (get, "HTTP/1.1 200 OK\r\n\r\nuntil the end", nil, false),
        ("GET /ws HTTP/1.1\r\n\(host)Connection: upgrade\r\nUpgrade: websocket\r\n\r\n",
         "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nraw", nil, false),
    ]

    /// Fed one octet at a time and 16 at a time, each seed ends where it should at both ends (with
    /// pieces of 16, at the end of the piece that holds its last octet).
    @Test(arguments: seeds.indices)
    func bothEndsSeeTheSeedEndWhereItDoes(_ index: Int) throws {
        let seed = Self.seeds[index]
        for piece in [1, 16] {
            let input = Self.input(UInt8(piece - 1), seed.caller, seed.service)
            #expect(throws: Never.self) { try BoundaryAgreement.check(input) }
            let outcome = try #require(try BoundaryAgreement.run(input))
            let end = seed.end.map { min(($0 + piece - 1) / piece * piece, seed.service.utf8.count) }
            #expect(outcome.laptopEnd == end, "\(outcome)")
            #expect(outcome.agentEnd == end, "\(outcome)")
            #expect(outcome.agentKeeps == seed.kept, "\(outcome)")
        }
    }

    /// Byte flips, insertions, deletions and cuts of the seeds, from a fixed random seed.
    @Test func mutatedSeedsKeepTheEndsInAgreement() {
        var mutations = SeededMutations(seed: 0x424F_554E_4441_5259)
        let seeds = Self.seeds.map { Self.input(0, $0.caller, $0.service) }
        for round in 0..<5_000 {
            var input = mutations.mutated(seeds, keeping: 2)
            input[0] = UInt8(truncatingIfNeeded: mutations.next())
            do {
                try BoundaryAgreement.check(input)
            } catch {
                Issue.record("round \(round): \(error); input \(input)")
                return
            }
        }
    }

    /// Every `Fuzz/FailCases/FuzzBoundary-*` file (none yet: 3.9 million runs found nothing), with
    /// every seed at every piece size beside them, so that the test checks something either way.
    @Test func theFailCasesAndEverySeedAtEveryPieceSizeKeepTheEndsInAgreement() throws {
        var inputs = try FuzzSeeds.failCases(of: "FuzzBoundary").map(FuzzSeeds.failCase)
        for seed in Self.seeds {
            inputs += (0..<16).map { Self.input(UInt8($0), seed.caller, seed.service) }
        }
        for input in inputs {
            #expect(throws: Never.self) { try BoundaryAgreement.check(input) }
        }
    }
}
