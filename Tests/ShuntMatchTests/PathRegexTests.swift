import ShuntMatch
import Testing

@Suite struct PathRegexTests {
    @Test(arguments: [
        ("/api/v[0-9]+/orders", "/api/v12/orders", true),
        ("/api/v[0-9]+/orders", "/api/v/orders", false),
        ("/api/v[0-9]+/orders", "/api/v1/orders/7", false),  // whole path only
        ("/users/\\d+", "/users/42", true),
        ("/users/\\d+", "/users/4a", false),
        ("/a.c", "/abc", true),
        ("/a\\.c", "/abc", false),
        ("/a\\.c", "/a.c", true),
        ("/[^/]+", "/seg", true),
        ("/[^/]+", "/seg/x", false),
        ("/(?:a|bc)*", "/abca", true),
        ("/(a|bc)*", "/abcb", false),
        ("/x{3}", "/xxx", true),
        ("/x{3}", "/xx", false),
        ("/x{2,}", "/xxxxx", true),
        ("/x{2,}", "/x", false),
        ("/x{1,2}", "/xx", true),
        ("/x{1,2}", "/xxx", false),
        ("/x{0}y", "/y", true),
        ("^/api$", "/api", true),
        ("^/api", "/api/x", false),
        ("/a|/b", "/b", true),
        ("/a|", "", true),
        ("[\\w-]+", "a_b-9", true),
        ("\\s", " ", true),
        ("/\\S+", "/a b", false),
        ("[a-c-]+", "a-b-c", true),
        ("[\\d.]+", "1.2", true),
        ("/\\/", "//", true),
        ("/a*?b", "/aab", true),
        ("/%2[fF]x", "/%2Fx", true),
        ("/é", "/%C3%A9", false),
    ] as [(String, String, Bool)])
    func matchesTheWholePath(pattern: String, path: String, expected: Bool) throws {
        guard pattern.utf8.allSatisfy({ $0 < 0x80 }) else {
            #expect(throws: RegexSyntaxError.self) { try PathRegex(pattern) }
            return
        }
        let regex = try PathRegex(pattern)
        #expect(regex.matches(path) == expected, "\(pattern) on \(path)")
    }

    @Test(arguments: [
        ("(ab", 4, RegexSyntaxError.Kind.missingCloseParen, "missing ) to close the group opened at column 1"),
        ("ab)", 3, .unmatchedCloseParen, "unmatched ), expected a literal, (, [, | or the end of the regex"),
        ("*a", 1, .nothingToRepeat, "nothing to repeat before *; a literal is written \\*"),
        ("a|+", 3, .nothingToRepeat, "nothing to repeat before +; a literal is written \\+"),
        ("a**", 3, .nothingToRepeat, "a quantifier cannot follow another quantifier; put the repeated part in ( ) first"),
        ("a*+", 3, .notSupported, "possessive quantifiers are not supported; put the repeated part in ( ) first"),
        ("^*", 2, .nothingToRepeat, "an anchor cannot be repeated"),
        ("a{", 3, .badRepeat, "expected a number after { (a literal { is written \\{)"),
        ("a{2", 4, .badRepeat, "expected , or } in {m,n}"),
        ("a{2,x}", 5, .badRepeat, "expected a number or } after , in {m,n}"),
        ("a{2,3", 6, .badRepeat, "expected } to close {m,n}"),
        ("a{3,2}", 2, .badRepeat, "repeat {3,2} has its minimum above its maximum"),
        ("a{1001}", 2, .repeatTooLarge, "repeat count 1001 is above the limit of 1000"),
        ("{2}", 1, .nothingToRepeat, "nothing to repeat before {; a literal { is written \\{"),
        ("/[abc", 6, .missingCloseBracket, "missing ] to close the class opened at column 2"),
        ("/[]a]", 3, .emptyClass, "empty class; a literal ] is written \\]"),
        ("/[z-a]", 3, .badRange, "range z-a is reversed"),
        ("/[\\d-z]", 3, .badRange, "a class escape cannot start a range; a literal - is written \\-"),
        ("/[[:alpha:]]", 3, .notSupported, "nested classes and [: :] are not supported; a literal [ is written \\["),
        ("(a)\\1", 4, .notSupported, "backreferences (\\1) are not supported: the engine runs in linear time"),
        ("/(?=a)", 2, .notSupported, "lookahead (?= is not supported: the engine runs in linear time and has no lookaround"),
        ("/(?!a)", 2, .notSupported, "lookahead (?! is not supported: the engine runs in linear time and has no lookaround"),
        ("/(?<=a)", 2, .notSupported, "lookbehind (?<= is not supported: the engine runs in linear time and has no lookaround"),
        ("/(?<!a)", 2, .notSupported, "lookbehind (?<! is not supported: the engine runs in linear time and has no lookaround"),
        ("/(?<n>a)", 2, .notSupported, "named groups are not supported; use ( ) or (?: )"),
        ("/(?i)a", 2, .notSupported, "group flags (?…) are not supported; only ( ) and (?: ) are"),
        ("/a\\b", 3, .notSupported, "the assertion \\b is not supported; the regex always matches the whole path"),
        ("/a\\q", 3, .badEscape, "unknown escape \\q; expected \\d \\D \\w \\W \\s \\S \\t \\n \\r or \\ before punctuation"),
        ("/a\\", 3, .badEscape, "\\ at the end of the regex; a literal \\ is written \\\\"),
        ("/é", 2, .nonASCII, "non-ASCII character: paths are matched as sent, percent-encoded; write its %XX form instead"),
        ("", 1, .empty, "the regex is empty; to match every path, leave out --http-path-regex"),
    ] as [(String, Int, RegexSyntaxError.Kind, String)])
    func aMalformedRegexIsRefusedAtItsPosition(pattern: String, column: Int, kind: RegexSyntaxError.Kind, message: String) {
        #expect(throws: RegexSyntaxError(kind, pattern: pattern, column: column, message)) { try PathRegex(pattern) }
    }

