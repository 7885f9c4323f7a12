/// Why `shunt inject` or `shunt uninject` refused its input: a stable code and a message that says
/// what to change (`service/orders selects app=orders, but deployment/web's pods are labelled app=web`).
public struct InjectionError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case invalidYAML = "invalid-yaml"
        case malformedObject = "malformed-object"
        case noWorkload = "no-workload"
        case ambiguousWorkload = "ambiguous-workload"
        case noService = "no-service"
        case ambiguousService = "ambiguous-service"
        case serviceDoesNotSelect = "service-does-not-select"
        case noContainer = "no-container"
        case ambiguousContainer = "ambiguous-container"
        case unknownPort = "unknown-port"
        case unsupportedPort = "unsupported-port"
        case portInUse = "port-in-use"
        case alreadyInjected = "already-injected"
        case notInjected = "not-injected"
        case changedSinceInjection = "changed-since-injection"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
