import Foundation
import NIOConcurrencyHelpers
import NIOCore
import ShuntHTTP1
import ShuntMatch
import ShuntSession

/// Where the edge sends one request or connection.
public enum Route: Sendable {
    case app
    case laptop(Laptop)

    /// A class, made once per intercept: routing hands out one reference, where a struct of the
    /// same fields cost a retain and a release of each of them at every copy.
    public final class Laptop: Sendable {
        public let session: SessionHandler
        public let intercept: String
        public let owner: String
        public let compress: Bool

        init(session: SessionHandler, intercept: String, owner: String, compress: Bool) {
            self.session = session
            self.intercept = intercept
            self.owner = owner
            self.compress = compress
        }
    }
}

/// The intercepts active on this agent, per service port, and the session each came from. Shared by
/// the tunnel side (control calls) and the edge (routing), on any event loop; one lock guards it.
/// Intercepts registered by a session are removed when the session ends (spec §11): matched traffic
/// then goes back to the app.
public final class InterceptRegistry: Sendable {
    public let ports: [Int]
    public let limits: MatchLimits

    private struct Entry {
        let rule: InterceptRule
        let port: Int
        let session: SessionHandler
        let since: Date
        var requests: Int
        let compress: Bool
        /// Where its requests go, made once: routing hands it out as it is.
        let laptop: Route.Laptop

        init(rule: InterceptRule, port: Int, session: SessionHandler, since: Date, requests: Int, compress: Bool) {
            self.rule = rule
            self.port = port
            self.session = session
            self.since = since
            self.requests = requests
            self.compress = compress
            laptop = Route.Laptop(session: session, intercept: rule.name, owner: rule.owner, compress: compress)
        }
    }

    private struct State {
        var tables: [Int: InterceptTable]
        var entries: [String: Entry] = [:]
    }

    private let state: NIOLockedValueBox<State>

    public init(ports: [Int], limits: MatchLimits = .default) {
        precondition(!ports.isEmpty, "an agent serves at least one port")
        self.ports = ports
        self.limits = limits
        state = NIOLockedValueBox(State(tables: Dictionary(uniqueKeysWithValues: ports.map { ($0, InterceptTable(limits: limits)) })))
    }

    /// Registers (or, for the same owner and name, replaces) an intercept. `owner` is the identity of
    /// the caller's certificate, never a field of the request.
    public func register(_ request: InterceptCalls.RegisterRequest, owner: String, session: SessionHandler) throws(InterceptCalls.Failure) -> InterceptCalls.Intercept {
        let port = request.port ?? ports[0]
        guard ports.contains(port) else {
            throw InterceptCalls.Failure(.invalidRequest, "this agent serves port\(ports.count == 1 ? "" : "s") \(ports.map(String.init).joined(separator: ", ")), not \(port)")
        }
        let rule: InterceptRule
        do {
            rule = try InterceptRule(owner: owner, name: request.name, spec: request.rule, limits: limits)
        } catch {
            throw InterceptCalls.Failure(.invalidRule, error.description)
        }
        let result = state.withLockedValue { state -> Result<InterceptCalls.Intercept, InterceptCalls.Failure> in
            if let existing = state.entries[request.name], existing.rule.owner != owner {
                return .failure(InterceptCalls.Failure(.interceptConflict, "the name \(request.name) is taken by \(existing.rule.owner)'s intercept"))
            }
            if let existing = state.entries[request.name], existing.port != port {
                state.tables[existing.port]!.remove(name: request.name)
            }
            do throws(RuleConflict) {
                try state.tables[port]!.add(rule)
            } catch {
                return .failure(InterceptCalls.Failure(.interceptConflict, error.description))
            }
            let since = state.entries[request.name].flatMap { $0.rule.spec == rule.spec ? $0.since : nil } ?? Date()
            let entry = Entry(rule: rule, port: port, session: session, since: since,
                              requests: state.entries[request.name]?.requests ?? 0, compress: request.compress ?? false)
            state.entries[request.name] = entry
            return .success(Self.describe(entry))
        }
        return try result.get()
    }

