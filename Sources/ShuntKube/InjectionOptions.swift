/// How `shunt inject` adds the agent: which objects, which container and ports, and the agent's
/// own image, ports and certificate Secret.
public struct InjectionOptions: Sendable, Equatable {
    /// The agent's image.
    public var image = "shunt-agent:latest"
    /// The Secret with ca.pem, agent.pem and agent-key.pem (`deploy/kubernetes/README.md`).
    public var secret = "shunt-agent-certs"
    /// The workload's name, when the input has several.
    public var workload: String?
    /// The Service's name, when the input has several that select the workload.
    public var service: String?
    /// The app container's name, when the pod has several and the ports do not tell which.
    public var container: String?
    /// The Service ports to route through the agent, by number or name; empty: every TCP port.
    public var ports: [String] = []
    /// The first edge port; each intercepted Service port gets the next free one.
    public var edgePort = 18080
    public var tunnelPort = 7443
    public var adminPort = 9901

    public init() {}

    /// The agent container's name, its certificate volume and where the volume is mounted.
    public static let agentContainer = "shunt-agent"
    public static let certificateVolume = "shunt-certs"
    public static let certificatePath = "/etc/shunt/certs"
    /// The app's environment reaches the agent under this prefix (`shunt-agent --env-prefix`).
    public static let environmentPrefix = "SHUNT_APP_"
}

/// What `shunt inject` did, for the line it prints.
public struct InjectionSummary: Sendable, Equatable {
    public struct Route: Sendable, Equatable {
        public var servicePort: Int
        public var edgePort: Int
        public var appPort: Int

        public init(servicePort: Int, edgePort: Int, appPort: Int) {
            self.servicePort = servicePort
            self.edgePort = edgePort
            self.appPort = appPort
        }
    }

    public var workload: String
    public var service: String
    public var container: String
    public var tunnelPort: Int
    public var routes: [Route]
}
