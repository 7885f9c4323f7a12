/// Where the router sends a request.
public enum RoutingDecision: Sendable {
    /// The in-cluster application: no intercept matched.
    case app
    /// The laptop that owns this intercept.
    case intercept(InterceptRule)

    public var interceptName: String? {
        if case .intercept(let rule) = self { rule.name } else { nil }
    }
}