    public func remove(name: String, owner: String) throws(InterceptCalls.Failure) {
        let failure = state.withLockedValue { state -> InterceptCalls.Failure? in
            guard let entry = state.entries[name] else { return InterceptCalls.Failure(.notFound, "no intercept named \(name)") }
            guard entry.rule.owner == owner else {
                return InterceptCalls.Failure(.notOwner, "the intercept \(name) belongs to \(entry.rule.owner)")
            }
            state.tables[entry.port]!.remove(name: name)
            state.entries[name] = nil
            return nil
        }
        if let failure { throw failure }
    }

    /// The session ended: its intercepts go, and their traffic returns to the app.
    @discardableResult
    public func removeAll(session: SessionHandler) -> [String] {
        state.withLockedValue { state in
            let names = state.entries.filter { $0.value.session === session }.map(\.key).sorted()
            for name in names {
                state.tables[state.entries[name]!.port]!.remove(name: name)
                state.entries[name] = nil
            }
            return names
        }
    }

    public func list() -> [InterceptCalls.Intercept] {
        state.withLockedValue { state in state.entries.values.map(Self.describe).sorted { $0.name < $1.name } }
    }

    /// Where a request on `port` goes (and one more request counted for its intercept), whatever its
    /// HTTP version (an HTTP/1.1 `RequestHead`, an `H2RoutableRequest`).
    public func route<Request: MatchableRequest>(_ request: Request, port: Int) -> Route {
        state.withLockedValue { state in
            guard let index = state.tables.index(forKey: port),
                  let name = Self.match(request, in: &state.tables.values[index]) else { return .app }
            return Self.take(name, in: &state)
        }
    }

    /// The laptop of the global intercept on `port`, if there is one (and one more connection counted).
    /// Whether `port` has a global intercept now (nothing is counted).
    public func hasGlobalIntercept(port: Int) -> Bool {
        state.withLockedValue { $0.tables[port]?.globalIntercept != nil }
    }

    public func globalRoute(port: Int) -> Route? {
        state.withLockedValue { state in
            guard let rule = state.tables[port]?.globalIntercept else { return nil }
            return Self.take(rule.name, in: &state)
        }
    }

    /// The name of the intercept `request` goes to by `table`, nil when it has none. The table is
    /// passed in place (the dictionary's modify accessor): read out of the dictionary, it would be
    /// copied, its storage retained and released, on every request. The matching rule is read in
    /// place too: only its name is copied, not all that the rule holds.
    private static func match<Request: MatchableRequest>(_ request: Request, in table: inout InterceptTable) -> String? {
        guard !table.isEmpty, let index = table.firstMatch(request) else { return nil }
        return table.rules[index].name
    }

    /// Counts one more request for the intercept `name`, in place (the name is hashed once, the
    /// entry is not copied), and returns its route.
    private static func take(_ name: String, in state: inout State) -> Route {
        guard let index = state.entries.index(forKey: name) else { return .app }
        return .laptop(count(&state.entries.values[index]))
    }

    /// A request (or connection) routed to `intercept` went to the app after all (failed open): it
    /// is not one the laptop took, and `shunt list` does not count it.
    public func failedOpen(_ intercept: String) {
        state.withLockedValue { state in
            guard let index = state.entries.index(forKey: intercept) else { return }
            state.entries.values[index].requests = max(0, state.entries.values[index].requests - 1)
        }
    }

    private static func count(_ entry: inout Entry) -> Route.Laptop {
        entry.requests += 1
        return entry.laptop
    }

    private static func describe(_ entry: Entry) -> InterceptCalls.Intercept {
        let header = (entry.rule.spec.headers.first(where: \.isGenerated) ?? entry.rule.spec.headers.first).map { InterceptCalls.Header(name: $0.name, value: $0.value) }
        return InterceptCalls.Intercept(name: entry.rule.name, owner: entry.rule.owner, port: entry.port, rule: entry.rule.spec,
                                        since: entry.since.formatted(.iso8601), header: header, requests: entry.requests)
    }
}
