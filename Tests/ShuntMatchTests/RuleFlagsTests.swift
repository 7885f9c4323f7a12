import Foundation
import PropertyBased
import ShuntMatch
import Testing

@Suite struct RuleFlagsTests {
    func spec(_ flags: RuleFlags, seed: UInt64 = 1) throws(RuleError) -> RuleSpec {
        var generator = SeededGenerator(seed: seed)
        return try flags.spec(using: &generator)
    }

    @Test func allIsAGlobalIntercept() throws {
        let global = try spec(RuleFlags(httpHeader: ["all"]))
        #expect(global == .global)
        #expect(global.isGlobal)
        #expect(global.description == "--http-header=all")
    }

    @Test(arguments: [
        (RuleFlags(httpHeader: ["all", "x-user=alice"]), RuleError.globalCombined(with: "--http-header=x-user=alice")),
        (RuleFlags(httpHeader: ["x-user=alice", "all"]), .globalCombined(with: "--http-header=x-user=alice")),
        (RuleFlags(httpHeader: ["all", "auto"]), .globalCombined(with: "--http-header=auto")),
        (RuleFlags(httpHeader: ["all"], pathPrefix: ["/api"]), .globalCombined(with: "--http-path-prefix")),
        (RuleFlags(httpHeader: ["all"], pathEqual: ["/api"]), .globalCombined(with: "--http-path-equal")),
        (RuleFlags(httpHeader: ["all"], pathRegex: ["/.*"]), .globalCombined(with: "--http-path-regex")),
        (RuleFlags(httpHeader: ["all", "all"]), .duplicateKeyword("all")),
        (RuleFlags(httpHeader: ["auto", "auto"]), .duplicateKeyword("auto")),
        (RuleFlags(pathEqual: ["/a"], pathPrefix: ["/b"]), .multiplePathFlags(["--http-path-equal", "--http-path-prefix"])),
        (RuleFlags(pathPrefix: ["/a", "/b"]), .multiplePathFlags(["--http-path-prefix", "--http-path-prefix"])),
        (RuleFlags(pathPrefix: ["/a"], pathRegex: ["/b"]), .multiplePathFlags(["--http-path-prefix", "--http-path-regex"])),
        (RuleFlags(httpHeader: ["x-user=alice", "X-User: bob"]), .duplicateHeader(name: "x-user")),
        (RuleFlags(httpHeader: ["auto", "x-shunt-intercept=mine"]), .duplicateHeader(name: "x-shunt-intercept")),
        (RuleFlags(httpHeader: ["ALL"]), .headerSyntax(flag: "ALL")),
        (RuleFlags(httpHeader: ["x-user=alice"], pathRegex: ["/(?=x)"]),
            .regex(RegexSyntaxError(.notSupported, pattern: "/(?=x)", column: 2, "lookahead (?= is not supported: the engine runs in linear time and has no lookaround"))),
    ])
    func invalidCombinationsAreRefused(flags: RuleFlags, expected: RuleError) {
        #expect(throws: expected) { try spec(flags) }
    }

