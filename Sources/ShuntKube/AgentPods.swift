import Foundation

/// A pod behind a Service whose agent a laptop can reach: its name and the agent's tunnel port.
public struct AgentPod: Sendable, Equatable {
    public var name: String
    public var tunnelPort: Int
    public var ready: Bool

    public init(name: String, tunnelPort: Int, ready: Bool) {
        self.name = name
        self.tunnelPort = tunnelPort
        self.ready = ready
    }
}

/// Reading what `kubectl get -o json` prints about a Service and its pods (pure, no kubectl here).
public enum AgentPods {
    /// `-l` for `kubectl get pods`: the Service's selector as `k=v,k=v`, keys sorted.
    public static func selector(serviceJSON: Data, service: String) throws -> String {
        let object = try decode(ServiceObject.self, serviceJSON, what: "service \(service)")
        if object.spec?.type == "ExternalName" {
            throw InjectionError(.serviceDoesNotSelect, "service/\(service) is an ExternalName Service: it has no pods and no agent")
        }
        guard let selector = object.spec?.selector, !selector.isEmpty else {
            throw InjectionError(.serviceDoesNotSelect, "service/\(service) has no selector, so it has no pods to find an agent in")
        }
        return selector.keys.sorted().map { "\($0)=\(selector[$0]!)" }.joined(separator: ",")
    }

    /// The pods that run the agent, in name order; `noAgent` when none of them does.
    public static func agents(podListJSON: Data, service: String) throws -> [AgentPod] {
        let list = try decode(PodList.self, podListJSON, what: "the pods of service/\(service)")
        let running = list.items.filter { $0.metadata.deletionTimestamp == nil && $0.status?.phase != "Succeeded" && $0.status?.phase != "Failed" }
        guard !running.isEmpty else {
            throw InjectionError(.noWorkload, "service/\(service) selects no running pod")
        }
        let agents = running.compactMap { pod -> AgentPod? in
            guard let agent = pod.spec.containers.first(where: { $0.name == InjectionOptions.agentContainer }) else { return nil }
            let port = agent.ports?.first(where: { $0.name == "shunt-tunnel" })?.containerPort
                ?? Self.tunnelPort(arguments: agent.args ?? [])
                ?? 7443
            let ready = pod.status?.conditions?.contains { $0.type == "Ready" && $0.status == "True" } ?? false
            return AgentPod(name: pod.metadata.name, tunnelPort: port, ready: ready)
        }
        guard !agents.isEmpty else {
            throw InjectionError(.notInjected, "the pods of service/\(service) have no \(InjectionOptions.agentContainer) container; add it with `shunt inject` (or pass --agent HOST:PORT)")
        }
        return agents.sorted { $0.name < $1.name }
    }

    /// The port of `--tunnel-listen=HOST:PORT` or `--tunnel-listen HOST:PORT`.
    static func tunnelPort(arguments: [String]) -> Int? {
        for (index, argument) in arguments.enumerated() {
            let value: String?
            if argument.hasPrefix("--tunnel-listen=") {
                value = String(argument.dropFirst("--tunnel-listen=".count))
            } else if argument == "--tunnel-listen", index + 1 < arguments.count {
                value = arguments[index + 1]
            } else {
                value = nil
            }
            if let value, let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]) { return port }
        }
        return nil
    }

    /// The local port in kubectl port-forward's `Forwarding from 127.0.0.1:54321 -> 7443`.
    public static func forwardedPort(line: String) -> Int? {
        guard line.hasPrefix("Forwarding from 127.0.0.1:"), let arrow = line.range(of: " -> ") else { return nil }
        return Int(line[line.index(line.startIndex, offsetBy: "Forwarding from 127.0.0.1:".count)..<arrow.lowerBound])
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw InjectionError(.malformedObject, "kubectl's JSON for \(what) is not what Shunt expects: \(error)")
        }
    }

    struct ServiceObject: Decodable {
        struct Spec: Decodable {
            var selector: [String: String]?
            var type: String?
        }
        var spec: Spec?
    }

    struct PodList: Decodable {
        var items: [Pod]
    }

    struct Pod: Decodable {
        struct Metadata: Decodable {
            var name: String
            var deletionTimestamp: String?
        }
        struct Spec: Decodable {
            var containers: [Container]
        }
        struct Container: Decodable {
            var name: String
            var args: [String]?
            var ports: [Port]?
        }
        struct Port: Decodable {
            var name: String?
            var containerPort: Int
        }
        struct Status: Decodable {
            var phase: String?
            var conditions: [Condition]?
        }
        struct Condition: Decodable {
            var type: String
            var status: String
        }
        var metadata: Metadata
        var spec: Spec
        var status: Status?
    }
}
