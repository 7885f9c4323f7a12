/// The active intercepts of one port, and the router that picks one for a request.
///
/// Routing order (deterministic; the first rule that matches wins):
/// 1. a global intercept, which is then the only rule;
/// 2. more header conditions first;
/// 3. then by path: equal, then prefix (longer prefix first), then regex, then no path condition;
/// 4. then creation order (a rule that replaces one of the same name counts as new).
///
/// `add` refuses a rule that another developer's rule could steal requests from, or the reverse
/// (`RuleOverlap`); so order only decides between one developer's own rules, or for a request that
/// carries a header twice with two values.
public struct InterceptTable: Sendable {
    public let limits: MatchLimits
    /// In routing order.
    public private(set) var rules: [InterceptRule] = []
    private var sequence: [String: Int] = [:]
    private var nextSequence = 0

    public init(limits: MatchLimits = .default) {
        self.limits = limits
    }

    /// The global intercept, if one holds the port: the edge then tunnels whole connections.
    public var globalIntercept: InterceptRule? {
        rules.first.flatMap { $0.isGlobal ? $0 : nil }
    }

    public var isEmpty: Bool { rules.isEmpty }
    public var count: Int { rules.count }

    public func rule(named name: String) -> InterceptRule? {
        rules.first { $0.name == name }
    }

    /// Adds `rule`, or replaces the owner's rule of the same name (adding the same rule again is a no-op).
    public mutating func add(_ rule: InterceptRule) throws(RuleConflict) {
        let replaced = rules.firstIndex { $0.name == rule.name }
        if let replaced, rules[replaced].owner != rule.owner {
            throw .nameTaken(name: rule.name, owner: rules[replaced].owner)
        }
        let others = rules.enumerated().filter { $0.offset != replaced }.map(\.element)
        if let global = others.first(where: \.isGlobal) {
            throw .globalInterceptActive(name: global.name, owner: global.owner)
        }
        if rule.isGlobal, let first = others.first {
            throw .interceptsActive(name: first.name, owner: first.owner, count: others.count)
        }
        for other in others where other.owner != rule.owner && RuleOverlap.mayOverlap(rule, other) {
            throw .overlapping(name: other.name, owner: other.owner, rule: other.spec)
        }
        guard others.count < limits.maxInterceptsPerPort else { throw .tooManyIntercepts(limit: limits.maxInterceptsPerPort) }

        if let replaced, rules[replaced].spec == rule.spec { return }
        rules = others
        sequence[rule.name] = nextSequence
        nextSequence += 1
        let key = sortKey(rule)
        let position = rules.firstIndex { sortKey($0) > key } ?? rules.endIndex
        rules.insert(rule, at: position)
    }

    @discardableResult
    public mutating func remove(name: String) -> InterceptRule? {
        guard let index = rules.firstIndex(where: { $0.name == name }) else { return nil }
        sequence[name] = nil
        return rules.remove(at: index)
    }

    /// Removes every rule of `owner` (their laptop went away), returning them.
    @discardableResult
    public mutating func removeAll(owner: String) -> [InterceptRule] {
        let removed = rules.filter { $0.owner == owner }
        for rule in removed { sequence[rule.name] = nil }
        rules.removeAll { $0.owner == owner }
        return removed
    }

    /// The first rule in routing order that matches, or the app. Does not allocate.
    public func route<Request: MatchableRequest>(_ request: Request) -> RoutingDecision {
        firstMatch(request).map { .intercept(rules[$0]) } ?? .app
    }

    /// The index in `rules` of the first rule that matches, or nil (the app): `route` without a
    /// copy of the rule.
    public func firstMatch<Request: MatchableRequest>(_ request: Request) -> Int? {
        rules.indices.first { rules[$0].matches(request) }
    }

    private struct SortKey: Comparable {
        var global: Int
        var headers: Int
        var pathRank: Int
        var prefixLength: Int
        var sequence: Int

        static func < (a: SortKey, b: SortKey) -> Bool {
            (a.global, a.headers, a.pathRank, a.prefixLength, a.sequence) < (b.global, b.headers, b.pathRank, b.prefixLength, b.sequence)
        }
    }

    private func sortKey(_ rule: InterceptRule) -> SortKey {
        let (rank, length): (Int, Int) = switch rule.path {
        case .equal: (0, 0)
        case .prefix(let prefix, _): (1, -prefix.count)
        case .regex: (2, 0)
        case .any: (3, 0)
        }
        return SortKey(global: rule.isGlobal ? 0 : 1, headers: -rule.headers.count, pathRank: rank, prefixLength: length, sequence: sequence[rule.name] ?? Int.max)
    }
}
