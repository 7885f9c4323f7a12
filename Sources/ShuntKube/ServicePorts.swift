import Yams

/// A Service's `spec.ports`, and the choice of which of them go through the agent.
struct ServicePorts {
    /// Where a Service port sends its traffic in the pod: a port number or a container port's name.
    enum Target: Equatable {
        case number(Int)
        case name(String)
    }

    struct Port {
        var index: Int
        var port: Int
        var name: String?
        var target: Target
        /// The targetPort as written, for the record (nil when absent).
        var written: InjectionRecord.TargetPort?
        var isTCP: Bool
    }

    let ports: [Port]
    let reference: String

    init(_ service: Node, reference: String) throws {
        let items = service.value(["spec", "ports"])?.items ?? []
        guard !items.isEmpty else {
            throw InjectionError(.malformedObject, "\(reference) has no ports")
        }
        ports = try items.enumerated().map { index, item in
            guard let port = item.value("port")?.decimal else {
                throw InjectionError(.malformedObject, "\(reference): spec.ports[\(index)] has no port number")
            }
            let written: InjectionRecord.TargetPort?
            let target: Target
            switch item.value("targetPort") {
            case nil:
                written = nil
                target = .number(port)
            case let node?:
                guard let text = node.scalar?.string, !text.isEmpty else {
                    throw InjectionError(.malformedObject, "\(reference): spec.ports[\(index)].targetPort is not a port number or name")
                }
                if let number = node.decimal {
                    written = .number(number)
                    target = .number(number)
                } else {
                    written = .name(text)
                    // A quoted number is still a number to Kubernetes' IntOrString users here.
                    target = Int(text).map(Target.number) ?? .name(text)
                }
            }
            let transport = item.text("protocol") ?? "TCP"
            return Port(index: index, port: port, name: item.text("name"), target: target, written: written, isTCP: transport == "TCP")
        }
        self.reference = reference
    }

    /// The ports named or numbered in `wanted`, in the Service's order; every TCP port when empty.
    func select(_ wanted: [String]) throws -> [Port] {
        if wanted.isEmpty {
            let tcp = ports.filter(\.isTCP)
            guard !tcp.isEmpty else {
                throw InjectionError(.unsupportedPort, "\(reference) has no TCP port; the agent carries TCP only")
            }
            return tcp
        }
        var chosen = Set<Int>()
        for request in wanted {
            guard let port = ports.first(where: { $0.name == request || String($0.port) == request }) else {
                let known = ports.map { port in port.name.map { "\(port.port) (\($0))" } ?? "\(port.port)" }.joined(separator: ", ")
                throw InjectionError(.unknownPort, "\(reference) has no port \(request) (its ports: \(known))")
            }
            guard port.isTCP else {
                throw InjectionError(.unsupportedPort, "\(reference) port \(request) is not TCP; the agent carries TCP only")
            }
            chosen.insert(port.index)
        }
        return ports.filter { chosen.contains($0.index) }
    }
}