    @Test func theErrorPointsAtTheColumnWithACaret() {
        let error = RegexSyntaxError(.badRange, pattern: "/[z-a]", column: 3, "range z-a is reversed")
        #expect(error.pointer == "/[z-a]\n  ^")
        #expect(error.description == "REGEX_BAD_RANGE at column 3: range z-a is reversed")
    }

    @Test func catastrophicPatternsRunInLinearTime() throws {
        let path = String(repeating: "a", count: 10_000)
        for pattern in ["(a*)*b", "(a|a)*b", "(a|aa)*c", "(a+)+b", "(.*a){20}b", "(?:a?){30}a*b"] {
            let regex = try PathRegex(pattern)
            #expect(!regex.matches(path), "\(pattern)")
            #expect(regex.matches(path + "b") == pattern.hasSuffix("b"), "\(pattern)")
        }
    }

    @Test func largeProgramsUseSeveralWordsOfStateAndStillMatch() throws {
        // 300 consuming states: five 64-bit words.
        let regex = try PathRegex("/(?:[a-z]{1,3}/){0,50}x")
        #expect(regex.programSize > 128)
        #expect(regex.matches("/ab/c/def/x"))
        #expect(regex.matches("/" + String(repeating: "abc/", count: 50) + "x"))
        #expect(!regex.matches("/" + String(repeating: "abc/", count: 51) + "x"))
        #expect(!regex.matches("/abcd/x"))
    }

    @Test func theProgramSizeLimitIsExactAndNamed() throws {
        // `a{n}` is n instructions plus `match`.
        let limits = MatchLimits(maxRegexProgramSize: 100)
        #expect(try PathRegex("a{99}", limits: limits).programSize == 100)
        #expect(throws: RegexSyntaxError(.programTooLarge, pattern: "a{100}", column: 2,
            "repeating a here expands the regex to more than 100 instructions (maxRegexProgramSize)")) {
            try PathRegex("a{100}", limits: limits)
        }
        // No single repeat too large, the whole is: reported at the end.
        let whole = String(repeating: "a", count: 60) + "b{40}"
        #expect(throws: RegexSyntaxError(.programTooLarge, pattern: whole, column: 66,
            "the regex expands to more than 100 instructions (maxRegexProgramSize); use fewer or smaller {m,n} repeats")) {
            try PathRegex(whole, limits: limits)
        }
        // Nested repeats that would overflow an Int are caught too.
        #expect(throws: RegexSyntaxError.self) { try PathRegex("((((a{1000}){1000}){1000}){1000}){1000}") }
    }

    @Test func theRegexLengthNestingAndRepeatLimitsAreExact() throws {
        let limits = MatchLimits(maxRegexLength: 20, maxRegexRepeatCount: 5, maxRegexNesting: 3)
        _ = try PathRegex(String(repeating: "a", count: 20), limits: limits)
        #expect(throws: RegexSyntaxError.self) { try PathRegex(String(repeating: "a", count: 21), limits: limits) }
        _ = try PathRegex("a{5}", limits: limits)
        #expect(throws: RegexSyntaxError(.repeatTooLarge, pattern: "a{6}", column: 2, "repeat count 6 is above the limit of 5")) {
            try PathRegex("a{6}", limits: limits)
        }
        _ = try PathRegex("(((a)))", limits: limits)
        #expect(throws: RegexSyntaxError(.nestingTooDeep, pattern: "((((a))))", column: 4, "groups nest deeper than 3 here")) {
            try PathRegex("((((a))))", limits: limits)
        }
    }
}
