import Yams

/// `shunt inject`: adds the agent beside a workload's app container and points the Service at it.
///
/// What changes, and nothing else: the pod template gets the `shunt-agent` container and the
/// `shunt-certs` volume (the certificate Secret); each intercepted Service port's `targetPort`
/// becomes the agent's edge port for it (the agent forwards to the app's port on 127.0.0.1); both
/// objects get a `shunt.dev/injected` annotation recording what was there before, which is what
/// `Uninjection` puts back.
public enum Injection {
    /// Reads the YAML stream, injects, and writes the whole stream back (other objects untouched).
    public static func inject(yaml: String, options: InjectionOptions) throws -> (yaml: String, summary: InjectionSummary) {
        var manifest = try Manifest(yaml: yaml)
        let summary = try inject(&manifest, options: options)
        return (try manifest.yaml(), summary)
    }

    public static func inject(_ manifest: inout Manifest, options: InjectionOptions) throws -> InjectionSummary {
        let objects = manifest.objects
        let workloadIndex = try pickWorkload(objects, options: options)
        var workload = manifest[workloadIndex]
        let workloadName = objects[workloadIndex].reference
        if workload.value(["metadata", "annotations", InjectionRecord.annotation]) != nil {
            throw InjectionError(.alreadyInjected, "\(workloadName) already has the Shunt agent (annotation \(InjectionRecord.annotation)); run `shunt uninject` first to change how it is injected")
        }
        let pod = try PodTemplate(workload, reference: workloadName)
        if pod.containers.contains(where: { $0.text("name") == InjectionOptions.agentContainer }) {
            throw InjectionError(.alreadyInjected, "\(workloadName) already has a container named \(InjectionOptions.agentContainer); run `shunt uninject` first")
        }

        let serviceIndex = try pickService(objects, workload: objects[workloadIndex], options: options)
        var service = manifest[serviceIndex]
        let serviceName = objects[serviceIndex].reference
        if service.value(["metadata", "annotations", InjectionRecord.annotation]) != nil {
            throw InjectionError(.alreadyInjected, "\(serviceName) already routes through the Shunt agent (annotation \(InjectionRecord.annotation)); run `shunt uninject` first")
        }

        let ports = try ServicePorts(service, reference: serviceName)
        let selected = try ports.select(options.ports)
        let appIndex = try pickContainer(pod, targets: selected.map(\.target), options: options, workload: workloadName)
        let app = pod.containers[appIndex]
        let appName = app.text("name") ?? ""

        // The app's port for each selected Service port, resolving names in the app container.
        let appPorts = try selected.map { port -> Int in
            switch port.target {
            case .number(let number):
                return number
            case .name(let name):
                guard let number = PodTemplate.declaredPort(named: name, in: app) else {
                    throw InjectionError(.unknownPort, "\(serviceName) port \(port.port) targets the port named \(name), which container \(appName) of \(workloadName) does not declare")
                }
                return number
            }
        }

        // The agent's ports must be free in the pod (its containers share one network namespace).
        var used = pod.usedPorts
        for (flag, number) in [("--tunnel-port", options.tunnelPort), ("--admin-port", options.adminPort)] {
            if let owner = used[number] {
                throw InjectionError(.portInUse, "container \(owner) of \(workloadName) already uses port \(number); choose another with \(flag)")
            }
        }
        guard options.tunnelPort != options.adminPort else {
            throw InjectionError(.portInUse, "--tunnel-port and --admin-port are both \(options.tunnelPort)")
        }
        used[options.tunnelPort] = InjectionOptions.agentContainer
        used[options.adminPort] = InjectionOptions.agentContainer
        var next = options.edgePort
        var routes: [InjectionSummary.Route] = []
        for (port, appPort) in zip(selected, appPorts) {
            while used[next] != nil { next += 1 }
            guard (1...65_535).contains(next) else {
                throw InjectionError(.portInUse, "no free edge port from \(options.edgePort) on; choose another start with --edge-port")
            }
            used[next] = InjectionOptions.agentContainer
            routes.append(.init(servicePort: port.port, edgePort: next, appPort: appPort))
        }

        let serviceShortName = objects[serviceIndex].name
        let agent = AgentContainer(options: options, service: serviceShortName, routes: routes, app: app)
        let createdVolumes = try pod.addAgent(agent.node, volume: agent.volume, to: &workload)
        let workloadRecord = InjectionRecord.Workload(
            service: serviceShortName, container: InjectionOptions.agentContainer, volume: InjectionOptions.certificateVolume,
            createdVolumes: createdVolumes, createdAnnotations: workload.value(["metadata", "annotations"]) == nil)
        try annotate(&workload, InjectionRecord.encode(workloadRecord), reference: workloadName)

        var records: [InjectionRecord.Port] = []
        service.edit("spec") { spec in
            spec?.edit("ports") { list in
                guard case .sequence(var items)? = list else { return }
                for (port, route) in zip(selected, routes) {
                    records.append(.init(index: port.index, port: port.port, edgePort: route.edgePort, targetPort: port.written))
                    items[port.index].set("targetPort", .number(route.edgePort))
                }
                list = .sequence(items)
            }
        }
        let serviceRecord = InjectionRecord.Service(
            workload: workloadName, ports: records, createdAnnotations: service.value(["metadata", "annotations"]) == nil)
        try annotate(&service, InjectionRecord.encode(serviceRecord), reference: serviceName)

        manifest[workloadIndex] = workload
        manifest[serviceIndex] = service
        return InjectionSummary(workload: workloadName, service: serviceName, container: appName, tunnelPort: options.tunnelPort, routes: routes)
    }

