import ShuntMatch
import Testing

@Suite struct HeaderConditionTests {
    @Test(arguments: [
        ("x-user=alice", "x-user", "alice"),
        ("X-User=alice", "x-user", "alice"),
        ("x-user: alice", "x-user", "alice"),
        ("x-user:alice", "x-user", "alice"),
        ("x-user:\t  alice", "x-user", "alice"),
        ("x-user=a=b:c", "x-user", "a=b:c"),
        ("x-user: a=b", "x-user", "a=b"),
        ("x-user=Alice Smith", "x-user", "Alice Smith"),
        ("x-user=", "x-user", ""),
        ("x-user:", "x-user", ""),
        ("!#$%&'*+-.^_`|~09azAZ=v", "!#$%&'*+-.^_`|~09azaz", "v"),
        ("x-name=Zoë", "x-name", "Zoë"),
    ])
    func keyValueAndColonFormsParse(flag: String, name: String, value: String) throws {
        let condition = try HeaderCondition(flag: flag)
        #expect(condition.name == name)
        #expect(condition.value == value)
        #expect(!condition.isGenerated)
    }

    @Test(arguments: [
        ("x-user", RuleError.headerSyntax(flag: "x-user")),
        ("=alice", .headerNameEmpty(flag: "=alice")),
        (": alice", .headerNameEmpty(flag: ": alice")),
        ("x user=alice", .headerNameNotToken(flag: "x user=alice", column: 2)),
        ("x-user =alice", .headerNameNotToken(flag: "x-user =alice", column: 7)),
        ("x-us(er=alice", .headerNameNotToken(flag: "x-us(er=alice", column: 5)),
        ("x-usér=alice", .headerNameNotToken(flag: "x-usér=alice", column: 5)),
        ("x-user=al\rice", .headerValueInvalid(flag: "x-user=al\rice", column: 10, byte: 0x0D)),
        ("x-user=al\nice", .headerValueInvalid(flag: "x-user=al\nice", column: 10, byte: 0x0A)),
        ("x-user: a\u{0}", .headerValueInvalid(flag: "x-user: a\u{0}", column: 10, byte: 0x00)),
        ("x-user=a\u{7F}", .headerValueInvalid(flag: "x-user=a\u{7F}", column: 9, byte: 0x7F)),
        ("x-user= alice", .headerValueWhitespace(flag: "x-user= alice")),
        ("x-user=alice\t", .headerValueWhitespace(flag: "x-user=alice\t")),
        ("x-user: alice ", .headerValueWhitespace(flag: "x-user: alice ")),
    ])
    func malformedHeadersAreRefusedPrecisely(flag: String, expected: RuleError) {
        #expect(throws: expected) { try HeaderCondition(flag: flag) }
    }

    @Test func theMessageNamesTheFlagAndTheColumn() {
        let error = RuleError.headerNameNotToken(flag: "x user=alice", column: 2)
        #expect(error.description == "HEADER_NAME_NOT_TOKEN: --http-header=x user=alice: a space at column 2 cannot be in a header name (RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~)")
        #expect(RuleError.headerValueInvalid(flag: "a=b\r", column: 4, byte: 13).message
            == "--http-header=a=b\r: octet 0x0D at column 4 cannot be in a header value (no CR, LF, NUL or other control characters)")
    }

    @Test func nameAndValueLengthLimitsAreExact() throws {
        let limits = MatchLimits(maxHeaderNameLength: 8, maxHeaderValueLength: 5)
        _ = try HeaderCondition(flag: "abcdefgh=12345", limits: limits)
        #expect(throws: RuleError.headerNameTooLong(name: "abcdefghi", length: 9, limit: 8)) {
            try HeaderCondition(flag: "abcdefghi=1", limits: limits)
        }
        #expect(throws: RuleError.headerValueTooLong(name: "a", length: 6, limit: 5)) {
            try HeaderCondition(flag: "a=123456", limits: limits)
        }
    }

    @Test func namesMatchWithoutCaseAndValuesExactly() throws {
        let spec = try personal(["X-User=Alice"])
        let alice = try rule("alice", "orders-alice", spec)
        #expect(alice.matches(RequestHead.make("/", [("x-user", "Alice")])))
        #expect(alice.matches(RequestHead.make("/", [("X-USER", "Alice")])))
        #expect(!alice.matches(RequestHead.make("/", [("x-user", "alice")])))
        #expect(!alice.matches(RequestHead.make("/", [("x-user", "Alice2")])))
        #expect(!alice.matches(RequestHead.make("/", [("x-users", "Alice")])))
        #expect(!alice.matches(RequestHead.make("/", [])))
        // Surrounding white space left by a parser is not part of the value.
        #expect(alice.matches(RequestHead.make("/", [("x-user", " \tAlice ")])))
        // A list line is one value.
        #expect(!alice.matches(RequestHead.make("/", [("x-user", "Alice, Bob")])))
    }

    @Test func aHeaderSentSeveralTimesMatchesIfAnyValueDoes() throws {
        let alice = try rule("alice", "a", try personal(["x-user=alice"]))
        #expect(alice.matches(RequestHead.make("/", [("x-user", "bob"), ("x-other", "1"), ("X-User", "alice")])))
        #expect(!alice.matches(RequestHead.make("/", [("x-user", "bob"), ("x-user", "carol")])))
    }

    @Test func allHeadersMustMatch() throws {
        let both = try rule("alice", "a", try personal(["x-user=alice", "x-env: dev"]))
        #expect(both.matches(RequestHead.make("/", [("x-env", "dev"), ("x-user", "alice")])))
        #expect(!both.matches(RequestHead.make("/", [("x-user", "alice")])))
        #expect(!both.matches(RequestHead.make("/", [("x-env", "dev")])))
        #expect(!both.matches(RequestHead.make("/", [("x-env", "prod"), ("x-user", "alice")])))
    }
}
