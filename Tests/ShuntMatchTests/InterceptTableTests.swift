import ShuntMatch
import Testing

/// A rule in the compact form of the tables below: header flags, then `equal=`, `prefix=` or
/// `regex=` for the path, or `all`.
func compact(_ text: String) throws -> RuleSpec {
    var flags = RuleFlags()
    for part in text.split(separator: " ").map(String.init) {
        if part.hasPrefix("equal=") { flags.pathEqual.append(String(part.dropFirst(6))) }
        else if part.hasPrefix("prefix=") { flags.pathPrefix.append(String(part.dropFirst(7))) }
        else if part.hasPrefix("regex=") { flags.pathRegex.append(String(part.dropFirst(6))) }
        else { flags.httpHeader.append(part) }
    }
    // A seed from the text: two different texts with `auto` get different ids, the same text the same.
    var generator = SeededGenerator(seed: text.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 })
    return try flags.spec(using: &generator)
}

@Suite struct InterceptConflictTests {
    /// Rule A (alice) is active; rule B (bob, or alice where `sameOwner`) is added.
    @Test(arguments: [
        ("h=1", "h=2", false, false),                                   // different values of one header: disjoint
        ("h=1", "h=1", false, true),
        ("h=1", "g=1", false, true),                                    // a request can carry both
        ("h=1", "h=1 g=2", false, true),                                // a subset steals from the superset
        ("h=1 g=1", "h=1 g=2", false, false),
        ("H=1", "h=1", false, true),                                    // names compare without case
        ("h=A", "h=a", false, false),                                   // values compare exactly
        ("h=1 equal=/a", "h=1 equal=/b", false, false),
        ("h=1 equal=/a", "h=1 equal=/a", false, true),
        ("h=1 equal=/api/x", "h=1 prefix=/api", false, true),
        ("h=1 equal=/api", "h=1 prefix=/api", false, true),
        ("h=1 equal=/apix", "h=1 prefix=/api", false, false),
        ("h=1 equal=/api", "h=1 prefix=/api/", false, false),
        ("h=1 prefix=/api", "h=1 prefix=/api/v1", false, true),
        ("h=1 prefix=/api", "h=1 prefix=/apix", false, false),
        ("h=1 prefix=/api", "h=1 prefix=/api/", false, true),
        ("h=1 prefix=/", "h=1 equal=/anything", false, true),
        ("h=1 prefix=/a/", "h=1 prefix=/b/", false, false),
        ("h=1 regex=/orders/\\d+", "h=1 equal=/orders/7", false, true),
        ("h=1 regex=/orders/\\d+", "h=1 equal=/orders/x", false, false),
        ("h=1 regex=/orders/\\d+", "h=1 prefix=/orders", false, true),
        ("h=1 regex=/orders/\\d+", "h=1 prefix=/orders/7/", false, false),
        ("h=1 regex=/orders/\\d+", "h=1 prefix=/users", false, false),
        ("h=1 regex=/a/[0-9]+", "h=1 regex=/a/[a-z]+", false, false),
        ("h=1 regex=/a/.*", "h=1 regex=.*/b", false, true),
        ("h=1 regex=/v1/.*", "h=1 regex=/v2/.*", false, false),
        ("h=1 regex=/a|/b", "h=1 equal=/b", false, true),
        ("h=1 regex=/x", "h=1 regex=/x(/.*)?", false, true),
        ("h=1", "h=1 regex=/x", false, true),                           // no path condition overlaps every path
        ("h=1 prefix=/api", "h=2 prefix=/api", false, false),           // headers tell them apart
        ("auto", "auto prefix=/api", false, false),                     // two auto headers never overlap
        ("h=1", "h=1", true, false),                                    // one developer's rules may overlap
        ("h=1 prefix=/api", "h=1 equal=/api/x", true, false),
        ("all", "h=1", false, true),
        ("h=1", "all", false, true),
        ("all", "h=1", true, true),                                     // a global intercept needs the port alone
        ("h=1", "all", true, true),
    ])
    func conflictTable(a: String, b: String, sameOwner: Bool, conflict: Bool) throws {
        // Checked in both orders: the relation is symmetric.
        for (first, second) in [(a, b), (b, a)] {
            var table = InterceptTable()
            try table.add(try rule("alice", "first", try compact(first)))
            let added = Result { () throws(RuleConflict) in try table.add(try! rule(sameOwner ? "alice" : "bob", "second", try! compact(second))) }
            switch added {
            case .success: #expect(!conflict, "\(first) then \(second)")
            case .failure(let error):
                #expect(conflict, "\(first) then \(second): \(error)")
                #expect(error.description.contains("first"), "the message names the other intercept")
                #expect(error.description.contains("alice"), "the message names its owner")
            }
        }
    }

