/// The messages of Shunt's control calls (spec §11), as JSON-coded types. The laptop is the caller,
/// the agent the callee. A rule decoded here is validated again (`RuleSpec`'s decoder).
public enum InterceptCalls {
    public static let register = "intercept.register"
    public static let remove = "intercept.remove"
    public static let list = "intercept.list"
    public static let agentInfo = "agent.info"

    public struct RegisterRequest: Codable, Hashable, Sendable {
        public var name: String
        /// The service port to intercept; nil: the agent's only (or first) port.
        public var port: Int?
        public var rule: RuleSpec
        public var compress: Bool?

        public init(name: String, port: Int? = nil, rule: RuleSpec, compress: Bool? = nil) {
            self.name = name
            self.port = port
            self.rule = rule
            self.compress = compress
        }
    }

    public struct RemoveRequest: Codable, Hashable, Sendable {
        public var name: String
        public init(name: String) { self.name = name }
    }

    public struct Empty: Codable, Hashable, Sendable {
        public init() {}
    }

    /// A header to send for a personal intercept, ready to print.
    public struct Header: Codable, Hashable, Sendable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// An intercept as the agent stores it.
    public struct Intercept: Codable, Hashable, Sendable {
        public var name: String
        public var owner: String
        public var port: Int
        public var rule: RuleSpec
        /// RFC 3339, UTC.
        public var since: String
        /// For personal intercepts: the first header condition (the one `auto` generates).
        public var header: Header?
        /// Requests (or connections, for a global intercept) routed to it so far.
        public var requests: Int?

        public init(name: String, owner: String, port: Int, rule: RuleSpec, since: String, header: Header? = nil, requests: Int? = nil) {
            self.name = name
            self.owner = owner
            self.port = port
            self.rule = rule
            self.since = since
            self.header = header
            self.requests = requests
        }
    }

    public struct ListResult: Codable, Hashable, Sendable {
        public var intercepts: [Intercept]
        public init(intercepts: [Intercept]) { self.intercepts = intercepts }
    }

    public struct AgentInfo: Codable, Hashable, Sendable {
        public var service: String
        public var ports: [Int]
        public var env: [String: String]
        public init(service: String, ports: [Int], env: [String: String]) {
            self.service = service
            self.ports = ports
            self.env = env
        }
    }

    /// `{"code": "NAME", "message": "…"}`; codes as spec §11 lists them.
    public struct Failure: Error, Codable, Hashable, Sendable, CustomStringConvertible {
        public var code: String
        public var message: String
        public init(_ code: Code, _ message: String) {
            self.code = code.rawValue
            self.message = message
        }

        public enum Code: String, Sendable {
            case invalidRequest = "INVALID_REQUEST"
            case unknownCall = "UNKNOWN_CALL"
            case invalidRule = "INVALID_RULE"
            case interceptConflict = "INTERCEPT_CONFLICT"
            case notFound = "NOT_FOUND"
            case notOwner = "NOT_OWNER"
            case unauthorized = "UNAUTHORIZED"
            case limitExceeded = "LIMIT_EXCEEDED"
            case `internal` = "INTERNAL"
        }

        public var description: String { "\(code): \(message)" }
    }

    /// `{"ok": true, "result": …}` or `{"ok": false, "error": …}`.
    public struct Response<Result: Codable & Sendable>: Codable, Sendable {
        public var ok: Bool
        public var result: Result?
        public var error: Failure?

        public init(_ result: Result) {
            ok = true
            self.result = result
            error = nil
        }

        public init(failure: Failure) {
            ok = false
            result = nil
            error = failure
        }

        /// The result, or the failure thrown.
        public func get() throws(Failure) -> Result {
            if ok, let result { return result }
            throw error ?? Failure(.internal, "a response with neither result nor error")
        }
    }
}
