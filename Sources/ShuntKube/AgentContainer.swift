import Yams

/// The `shunt-agent` container `shunt inject` adds, and the volume with its certificates.
struct AgentContainer {
    let node: Node
    let volume: Node

    init(options: InjectionOptions, service: String, routes: [InjectionSummary.Route], app: Node) {
        let prefix = InjectionOptions.environmentPrefix
        let environment = AppEnvironment(app: app, prefix: prefix)
        var arguments: [String] = []
        for route in routes {
            arguments += ["--listen=0.0.0.0:\(route.edgePort)", "--app=127.0.0.1:\(route.appPort)"]
        }
        arguments += [
            "--tunnel-listen=0.0.0.0:\(options.tunnelPort)",
            "--admin-listen=0.0.0.0:\(options.adminPort)",
            "--certs=\(InjectionOptions.certificatePath)",
            "--service=\(service)",
        ]
        if !environment.isEmpty { arguments.append("--env-prefix=\(prefix)") }

        var ports: [Node] = routes.enumerated().map { index, route in
            .map([("name", .text(routes.count == 1 ? "shunt-edge" : "shunt-edge-\(index + 1)")), ("containerPort", .number(route.edgePort))])
        }
        ports.append(.map([("name", .text("shunt-tunnel")), ("containerPort", .number(options.tunnelPort))]))
        ports.append(.map([("name", .text("shunt-admin")), ("containerPort", .number(options.adminPort))]))

        func probe(_ path: String, period: Int) -> Node {
            .map([
                ("httpGet", .map([("path", .text(path)), ("port", .text("shunt-admin"))])),
                ("periodSeconds", .number(period)),
            ])
        }
        var pairs: [(String, Node)] = [
            ("name", .text(InjectionOptions.agentContainer)),
            ("image", .text(options.image)),
            ("args", .list(arguments.map(Node.text))),
            ("ports", .list(ports)),
        ]
        if !environment.variables.isEmpty { pairs.append(("env", .list(environment.variables))) }
        if !environment.sources.isEmpty { pairs.append(("envFrom", .list(environment.sources))) }
        pairs += [
            ("readinessProbe", probe("/readyz", period: 5)),
            ("livenessProbe", probe("/healthz", period: 10)),
            ("resources", .map([
                ("requests", .map([("cpu", .text("10m")), ("memory", .text("32Mi"))])),
                ("limits", .map([("memory", .text("128Mi"))])),
            ])),
            ("securityContext", .map([
                ("runAsNonRoot", Node("true")),
                ("allowPrivilegeEscalation", Node("false")),
                ("readOnlyRootFilesystem", Node("true")),
                ("capabilities", .map([("drop", .list([.text("ALL")]))])),
            ])),
            ("volumeMounts", .list([.map([
                ("name", .text(InjectionOptions.certificateVolume)),
                ("mountPath", .text(InjectionOptions.certificatePath)),
                ("readOnly", Node("true")),
            ])])),
        ]
        node = .map(pairs)
        // Only the agent's three files, even if the Secret was made from a whole folder (ca-key.pem
        // must never reach the cluster).
        volume = .map([
            ("name", .text(InjectionOptions.certificateVolume)),
            ("secret", .map([
                ("secretName", .text(options.secret)),
                ("items", .list(["ca.pem", "agent.pem", "agent-key.pem"].map { file in
                    .map([("key", .text(file)), ("path", .text(file))])
                })),
            ])),
        ])
    }
}
