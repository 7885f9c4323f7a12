import ShuntMatch
import Testing

@Suite struct PathConditionTests {
    func matches(_ condition: PathCondition, _ target: String) throws -> Bool {
        try rule("o", "n", try RuleSpec(headers: [try HeaderCondition(flag: "h=v")], path: condition))
            .matches(RequestHead.make(target, [("h", "v")]))
    }

    @Test(arguments: [
        ("/api", "/api", true),
        ("/api", "/api/", true),
        ("/api", "/api/x", true),
        ("/api", "/api/x/y", true),
        ("/api", "/apix", false),
        ("/api", "/ap", false),
        ("/api", "/", false),
        ("/api", "/API", false),
        ("/api", "/api?x=1", true),
        ("/api", "/apix?/", false),
        ("/api", "/api#frag", true),
        ("/api/", "/api/", true),
        ("/api/", "/api/x", true),
        ("/api/", "/api", false),
        ("/api/", "/apix", false),
        ("/", "/", true),
        ("/", "/anything/at/all", true),
        ("/a/b", "/a/b/c", true),
        ("/a/b", "/a/bc", false),
        ("/a%2Fb", "/a%2Fb/c", true),
        ("/a%2Fb", "/a/b", false),
    ])
    func prefixIsSegmentAware(prefix: String, target: String, expected: Bool) throws {
        #expect(try matches(.prefix(prefix), target) == expected, "\(prefix) on \(target)")
    }

    @Test(arguments: [
        ("/health", "/health", true),
        ("/health", "/health?verbose=1", true),
        ("/health", "/health#top", true),
        ("/health", "/health/", false),
        ("/health", "/healthz", false),
        ("/health", "/Health", false),
        ("/a%20b", "/a%20b", true),
        ("/a%20b", "/a b", false),
        ("/", "http://orders.svc:8080/?q", true),
        ("/", "http://orders.svc:8080?q", true),
        ("/x", "http://orders.svc/x?q", true),
        ("/x", "https://orders.svc/x#f", true),
    ])
    func equalComparesTheRawPathWithoutQuery(path: String, target: String, expected: Bool) throws {
        #expect(try matches(.equal(path), target) == expected, "\(path) on \(target)")
    }

    @Test func theRegexMustMatchTheWholePathWithoutTheQuery() throws {
        let orders = try PathCondition.regex("/orders/\\d+")
        #expect(try matches(orders, "/orders/42"))
        #expect(try matches(orders, "/orders/42?expand=items"))
        #expect(try !matches(orders, "/orders/42/items"))
        #expect(try !matches(orders, "/v2/orders/42"))
        #expect(try !matches(orders, "/orders/"))
    }

    @Test func requestTargetFormsGiveTheirPath() {
        for (target, path) in [
            ("/a/b?c=d", "/a/b"), ("/a/b#f", "/a/b"), ("/?", "/"), ("/a?b?c", "/a"), ("/a#b?c", "/a"),
            ("http://h/a/b?q", "/a/b"), ("HTTP://h:80/x", "/x"), ("http://h", ""), ("http://h?q", ""), ("*", "*"),
            ("h:80", "h:80"), ("", ""),
        ] {
            #expect(RequestHead.make(target).pathString == path, "\(target)")
        }
    }

    @Test(arguments: [
        (PathCondition.Kind.equal, "api", RuleError.pathNotAbsolute(flag: "--http-path-equal", path: "api")),
        (.prefix, "", .pathNotAbsolute(flag: "--http-path-prefix", path: "")),
        (.prefix, "/api?x=1", .pathHasQuery(flag: "--http-path-prefix", column: 5)),
        (.equal, "/api#top", .pathHasQuery(flag: "--http-path-equal", column: 5)),
        (.equal, "/a b", .pathInvalidCharacter(flag: "--http-path-equal", column: 3, byte: 0x20)),
        (.prefix, "/é", .pathInvalidCharacter(flag: "--http-path-prefix", column: 2, byte: 0xC3)),
        (.equal, "/a\u{7F}", .pathInvalidCharacter(flag: "--http-path-equal", column: 3, byte: 0x7F)),
        (.regex, "/a(", .regex(RegexSyntaxError(.missingCloseParen, pattern: "/a(", column: 4, "missing ) to close the group opened at column 3"))),
    ])
    func malformedPathsAreRefused(kind: PathCondition.Kind, value: String, expected: RuleError) {
        #expect(throws: expected) { try PathCondition(kind, value) }
    }

    @Test func pathAndRegexLengthLimitsAreExact() throws {
        let limits = MatchLimits(maxPathLength: 10, maxRegexLength: 12)
        let ten = "/" + String(repeating: "a", count: 9)
        _ = try PathCondition.prefix(ten, limits: limits)
        _ = try PathCondition.equal(ten, limits: limits)
        #expect(throws: RuleError.pathTooLong(flag: "--http-path-prefix", length: 11, limit: 10)) {
            try PathCondition.prefix(ten + "a", limits: limits)
        }
        _ = try PathCondition.regex("/" + String(repeating: "b", count: 11), limits: limits)
        #expect(throws: RuleError.self) { try PathCondition.regex("/" + String(repeating: "b", count: 12), limits: limits) }
        // The defaults: 1024.
        _ = try PathCondition.prefix("/" + String(repeating: "a", count: 1023))
        #expect(throws: RuleError.self) { try PathCondition.prefix("/" + String(repeating: "a", count: 1024)) }
    }
}