    @Test func theGlobalCombinationMessageSaysWhatToDo() {
        #expect(RuleError.globalCombined(with: "--http-path-prefix").description
            == "GLOBAL_COMBINED: --http-header=all cannot be combined with --http-path-prefix: all takes every connection to the port")
    }

    @Test func autoGeneratesAnInterceptHeaderWithPrintableForms() throws {
        let rule = try spec(RuleFlags(httpHeader: ["auto"]))
        let generated = try #require(rule.generatedHeader)
        #expect(generated.name == "x-shunt-intercept")
        #expect(generated.value.count == 16)
        #expect(generated.value.allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
        #expect(generated.curlArgument == "-H 'x-shunt-intercept: \(generated.value)'")
        #expect(generated.browserExtensionForm == "Header name: x-shunt-intercept / value: \(generated.value)")
        #expect(rule.headers.map(\.name) == ["x-shunt-intercept"])
        #expect(rule.headers.first?.isGenerated == true)
    }

    @Test func theGeneratorIsInjectedAndIdsDiffer() throws {
        let first = try spec(RuleFlags(httpHeader: ["auto"]), seed: 7).generatedHeader
        let again = try spec(RuleFlags(httpHeader: ["auto"]), seed: 7).generatedHeader
        let other = try spec(RuleFlags(httpHeader: ["auto"]), seed: 8).generatedHeader
        #expect(first == again)
        #expect(first != other)
        let system = try Set((0..<100).map { _ in try RuleFlags(httpHeader: ["auto"]).spec().generatedHeader!.value })
        #expect(system.count == 100)
    }

    @Test func noHeaderFlagImpliesAuto() throws {
        let onlyPath = try spec(RuleFlags(pathPrefix: ["/api"]))
        #expect(onlyPath.generatedHeader != nil)
        #expect(onlyPath.path == (try .prefix("/api")))
        let nothing = try spec(RuleFlags())
        #expect(!nothing.isGlobal)
        #expect(nothing.generatedHeader != nil)
        #expect(nothing.path == nil)
    }

    @Test func autoWithExplicitHeadersJoinsTheAndSet() throws {
        let rule = try spec(RuleFlags(httpHeader: ["x-user=alice", "auto"], pathEqual: ["/x"]))
        #expect(rule.headers.map(\.name) == ["x-shunt-intercept", "x-user"])
        let id = try #require(rule.generatedHeader).value
        let compiled = try ShuntMatchTests.rule("alice", "a", rule)
        #expect(compiled.matches(RequestHead.make("/x", [("x-user", "alice"), ("x-shunt-intercept", id)])))
        #expect(!compiled.matches(RequestHead.make("/x", [("x-user", "alice")])))
        // Explicit headers alone do not get an auto header.
        #expect(try spec(RuleFlags(httpHeader: ["x-user=alice"])).generatedHeader == nil)
    }

    @Test func headerCountLimitIsExactAndCountsTheAutoHeader() throws {
        let limits = MatchLimits(maxHeaderConditions: 3)
        var generator = SeededGenerator(seed: 1)
        _ = try RuleFlags(httpHeader: ["a=1", "b=2", "c=3"]).spec(limits: limits, using: &generator)
        _ = try RuleFlags(httpHeader: ["a=1", "b=2", "auto"]).spec(limits: limits, using: &generator)
        #expect(throws: RuleError.tooManyHeaders(count: 4, limit: 3)) {
            try RuleFlags(httpHeader: ["a=1", "b=2", "c=3", "d=4"]).spec(limits: limits, using: &generator)
        }
        #expect(throws: RuleError.tooManyHeaders(count: 4, limit: 3)) {
            try RuleFlags(httpHeader: ["a=1", "b=2", "c=3", "auto"]).spec(limits: limits, using: &generator)
        }
        // The default is 16.
        _ = try spec(RuleFlags(httpHeader: (1...16).map { "h\($0)=v" }))
        #expect(throws: RuleError.tooManyHeaders(count: 17, limit: 16)) { try spec(RuleFlags(httpHeader: (1...17).map { "h\($0)=v" })) }
    }

    @Test func theCanonicalFormSortsAndQuotesAndParsesBack() throws {
        let rule = try spec(RuleFlags(httpHeader: ["X-User: Alice Smith", "x-env=dev"], pathRegex: ["/orders/\\d+"]))
        #expect(rule.canonicalFlags == ["--http-header=x-env=dev", "--http-header=x-user=Alice Smith", "--http-path-regex=/orders/\\d+"])
        #expect(rule.description == "--http-header=x-env=dev '--http-header=x-user=Alice Smith' '--http-path-regex=/orders/\\d+'")
        let quote = try spec(RuleFlags(httpHeader: ["x-q=it's"]))
        #expect(quote.description == #"'--http-header=x-q=it'\''s'"#)
    }

    static let headerNames = ["x-user", "X-Env", "x-shunt-intercept", "tenant", "a"]
    static let headerValues = ["alice", "Bob Smith", "", "a=b:c", "ünï", "x'y"]
    static let paths = [nil, "--http-path-equal=/a", "--http-path-prefix=/api/", "--http-path-regex=/(a|b)+\\.json"] as [String?]

    @Test func canonicalFlagsAndJSONRoundTrip() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...4).array(of: 1...4), Gen.int(in: 0...5).array(of: 4), Gen.int(in: 0...3)) { nameIndices, valueIndices, pathIndex in
            let names = nameIndices.map { Self.headerNames[$0] }
            let values = valueIndices.map { Self.headerValues[$0] }
            let path = Self.paths[pathIndex]
            let unique = Array(Set(names.map { $0.lowercased() }))
            let headers = zip(unique, values).map { "\($0)=\($1)" }
            var flags = RuleFlags(httpHeader: headers)
            if let path {
                let (flag, value) = (String(path.prefix { $0 != "=" }), String(path.drop { $0 != "=" }.dropFirst()))
                switch flag {
                case "--http-path-equal": flags.pathEqual = [value]
                case "--http-path-prefix": flags.pathPrefix = [value]
                default: flags.pathRegex = [value]
                }
            }
            let rule = try #require(try? spec(flags))
            // Canonical flags, fed back as flags, give the same rule.
            let reparsed = RuleFlags(
                httpHeader: rule.headers.map(\.description),
                pathEqual: rule.path.flatMap { $0.kind == .equal ? $0.value : nil },
                pathPrefix: rule.path.flatMap { $0.kind == .prefix ? $0.value : nil },
                pathRegex: rule.path.flatMap { $0.kind == .regex ? $0.value : nil }
            )
            #expect(try spec(reparsed) == rule)
            let json = try JSONEncoder().encode(rule)
            #expect(try JSONDecoder().decode(RuleSpec.self, from: json) == rule)
        }
    }

    @Test func jsonKeepsTheGeneratedMarkAndTheGlobalForm() throws {
        let rule = try spec(RuleFlags(httpHeader: ["auto"], pathPrefix: ["/api"]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(rule), as: UTF8.self)
        let id = rule.generatedHeader!.value
        #expect(json == #"{"headers":[{"generated":true,"name":"x-shunt-intercept","value":"\#(id)"}],"path":{"match":"prefix","value":"\/api"}}"#)
        #expect(try JSONDecoder().decode(RuleSpec.self, from: Data(json.utf8)).generatedHeader?.value == id)
        #expect(String(decoding: try encoder.encode(RuleSpec.global), as: UTF8.self) == #"{"global":true}"#)
        #expect(try JSONDecoder().decode(RuleSpec.self, from: Data(#"{"global":true}"#.utf8)) == .global)
    }

    @Test(arguments: [
        (#"{"headers":[{"name":"x user","value":"a"}]}"#, "HEADER_NAME_NOT_TOKEN"),
        (#"{"headers":[{"name":"x","value":"a\r\nInjected: 1"}]}"#, "HEADER_VALUE_INVALID"),
        (#"{"headers":[]}"#, "NO_HEADER_CONDITION"),
        (#"{}"#, "NO_HEADER_CONDITION"),
        (#"{"headers":[{"name":"x","value":"1"},{"name":"X","value":"2"}]}"#, "DUPLICATE_HEADER"),
        (#"{"headers":[{"name":"x","value":"1"}],"path":{"match":"regex","value":"(a*)\\1"}}"#, "REGEX_NOT_SUPPORTED"),
        (#"{"headers":[{"name":"x","value":"1"}],"path":{"match":"prefix","value":"api"}}"#, "PATH_NOT_ABSOLUTE"),
        (#"{"headers":[{"name":"x","value":"1"}],"path":{"match":"suffix","value":"/b"}}"#, "DECODING"),
        (#"{"global":true,"headers":[{"name":"x","value":"1"}]}"#, "GLOBAL_COMBINED"),
        (#"{"global":true,"path":{"match":"prefix","value":"/a"}}"#, "GLOBAL_COMBINED"),
    ])
    func theAgentValidatesADecodedRuleAgain(json: String, code: String) {
        #expect {
            try JSONDecoder().decode(RuleSpec.self, from: Data(json.utf8))
        } throws: { error in
            (error as? RuleError)?.code == code || (code == "DECODING" && error is DecodingError)
        }
    }

    @Test func decodingUsesTheLimitsInUserInfo() throws {
        let decoder = JSONDecoder()
        decoder.userInfo[MatchLimits.userInfoKey] = MatchLimits(maxHeaderConditions: 1)
        let two = Data(#"{"headers":[{"name":"a","value":"1"},{"name":"b","value":"2"}]}"#.utf8)
        #expect(throws: RuleError.tooManyHeaders(count: 2, limit: 1)) { try decoder.decode(RuleSpec.self, from: two) }
        _ = try JSONDecoder().decode(RuleSpec.self, from: two)
    }
}
