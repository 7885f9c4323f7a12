import Yams

/// `shunt uninject`: undoes `Injection` in every object that carries its annotation, using what the
/// annotation recorded, so that the objects are again exactly as they were before `shunt inject`.
public enum Uninjection {
    public static func uninject(yaml: String) throws -> (yaml: String, restored: [String]) {
        var manifest = try Manifest(yaml: yaml)
        let restored = try uninject(&manifest)
        return (try manifest.yaml(), restored)
    }

    /// Returns the objects restored (`deployment/orders`, `service/orders`).
    public static func uninject(_ manifest: inout Manifest) throws -> [String] {
        var restored: [String] = []
        for index in 0..<manifest.count {
            var node = manifest[index]
            let object = KubeObject(node: node)
            guard let text = node.value(["metadata", "annotations", InjectionRecord.annotation])?.scalar?.string else { continue }
            if object.isService {
                try restoreService(&node, InjectionRecord.decode(InjectionRecord.Service.self, from: text, in: object.reference), reference: object.reference)
            } else if object.isWorkload {
                try restoreWorkload(&node, InjectionRecord.decode(InjectionRecord.Workload.self, from: text, in: object.reference), reference: object.reference)
            } else {
                throw InjectionError(.malformedObject, "\(object.reference) carries \(InjectionRecord.annotation), but shunt inject only annotates workloads and Services")
            }
            manifest[index] = node
            restored.append(object.reference)
        }
        guard !restored.isEmpty else {
            throw InjectionError(.notInjected, "nothing to uninject: no object in the input carries the \(InjectionRecord.annotation) annotation")
        }
        return restored
    }

    static func checkVersion(_ version: Int, _ reference: String) throws {
        guard version == InjectionRecord.version else {
            throw InjectionError(.malformedObject, "\(reference) was injected by a Shunt with record version \(version); this shunt reads version \(InjectionRecord.version)")
        }
    }

    static func restoreWorkload(_ node: inout Node, _ record: InjectionRecord.Workload, reference: String) throws {
        try checkVersion(record.version, reference)
        guard var spec = node.value(PodTemplate.path) else {
            throw InjectionError(.changedSinceInjection, "\(reference) has no pod template any more")
        }
        let removedContainer = spec.edit("containers") { list -> Bool in
            guard case .sequence(var items)? = list, let at = items.firstIndex(where: { $0.text("name") == record.container }) else { return false }
            items.remove(at: at)
            list = .sequence(items)
            return true
        }
        guard removedContainer else {
            throw InjectionError(.changedSinceInjection, "\(reference) has no container \(record.container) any more; remove the \(InjectionRecord.annotation) annotation and the \(record.volume) volume by hand")
        }
        spec.edit("volumes") { list in
            guard case .sequence(var items)? = list else { return }
            items.removeAll { $0.text("name") == record.volume }
            list = items.isEmpty && record.createdVolumes ? nil : .sequence(items)
        }
        node.replace(PodTemplate.path, with: spec)
        removeAnnotation(&node, created: record.createdAnnotations)
    }

    static func restoreService(_ node: inout Node, _ record: InjectionRecord.Service, reference: String) throws {
        try checkVersion(record.version, reference)
        var items = node.value(["spec", "ports"])?.items ?? []
        for port in record.ports {
            guard items.indices.contains(port.index), items[port.index].value("port")?.decimal == port.port else {
                throw InjectionError(.changedSinceInjection, "\(reference): spec.ports[\(port.index)] is no longer port \(port.port), as when it was injected; restore its targetPort by hand (it was \(port.targetPort.map { "\($0)" } ?? "absent"))")
            }
            switch port.targetPort {
            case nil: items[port.index].set("targetPort", nil)
            case .number(let number)?: items[port.index].set("targetPort", .number(number))
            case .name(let name)?: items[port.index].set("targetPort", .text(name))
            }
        }
        node.edit("spec") { spec in
            spec?.edit("ports") { list in
                guard case .sequence(var sequence)? = list else { return }
                sequence.replaceSubrange(sequence.startIndex..<sequence.endIndex, with: items)
                list = .sequence(sequence)
            }
        }
        removeAnnotation(&node, created: record.createdAnnotations)
    }

    static func removeAnnotation(_ node: inout Node, created: Bool) {
        node.edit("metadata") { metadata in
            metadata?.edit("annotations") { annotations in
                annotations?.set(InjectionRecord.annotation, nil)
                if created, annotations?.mapping?.isEmpty ?? false { annotations = nil }
            }
        }
    }
}
