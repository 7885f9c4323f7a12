import Foundation
import ShuntOracles
import Testing

/// Replays `Fuzz/FailCases/FuzzFrameDecoder-*` through the fuzz target's own invariants.
@Suite struct FuzzFailCaseTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/FailCases")

    static let cases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.hasPrefix("FuzzFrameDecoder-") }
        .sorted()

    @Test func thereAreFailCasesToReplay() {
        #expect(!Self.cases.isEmpty, "no FuzzFrameDecoder-* files in \(Self.folder.path)")
    }

    @Test(arguments: cases)
    func aFailCaseKeepsTheDecoderInvariants(_ name: String) throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        #expect(throws: Never.self) { try DecoderInvariants.check(Array(data)) }
    }

    @Test func aKnownGoodFrameSatisfiesTheOracleSplitOrWhole() {
        let ping: [UInt8] = [0x02, 0, 0, 0, 8, 4, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
        let outcome = DecoderInvariants.decode(Array(ping.dropFirst()), limits: .init(), preface: false, chunk: 3)
        #expect(outcome.frames.count == 1)
        #expect(outcome.error == nil)
        #expect(throws: Never.self) { try DecoderInvariants.check(ping) }
    }
}
