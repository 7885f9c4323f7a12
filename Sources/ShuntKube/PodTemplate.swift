import Yams

/// The pod template of a workload (`spec.template.spec`): its containers and the ports they use.
struct PodTemplate {
    static let path = ["spec", "template", "spec"]

    let spec: Node
    let containers: [Node]
    let reference: String

    init(_ workload: Node, reference: String) throws {
        guard let spec = workload.value(Self.path), spec.mapping != nil else {
            throw InjectionError(.malformedObject, "\(reference) has no pod template (spec.template.spec)")
        }
        guard let containers = spec.value("containers")?.sequence, !containers.isEmpty else {
            throw InjectionError(.malformedObject, "\(reference) has no containers in its pod template")
        }
        self.spec = spec
        self.containers = Array(containers)
        self.reference = reference
    }

    /// Every port a container of the pod declares, with the container's name (init containers
    /// included: a sidecar started as one shares the network namespace too).
    var usedPorts: [Int: String] {
        var used: [Int: String] = [:]
        for container in containers + (spec.value("initContainers")?.items ?? []) {
            for port in container.value("ports")?.items ?? [] {
                if let number = port.value("containerPort")?.decimal {
                    used[number] = container.text("name") ?? "?"
                }
            }
        }
        return used
    }

    static func declaredPort(named name: String, in container: Node) -> Int? {
        container.value("ports")?.items.first { $0.text("name") == name }?.value("containerPort")?.decimal
    }

    static func declares(_ container: Node, _ target: ServicePorts.Target) -> Bool {
        switch target {
        case .name(let name):
            return declaredPort(named: name, in: container) != nil
        case .number(let number):
            return container.value("ports")?.items.contains { $0.value("containerPort")?.decimal == number } ?? false
        }
    }

    /// Appends the agent container and its volume to the workload's pod template. Returns whether
    /// the `volumes` key had to be created.
    func addAgent(_ agent: Node, volume: Node, to workload: inout Node) throws -> Bool {
        var spec = self.spec
        spec.edit("containers") { list in
            guard case .sequence(var items)? = list else { return }
            items.append(agent)
            list = .sequence(items)
        }
        let existing = spec.value("volumes")
        if let existing, existing.sequence == nil {
            throw InjectionError(.malformedObject, "\(reference): spec.template.spec.volumes is not a list")
        }
        if case .sequence(var volumes)? = existing {
            volumes.append(volume)
            spec.set("volumes", .sequence(volumes))
        } else {
            spec.set("volumes", .list([volume]))
        }
        workload.replace(Self.path, with: spec)
        return existing == nil
    }
}