    static func annotate(_ object: inout Node, _ record: String, reference: String) throws {
        var annotations = object.value(["metadata", "annotations"]) ?? .map([])
        guard annotations.mapping != nil else {
            throw InjectionError(.malformedObject, "\(reference): metadata.annotations is not a mapping")
        }
        annotations.set(InjectionRecord.annotation, .text(record))
        object.replace(["metadata", "annotations"], with: annotations)
    }

    // MARK: - Choosing the objects

    static func pickWorkload(_ objects: [KubeObject], options: InjectionOptions) throws -> Int {
        let workloads = objects.indices.filter { objects[$0].isWorkload }
        let names = workloads.map { objects[$0].reference }.joined(separator: ", ")
        if let wanted = options.workload {
            let matching = workloads.filter { objects[$0].name == wanted || objects[$0].reference == wanted.lowercased() }
            guard let index = matching.first else {
                throw InjectionError(.noWorkload, "the input has no workload named \(wanted)" + (names.isEmpty ? "" : " (it has \(names))"))
            }
            guard matching.count == 1 else {
                throw InjectionError(.ambiguousWorkload, "several workloads are named \(wanted); pass --workload KIND/NAME, one of \(matching.map { objects[$0].reference }.joined(separator: ", "))")
            }
            return index
        }
        guard let first = workloads.first else {
            let kinds = KubeObject.workloadKinds.sorted().joined(separator: ", ")
            throw InjectionError(.noWorkload, "the input has no workload to inject into (\(kinds)); give the workload and its Service, e.g. `kubectl get deployment/orders service/orders -o yaml | shunt inject`")
        }
        guard workloads.count == 1 else {
            throw InjectionError(.ambiguousWorkload, "the input has several workloads (\(names)); choose one with --workload NAME")
        }
        return first
    }

    static func pickService(_ objects: [KubeObject], workload: KubeObject, options: InjectionOptions) throws -> Int {
        let services = objects.indices.filter { objects[$0].isService }
        let names = services.map { objects[$0].name }.joined(separator: ", ")
        if let wanted = options.service {
            guard let index = services.first(where: { objects[$0].name == wanted }) else {
                throw InjectionError(.noService, "the input has no Service named \(wanted)" + (names.isEmpty ? "" : " (it has \(names))"))
            }
            if let reason = reasonNotSelecting(objects[index], workload) { throw InjectionError(.serviceDoesNotSelect, reason) }
            return index
        }
        guard !services.isEmpty else {
            throw InjectionError(.noService, "the input has no Service; give \(workload.reference) together with the Service in front of it (the agent takes over the Service's port)")
        }
        if services.count == 1 {
            if let reason = reasonNotSelecting(objects[services[0]], workload) { throw InjectionError(.serviceDoesNotSelect, reason) }
            return services[0]
        }
        let selecting = services.filter { reasonNotSelecting(objects[$0], workload) == nil }
        guard let first = selecting.first else {
            throw InjectionError(.serviceDoesNotSelect, "none of the Services in the input (\(names)) selects the pods of \(workload.reference)")
        }
        guard selecting.count == 1 else {
            throw InjectionError(.ambiguousService, "several Services select the pods of \(workload.reference) (\(selecting.map { objects[$0].name }.joined(separator: ", "))); choose one with --service NAME")
        }
        return first
    }

    /// Why the Service does not send its traffic to the workload's pods; nil when it does.
    static func reasonNotSelecting(_ service: KubeObject, _ workload: KubeObject) -> String? {
        let reference = service.reference
        if service.node.value(["spec", "type"])?.scalar?.string == "ExternalName" {
            return "\(reference) is an ExternalName Service: it has no pods to route through an agent"
        }
        if let serviceNamespace = service.namespace, let workloadNamespace = workload.namespace, serviceNamespace != workloadNamespace {
            return "\(reference) is in namespace \(serviceNamespace), \(workload.reference) in \(workloadNamespace)"
        }
        let selector = service.node.value(["spec", "selector"])?.mapping.map(Array.init) ?? []
        guard !selector.isEmpty else {
            return "\(reference) has no selector (its endpoints are managed by hand), so it does not send traffic to \(workload.reference)"
        }
        let labels = workload.node.value(["spec", "template", "metadata", "labels"])
        let selects = selector.allSatisfy { pair in
            guard let key = pair.key.scalar?.string else { return false }
            return labels?.value(key)?.scalar?.string == pair.value.scalar?.string
        }
        guard selects else {
            let wanted = selector.map { "\($0.key.scalar?.string ?? "?")=\($0.value.scalar?.string ?? "")" }.joined(separator: ",")
            let have = (labels?.mapping.map(Array.init) ?? []).map { "\($0.key.scalar?.string ?? "?")=\($0.value.scalar?.string ?? "")" }.joined(separator: ",")
            return "\(reference) selects \(wanted), but the pods of \(workload.reference) are labelled \(have.isEmpty ? "with nothing" : have)"
        }
        return nil
    }

    static func pickContainer(_ pod: PodTemplate, targets: [ServicePorts.Target], options: InjectionOptions, workload: String) throws -> Int {
        let names = pod.containers.map { $0.text("name") ?? "?" }
        if let wanted = options.container {
            guard let index = names.firstIndex(of: wanted) else {
                throw InjectionError(.noContainer, "\(workload) has no container named \(wanted) (it has \(names.joined(separator: ", ")))")
            }
            return index
        }
        if pod.containers.count == 1 { return 0 }
        let serving = pod.containers.indices.filter { index in
            targets.allSatisfy { PodTemplate.declares(pod.containers[index], $0) }
        }
        guard serving.count == 1 else {
            throw InjectionError(.ambiguousContainer, "\(workload) has containers \(names.joined(separator: ", ")) and the Service's target ports do not tell which one is the app; choose with --container NAME")
        }
        return serving[0]
    }
}
