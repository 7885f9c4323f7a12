import Foundation
import ShuntOracles
import Testing

/// Replays `Fuzz/FailCases/FuzzHTTP1-*` through the fuzz target's own invariants.
@Suite struct FuzzFailCaseTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/FailCases")

    static let cases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.hasPrefix("FuzzHTTP1-") }
        .sorted()

    @Test func thereAreFailCasesToReplay() {
        #expect(!Self.cases.isEmpty, "no FuzzHTTP1-* files in \(Self.folder.path)")
    }

    @Test(arguments: cases)
    func aFailCaseKeepsTheParsingInvariants(_ name: String) throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        #expect(throws: Never.self) { try HTTP1Invariants.check(Array(data)) }
    }
}
