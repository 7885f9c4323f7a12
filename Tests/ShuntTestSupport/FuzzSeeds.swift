import Foundation

/// What the unit tests of the two-sided fuzz targets (`FuzzEdge`, `FuzzBoundary`) share: their input
/// layout, and the seeded mutations they apply to their seeds.
public enum FuzzSeeds {
    /// `Fuzz/FailCases`: inputs the fuzz targets once failed on, replayed by the tests.
    public static let failCaseFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/FailCases")

    /// The names of `target`'s fail cases (`TARGET-*`), sorted.
    public static func failCases(of target: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: failCaseFolder.path)) ?? [])
            .filter { $0.hasPrefix(target + "-") }
            .sorted()
    }

    /// The octets of the fail case `name`.
    public static func failCase(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: failCaseFolder.appendingPathComponent(name)))
    }

    /// A flags octet, an octet that splits the rest in proportion, then both sides' octets
    /// (`Fuzz/make_seeds.py`'s `two_sided`).
    public static func twoSided(_ flags: UInt8, _ first: String, _ second: String) -> [UInt8] {
        let a = Array(first.utf8), b = Array(second.utf8)
        let total = a.count + b.count
        let split = total == 0 ? 0 : min(255, (a.count * 256 + total - 1) / total)
        return [flags, UInt8(split)] + a + b
    }
}

/// Byte flips, insertions, deletions and cuts from a fixed seed (splitmix64), so that a failing
/// round can be found again.
public struct SeededMutations {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// One of `seeds`, mutated one to four times at positions from `kept` on (the octets before it
    /// are left to the caller).
    public mutating func mutated(_ seeds: [[UInt8]], keeping kept: Int = 0) -> [UInt8] {
        var input = seeds[Int(next() % UInt64(seeds.count))]
        for _ in 0..<(1 + Int(next() % 4)) {
            let position = kept + Int(next() % UInt64(max(1, input.count - kept)))
            switch next() % 4 {
            case 0: if position < input.count { input[position] = UInt8(truncatingIfNeeded: next()) }
            case 1: input.insert(UInt8(truncatingIfNeeded: next()), at: min(position, input.count))
            case 2: if position < input.count { input.remove(at: position) }
            default: input = Array(input.prefix(position))
            }
        }
        return input
    }
}