    @Test func conflictMessagesNameTheOtherInterceptAndItsOwner() throws {
        var table = InterceptTable()
        try table.add(try rule("alice@example.com", "orders-alice", try compact("x-user=alice prefix=/api")))
        #expect(throws: RuleConflict.overlapping(name: "orders-alice", owner: "alice@example.com", rule: try compact("x-user=alice prefix=/api"))) {
            try table.add(try rule("bob@example.com", "orders-bob", try compact("x-user=alice equal=/api/x")))
        }
        let overlap = RuleConflict.overlapping(name: "orders-alice", owner: "alice@example.com", rule: try compact("x-user=alice prefix=/api"))
        #expect(overlap.description == "INTERCEPT_OVERLAP: intercept orders-alice of alice@example.com (--http-header=x-user=alice --http-path-prefix=/api) could receive the same requests; add a header that tells yours apart (--http-header=auto)")
        #expect(throws: RuleConflict.interceptsActive(name: "orders-alice", owner: "alice@example.com", count: 1)) {
            try table.add(try rule("bob@example.com", "orders-bob", .global))
        }
        #expect(throws: RuleConflict.nameTaken(name: "orders-alice", owner: "alice@example.com")) {
            try table.add(try rule("bob@example.com", "orders-alice", try compact("x-user=bob")))
        }
        var global = InterceptTable()
        try global.add(try rule("carol", "all-carol", .global))
        #expect(throws: RuleConflict.globalInterceptActive(name: "all-carol", owner: "carol")) {
            try global.add(try rule("dave", "d", try compact("x-user=dave")))
        }
        #expect(RuleConflict.globalInterceptActive(name: "all-carol", owner: "carol").description
            == "GLOBAL_INTERCEPT_ACTIVE: carol holds a global intercept (all-carol) on this port: it takes every connection; ask them to leave it")
    }

    @Test func theSameOwnerReRegisteringANameReplacesIt() throws {
        var table = InterceptTable()
        try table.add(try rule("alice", "mine", try compact("h=1 prefix=/api")))
        try table.add(try rule("alice", "mine", try compact("h=1 prefix=/api")))
        #expect(table.count == 1)
        try table.add(try rule("alice", "mine", try compact("h=2")))
        #expect(table.count == 1)
        #expect(table.rule(named: "mine")?.spec == (try compact("h=2")))
        // The replaced rule no longer conflicts with bob's.
        try table.add(try rule("bob", "bobs", try compact("h=1 prefix=/api")))
        // A global rule may replace the owner's only rule.
        var alone = InterceptTable()
        try alone.add(try rule("alice", "mine", try compact("h=1")))
        try alone.add(try rule("alice", "mine", .global))
        #expect(alone.globalIntercept?.name == "mine")
    }

    @Test func interceptsPerPortLimitIsExact() throws {
        for limit in [3, MatchLimits.default.maxInterceptsPerPort] {
            var table = InterceptTable(limits: MatchLimits(maxInterceptsPerPort: limit))
            for index in 0..<limit { try table.add(try rule("dev\(index)", "i\(index)", try compact("x-shunt-intercept=\(index)"))) }
            #expect(table.count == limit)
            #expect(throws: RuleConflict.tooManyIntercepts(limit: limit)) {
                try table.add(try rule("late", "late", try compact("x-shunt-intercept=late")))
            }
            // Replacing one at the limit is still allowed.
            try table.add(try rule("dev0", "i0", try compact("x-shunt-intercept=zero")))
        }
        #expect(MatchLimits.default.maxInterceptsPerPort == 64)
    }

    @Test func interceptNamesAndOwnersAreChecked() throws {
        let spec = try compact("h=1")
        let limits = MatchLimits(maxInterceptNameLength: 4, maxOwnerLength: 3)
        _ = try rule("abc", "a-_.", spec, limits: limits)
        #expect(throws: RuleError.interceptNameInvalid(name: "abcde", limit: 4)) { try rule("a", "abcde", spec, limits: limits) }
        #expect(throws: RuleError.interceptNameInvalid(name: "", limit: 4)) { try rule("a", "", spec, limits: limits) }
        #expect(throws: RuleError.interceptNameInvalid(name: "a b", limit: 4)) { try rule("a", "a b", spec, limits: limits) }
        #expect(throws: RuleError.ownerInvalid(owner: "abcd", limit: 3)) { try rule("abcd", "a", spec, limits: limits) }
        #expect(throws: RuleError.ownerInvalid(owner: "a\n", limit: 3)) { try rule("a\n", "a", spec, limits: limits) }
    }
}

