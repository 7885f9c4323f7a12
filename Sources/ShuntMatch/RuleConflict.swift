/// Why `InterceptTable.add(_:)` refused a rule: each case names the intercept in the way, and its
/// owner, so the developer knows whom to ask.
public enum RuleConflict: Error, Hashable, Sendable, CustomStringConvertible {
    /// Another developer's intercept already has this name.
    case nameTaken(name: String, owner: String)
    /// A global intercept holds the port: nothing else can be added.
    case globalInterceptActive(name: String, owner: String)
    /// A global intercept cannot be added while another intercept exists (the first one in routing order is named).
    case interceptsActive(name: String, owner: String, count: Int)
    /// Another developer's intercept could receive some of the same requests.
    case overlapping(name: String, owner: String, rule: RuleSpec)
    case tooManyIntercepts(limit: Int)

    public var code: String {
        switch self {
        case .nameTaken: "INTERCEPT_NAME_TAKEN"
        case .globalInterceptActive: "GLOBAL_INTERCEPT_ACTIVE"
        case .interceptsActive: "INTERCEPTS_ACTIVE"
        case .overlapping: "INTERCEPT_OVERLAP"
        case .tooManyIntercepts: "TOO_MANY_INTERCEPTS"
        }
    }

    public var message: String {
        switch self {
        case .nameTaken(let name, let owner):
            "the name \(name) is already used by an intercept of \(owner) on this port; choose another"
        case .globalInterceptActive(let name, let owner):
            "\(owner) holds a global intercept (\(name)) on this port: it takes every connection; ask them to leave it"
        case .interceptsActive(let name, let owner, let count):
            "a global intercept needs the port to itself, and \(count) intercept\(count == 1 ? "" : "s") exist, among them \(name) of \(owner)"
        case .overlapping(let name, let owner, let rule):
            "intercept \(name) of \(owner) (\(rule)) could receive the same requests; add a header that tells yours apart (--http-header=auto)"
        case .tooManyIntercepts(let limit):
            "this port already has \(limit) intercepts, the limit"
        }
    }

    public var description: String { "\(code): \(message)" }
}
