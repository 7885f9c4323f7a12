import ShuntMatch
import Testing

/// The engine against Swift's own (backtracking) `Regex` on random small patterns of the supported
/// subset, over a tiny alphabet so that matches are frequent: whole-match answers must agree.
@Suite struct RegexOracleTests {
    struct PatternGenerator {
        var random: SeededGenerator

        mutating func pick<T>(_ items: [T]) -> T { items[Int(random.next(upperBound: UInt64(items.count)))] }
        mutating func chance(_ percent: UInt64) -> Bool { random.next(upperBound: UInt64(100)) < percent }

        mutating func alternation(depth: Int) -> String {
            var branches = [concatenation(depth: depth)]
            while chance(20) { branches.append(concatenation(depth: depth)) }
            return branches.joined(separator: "|")
        }

        mutating func concatenation(depth: Int) -> String {
            (0..<(Int(random.next(upperBound: UInt64(4))) + 1)).map { _ in repetition(depth: depth) }.joined()
        }

        mutating func repetition(depth: Int) -> String {
            let atom = atom(depth: depth)
            if atom == "^" || atom == "$" || !chance(40) { return atom }
            return atom + pick(["*", "+", "?", "{2}", "{0,2}", "{1,}", "{1,3}", "{0}", "*?"])
        }

        mutating func atom(depth: Int) -> String {
            switch random.next(upperBound: UInt64(depth > 2 ? 8 : 10)) {
            case 0, 1, 2: pick(["a", "b", "/"])
            case 3: pick([".", "\\/", "\\w", "\\W", "\\d"])
            case 4: pick(["[ab]", "[^a]", "[a-b]", "[/b]", "[^/]"])
            case 5: chance(50) ? "^" : "$"
            case 6, 7: pick(["a", "b"])
            case 8: "(" + alternation(depth: depth + 1) + ")"
            default: "(?:" + alternation(depth: depth + 1) + ")"
            }
        }

        mutating func subject() -> String {
            String((0..<Int(random.next(upperBound: UInt64(8)))).map { _ in pick(["a", "b", "/"] as [Character]) })
        }
    }

    @Test func wholeMatchAgreesWithSwiftRegexOnGeneratedPatterns() throws {
        var generator = PatternGenerator(random: SeededGenerator(seed: 0x5EED_0001))
        var compared = 0
        var matched = 0
        for _ in 0..<500 {
            let pattern = generator.alternation(depth: 0)
            let ours = try PathRegex(pattern)
            let oracle = try Regex(pattern)
            var subjects = (0..<25).map { _ in generator.subject() }
            subjects.append("")
            for subject in subjects {
                let expected = (try? oracle.wholeMatch(in: subject)) != nil
                #expect(ours.matches(subject) == expected, "\(pattern) on \"\(subject)\"")
                compared += 1
                if expected { matched += 1 }
            }
        }
        // Make sure the corpus exercises both answers.
        #expect(compared == 13_000)
        #expect(matched > 500)
        #expect(compared - matched > 1_000)
    }
}