@Suite struct RoutingOrderTests {
    @Test func aGlobalInterceptTakesEverything() throws {
        var table = InterceptTable()
        try table.add(try rule("carol", "all", .global))
        #expect(table.route(RequestHead.make("/anything")).interceptName == "all")
        #expect(table.globalIntercept?.owner == "carol")
    }

    @Test func noMatchGoesToTheApp() throws {
        var table = InterceptTable()
        #expect(table.route(RequestHead.make("/")).interceptName == nil)
        try table.add(try rule("alice", "a", try compact("x-user=alice")))
        #expect(table.route(RequestHead.make("/", [("x-user", "bob")])).interceptName == nil)
        #expect(table.route(RequestHead.make("/", [("x-user", "alice")])).interceptName == "a")
        #expect(table.globalIntercept == nil)
    }

    @Test func theMostSpecificRuleWinsWhateverTheOrderOfAdding() throws {
        // One developer's overlapping rules, each the most specific for one request.
        let rules = [
            ("none", "h=1"),
            ("regex", "h=1 regex=/api/.*"),
            ("prefix-short", "h=1 prefix=/api"),
            ("prefix-long", "h=1 prefix=/api/orders"),
            ("equal", "h=1 equal=/api/orders/7"),
            ("two-headers", "h=1 g=1"),
        ]
        let requests: [(RequestHead, String)] = [
            (.make("/api/orders/7", [("h", "1"), ("g", "1")]), "two-headers"),
            (.make("/api/orders/7", [("h", "1")]), "equal"),
            (.make("/api/orders/8", [("h", "1")]), "prefix-long"),
            (.make("/api/users", [("h", "1")]), "prefix-short"),
            (.make("/api", [("h", "1")]), "prefix-short"),
            (.make("/other", [("h", "1")]), "none"),
        ]
        var generator = SeededGenerator(seed: 11)
        for _ in 0..<20 {
            var table = InterceptTable()
            for (name, text) in rules.shuffled(using: &generator) { try table.add(try rule("alice", name, try compact(text))) }
            #expect(table.rules.map(\.name) == ["two-headers", "equal", "prefix-long", "prefix-short", "regex", "none"])
            for (request, expected) in requests {
                #expect(table.route(request).interceptName == expected, "\(request.pathString)")
                #expect(table.firstMatch(request).map { table.rules[$0].name } == expected, "the index `route` reads its rule at")
            }
            #expect(table.firstMatch(RequestHead.make("/api", [("h", "2")])) == nil)
        }
    }

    @Test func aRegexComesBeforeNoPathAndTiesGoByCreationOrder() throws {
        var table = InterceptTable()
        try table.add(try rule("alice", "second-regex", try compact("h=1 regex=/a.*")))
        try table.add(try rule("alice", "first-regex", try compact("h=1 regex=.*")))
        try table.add(try rule("alice", "plain", try compact("h=1")))
        #expect(table.route(RequestHead.make("/ab", [("h", "1")])).interceptName == "second-regex")
        #expect(table.route(RequestHead.make("/b", [("h", "1")])).interceptName == "first-regex")
        // Re-registering with another rule counts as new: it goes after its peers.
        try table.add(try rule("alice", "second-regex", try compact("h=1 regex=/a.+")))
        #expect(table.route(RequestHead.make("/ab", [("h", "1")])).interceptName == "first-regex")
    }

    @Test func aHeaderSentTwiceWithTwoDevelopersValuesGoesToTheEarlierIntercept() throws {
        var table = InterceptTable()
        try table.add(try rule("alice", "alice", try compact("x-shunt-intercept=aaaa")))
        try table.add(try rule("bob", "bob", try compact("x-shunt-intercept=bbbb")))
        let both = RequestHead.make("/", [("x-shunt-intercept", "bbbb"), ("x-shunt-intercept", "aaaa")])
        #expect(table.route(both).interceptName == "alice")
        #expect(table.route(RequestHead.make("/", [("x-shunt-intercept", "bbbb")])).interceptName == "bob")
    }

    @Test func removingGivesTrafficBack() throws {
        var table = InterceptTable()
        try table.add(try rule("alice", "a1", try compact("h=1")))
        try table.add(try rule("alice", "a2", try compact("h=2")))
        try table.add(try rule("bob", "b", try compact("h=3")))
        #expect(table.remove(name: "a1")?.owner == "alice")
        #expect(table.remove(name: "a1") == nil)
        #expect(table.route(RequestHead.make("/", [("h", "1")])).interceptName == nil)
        #expect(table.removeAll(owner: "alice").map(\.name) == ["a2"])
        #expect(table.rules.map(\.name) == ["b"])
        // With everything gone a global intercept can be added.
        table.remove(name: "b")
        try table.add(try rule("carol", "all", .global))
    }
}
