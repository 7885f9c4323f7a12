import NIOCore
import ShuntMatch
import ShuntTLS

/// Everything `shunt intercept` needs to take over a service's traffic and serve it locally.
public struct EndpointConfiguration: Sendable {
    /// The service as the developer named it (shown, and compared with what the agent serves).
    public var service: String
    public var agentHost: String
    public var agentPort: Int
    public var certificates: CertificateFolder
    /// Streams are served into 127.0.0.1:`localPort`.
    public var localPort: Int
    /// The service port to intercept; nil: the agent's only (or first) port.
    public var remotePort: Int?
    public var name: String
    public var rule: RuleSpec
    /// Ask the agent to compress what it sends, and compress what we send (spec §12).
    public var compress: Bool
    public var output: OutputFormat
    public var backoff: ReconnectBackoff
    /// TCP connect to the agent, and to the local service.
    public var connectTimeout: TimeAmount
    /// Removing the intercept at exit is best effort, bounded by this.
    public var removalTimeout: TimeAmount

    public init(service: String, agentHost: String, agentPort: Int, certificates: CertificateFolder, localPort: Int,
                remotePort: Int? = nil, name: String, rule: RuleSpec, compress: Bool = false, output: OutputFormat = .text,
                backoff: ReconnectBackoff = ReconnectBackoff(), connectTimeout: TimeAmount = .seconds(5),
                removalTimeout: TimeAmount = .seconds(2)) {
        self.service = service
        self.agentHost = agentHost
        self.agentPort = agentPort
        self.certificates = certificates
        self.localPort = localPort
        self.remotePort = remotePort
        self.name = name
        self.rule = rule
        self.compress = compress
        self.output = output
        self.backoff = backoff
        self.connectTimeout = connectTimeout
        self.removalTimeout = removalTimeout
    }

    /// `HOST:PORT`, IPv6 in brackets.
    public var agent: String {
        agentHost.contains(":") ? "[\(agentHost)]:\(agentPort)" : "\(agentHost):\(agentPort)"
    }

    /// The same request at every (re)registration: the rule, and so its generated header, never changes.
    public var registerRequest: InterceptCalls.RegisterRequest {
        InterceptCalls.RegisterRequest(name: name, port: remotePort, rule: rule, compress: compress ? true : nil)
    }

    /// `SERVICE-DEVELOPER`, with what an intercept name may not hold (`A-Z a-z 0-9 . _ -`) made `-`.
    public static func defaultName(service: String, developer: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        return String("\(service)-\(developer)".map { allowed.contains($0) ? $0 : "-" }.prefix(128))
    }
}
