import Foundation
import ShuntKube
import Testing
import Yams

/// What inject writes for each shape, and the precise refusal for each input it cannot handle.
@Suite struct InjectionTests {
    func inject(_ file: String, _ change: (inout InjectionOptions) -> Void = { _ in }) throws -> (Manifest, InjectionSummary) {
        var manifest = try Fixtures.manifest(file)
        let summary = try Injection.inject(&manifest, options: Fixtures.options(change))
        return (manifest, summary)
    }

    func error(_ file: String, _ change: (inout InjectionOptions) -> Void = { _ in }) throws -> InjectionError? {
        let text = try Fixtures.text(file)
        return injectionError { _ = try Injection.inject(yaml: text, options: Fixtures.options(change)) }
    }

    func error(yaml: String, _ change: (inout InjectionOptions) -> Void = { _ in }) -> InjectionError? {
        injectionError { _ = try Injection.inject(yaml: yaml, options: Fixtures.options(change)) }
    }

    // MARK: - What is written

    @Test func aNumericTargetPortMovesToTheEdgeAndTheAppPortGoesToTheAgent() throws {
        let (manifest, summary) = try inject("plain.yaml")
        #expect(summary.routes == [.init(servicePort: 80, edgePort: 18080, appPort: 9090)])
        let service = try object(manifest, "service/orders")
        #expect(service["spec"]?["ports"]?[0]?["targetPort"]?.int == 18080)
        let agent = try container(object(manifest, "deployment/orders"), "shunt-agent")
        #expect(arguments(agent) == [
            "--listen=0.0.0.0:18080", "--app=127.0.0.1:9090", "--tunnel-listen=0.0.0.0:7443", "--admin-listen=0.0.0.0:9901",
            "--certs=/etc/shunt/certs", "--service=orders", "--env-prefix=SHUNT_APP_",
        ])
        #expect(agent["image"]?.string == "shunt-agent:latest")
        #expect(agent["readinessProbe"]?["httpGet"]?["path"]?.string == "/readyz")
        #expect(agent["livenessProbe"]?["httpGet"]?["path"]?.string == "/healthz")
        #expect(agent["readinessProbe"]?["httpGet"]?["port"]?.string == "shunt-admin")
        let ports = agent["ports"]?.sequence.map(Array.init) ?? []
        #expect(ports.map { $0["name"]?.string ?? "" } == ["shunt-edge", "shunt-tunnel", "shunt-admin"])
        #expect(ports.map { $0["containerPort"]?.int ?? 0 } == [18080, 7443, 9901])
        #expect(agent["securityContext"]?["runAsNonRoot"]?.bool == true)
    }

    @Test func theCertificateSecretIsMountedWithOnlyTheAgentsFiles() throws {
        let (manifest, _) = try inject("plain.yaml") { $0.secret = "orders-shunt"; $0.image = "registry.example/shunt-agent:0.1" }
        let workload = try object(manifest, "deployment/orders")
        let agent = try container(workload, "shunt-agent")
        #expect(agent["image"]?.string == "registry.example/shunt-agent:0.1")
        #expect(agent["volumeMounts"]?[0]?["mountPath"]?.string == "/etc/shunt/certs")
        #expect(agent["volumeMounts"]?[0]?["readOnly"]?.bool == true)
        let volume = try #require(workload["spec"]?["template"]?["spec"]?["volumes"]?[0])
        #expect(volume["name"]?.string == "shunt-certs")
        #expect(volume["secret"]?["secretName"]?.string == "orders-shunt")
        let keys = volume["secret"]?["items"]?.sequence?.compactMap { $0["key"]?.string }
        #expect(keys == ["ca.pem", "agent.pem", "agent-key.pem"])
    }

    @Test func aNamedTargetPortIsResolvedInTheAppContainer() throws {
        let (manifest, summary) = try inject("named-ports.yaml") { $0.ports = ["http"] }
        #expect(summary.routes == [.init(servicePort: 80, edgePort: 18080, appPort: 8080)])
        let service = try object(manifest, "service/web")
        #expect(service["spec"]?["ports"]?[0]?["targetPort"]?.int == 18080)
        // The port not chosen keeps having no targetPort.
        #expect(service["spec"]?["ports"]?[1]?["targetPort"] == nil)
    }

    @Test func everyTCPPortGetsItsOwnEdgePortByDefaultAndAnOmittedTargetPortIsThePort() throws {
        let (_, summary) = try inject("named-ports.yaml")
        #expect(summary.routes == [
            .init(servicePort: 80, edgePort: 18080, appPort: 8080),
            .init(servicePort: 9000, edgePort: 18081, appPort: 9000),
        ])
    }

    @Test func severalServicePortsToOneAppPortEachHaveAnEdgePortAndUDPIsLeftAlone() throws {
        let (manifest, summary) = try inject("several-ports.yaml") { $0.service = "gateway" }
        #expect(summary.routes == [
            .init(servicePort: 80, edgePort: 18080, appPort: 8080),
            .init(servicePort: 8081, edgePort: 18081, appPort: 8081),
            .init(servicePort: 8000, edgePort: 18082, appPort: 8080),
        ])
        let service = try object(manifest, "service/gateway")
        #expect(service["spec"]?["ports"]?[3]?["targetPort"]?.int == 5353)
        let agent = try container(object(manifest, "deployment/gateway"), "shunt-agent")
        #expect(Array(arguments(agent).prefix(6)) == [
            "--listen=0.0.0.0:18080", "--app=127.0.0.1:8080", "--listen=0.0.0.0:18081", "--app=127.0.0.1:8081",
            "--listen=0.0.0.0:18082", "--app=127.0.0.1:8080",
        ])
        #expect(agent["ports"]?.sequence?.compactMap { $0["name"]?.string } == ["shunt-edge-1", "shunt-edge-2", "shunt-edge-3", "shunt-tunnel", "shunt-admin"])
    }

    @Test func portsAreChosenByNumberOrName() throws {
        let (_, summary) = try inject("several-ports.yaml") { $0.service = "gateway"; $0.ports = ["public", "80"] }
        #expect(summary.routes.map(\.servicePort) == [80, 8000])
    }

    @Test func edgePortsSkipThePortsThePodAlreadyUses() throws {
        let (_, summary) = try inject("several-ports.yaml") { $0.service = "gateway"; $0.edgePort = 8080 }
        #expect(summary.routes.map(\.edgePort) == [8082, 8083, 8084])
    }

    @Test func theServiceSelectingThePodsIsChosenAmongSeveralWhenOnlyOneDoes() throws {
        let yaml = try Fixtures.text("plain.yaml") + """
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: other, namespace: shop}
            spec:
              selector: {app: other}
              ports: [{port: 80}]
            """
        let (_, summary) = try Injection.inject(yaml: yaml, options: InjectionOptions())
        #expect(summary.service == "service/orders")
    }

    @Test func theAppContainerIsTheOneDeclaringTheNamedPortBesideASidecar() throws {
        let (manifest, summary) = try inject("multi-container.yaml")
        #expect(summary.container == "payments")
        #expect(summary.routes == [.init(servicePort: 443, edgePort: 18080, appPort: 8443)])
        let workload = try object(manifest, "deployment/payments")
        let names = workload["spec"]?["template"]?["spec"]?["containers"]?.sequence?.compactMap { $0["name"]?.string }
        #expect(names == ["istio-proxy", "payments", "shunt-agent"])
    }

    @Test func theAppsEnvironmentReachesTheAgentUnderThePrefix() throws {
        let (manifest, _) = try inject("env-refs.yaml")
        let agent = try container(object(manifest, "deployment/catalog"), "shunt-agent")
        let env = agent["env"]?.sequence.map(Array.init) ?? []
        #expect(env.compactMap { $0["name"]?.string } == [
            "SHUNT_APP_DB_HOST", "SHUNT_APP_DB_PASSWORD", "SHUNT_APP_POD_NAME", "SHUNT_APP_MEMORY_LIMIT", "SHUNT_APP_DATABASE_URL",
        ])
        #expect(env[0]["valueFrom"]?["configMapKeyRef"]?["key"]?.string == "db-host")
        #expect(env[1]["valueFrom"]?["secretKeyRef"]?["name"]?.string == "catalog-db")
        #expect(env[2]["valueFrom"]?["fieldRef"]?["fieldPath"]?.string == "metadata.name")
        // The app's memory limit, not the agent's.
        #expect(env[3]["valueFrom"]?["resourceFieldRef"]?["containerName"]?.string == "catalog")
        #expect(env[4]["value"]?.string == "postgres://app:$(SHUNT_APP_DB_PASSWORD)@$(SHUNT_APP_DB_HOST)/catalog?cost=$$(NOT_A_REF)&path=$(HOME)")
        let sources = agent["envFrom"]?.sequence.map(Array.init) ?? []
        #expect(sources.map { $0["prefix"]?.string } == ["SHUNT_APP_", "SHUNT_APP_FEATURE_"])
        #expect(sources[0]["configMapRef"]?["name"]?.string == "catalog-env")
        #expect(sources[1]["secretRef"]?["optional"]?.bool == true)
        #expect(arguments(agent).last == "--env-prefix=SHUNT_APP_")
    }

    @Test func anAppWithoutEnvironmentGivesTheAgentNone() throws {
        let (manifest, _) = try inject("statefulset.yaml")
        let agent = try container(object(manifest, "statefulset/ledger"), "shunt-agent")
        #expect(agent["env"] == nil)
        #expect(agent["envFrom"] == nil)
        #expect(!arguments(agent).contains { $0.hasPrefix("--env-prefix") })
        #expect(arguments(agent).contains("--app=127.0.0.1:7070"))
    }

    @Test func referencesArePrefixedOnlyForTheAppsOwnVariables() {
        let names: Set = ["A", "B"]
        #expect(AppEnvironmentProbe.prefixing("$(A)-$(B)-$(C)", names) == "$(P_A)-$(P_B)-$(C)")
        #expect(AppEnvironmentProbe.prefixing("$$(A) $ $(A", names) == "$$(A) $ $(A")
        #expect(AppEnvironmentProbe.prefixing("no references", names) == "no references")
        #expect(AppEnvironmentProbe.prefixing("$$$(A)", names) == "$$$(P_A)")
    }

    @Test func theRecordSaysWhatWasThereBefore() throws {
        let (manifest, _) = try inject("named-ports.yaml")
        let service = try object(manifest, "service/web")
        let record = try #require(service["metadata"]?["annotations"]?["shunt.dev/injected"]?.string)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(record.utf8)) as? [String: Any])
        let ports = try #require(json["ports"] as? [[String: Any]])
        #expect(ports[0]["targetPort"] as? String == "http")
        #expect(ports[1]["targetPort"] == nil)
        #expect(json["workload"] as? String == "deployment/web")
    }

    // MARK: - Refusals

    @Test func anAlreadyInjectedWorkloadIsRefused() throws {
        let (manifest, _) = try inject("plain.yaml")
        let again = try manifest.yaml()
        let failure = error(yaml: again)
        #expect(failure?.code == .alreadyInjected)
        #expect(failure?.message.contains("shunt uninject") == true)
    }

    @Test func aWorkloadWithAnAgentContainerAddedByHandIsRefused() throws {
        let yaml = try Fixtures.text("plain.yaml").replacingOccurrences(of: "- name: orders\n          image", with: "- name: shunt-agent\n          image")
        #expect(error(yaml: yaml)?.code == .alreadyInjected)
    }

    @Test func aServiceAlreadyRoutedThroughAnAgentIsRefused() throws {
        let (manifest, _) = try inject("plain.yaml")
        let service = try Manifest(objects: [object(manifest, "service/orders")]).yaml()
        let deployment = try Fixtures.text("plain.yaml").components(separatedBy: "---")[0]
        #expect(error(yaml: deployment + "---\n" + service)?.code == .alreadyInjected)
    }

    @Test func aServiceThatDoesNotSelectTheWorkloadIsRefused() throws {
        let yaml = try Fixtures.text("plain.yaml").replacingOccurrences(of: "  selector:\n    app: orders", with: "  selector:\n    app: billing")
        let failure = error(yaml: yaml)
        #expect(failure?.code == .serviceDoesNotSelect)
        #expect(failure?.message == "service/orders selects app=billing, but the pods of deployment/orders are labelled app=orders")
    }

    @Test func aServiceInAnotherNamespaceOrWithoutSelectorOrExternalIsRefused() throws {
        let plain = try Fixtures.text("plain.yaml")
        let namespace = error(yaml: plain.replacingOccurrences(of: "  name: orders\n  namespace: shop\nspec:\n  selector", with: "  name: orders\n  namespace: other\nspec:\n  selector"))
        #expect(namespace?.code == .serviceDoesNotSelect)
        #expect(namespace?.message.contains("namespace other") == true)
        let noSelector = error(yaml: plain.replacingOccurrences(of: "  selector:\n    app: orders\n  ports", with: "  ports"))
        #expect(noSelector?.code == .serviceDoesNotSelect)
        #expect(noSelector?.message.contains("has no selector") == true)
        let external = error(yaml: plain.replacingOccurrences(of: "spec:\n  selector:\n    app: orders\n  ports", with: "spec:\n  type: ExternalName\n  selector:\n    app: orders\n  ports"))
        #expect(external?.message.contains("ExternalName") == true)
    }

    @Test func severalServicesSelectingThePodsNeedAChoice() throws {
        let failure = try error("several-ports.yaml")
        #expect(failure?.code == .ambiguousService)
        #expect(failure?.message.contains("gateway, gateway-metrics") == true)
        #expect(try error("several-ports.yaml") { $0.service = "nope" }?.code == .noService)
    }

    @Test func aMissingServiceOrWorkloadIsNamed() throws {
        let plain = try Fixtures.text("plain.yaml")
        let parts = plain.components(separatedBy: "---\n")
        #expect(error(yaml: parts[0])?.code == .noService)
        #expect(error(yaml: parts[1])?.code == .noWorkload)
        #expect(error(yaml: "")?.code == .noWorkload)
        #expect(try error("plain.yaml") { $0.workload = "billing" }?.message == "the input has no workload named billing (it has deployment/orders)")
        #expect(try inject("plain.yaml") { $0.workload = "deployment/orders" }.1.workload == "deployment/orders")
    }

    @Test func severalWorkloadsNeedAChoice() throws {
        let yaml = try Fixtures.text("plain.yaml") + "---\n" + Fixtures.text("statefulset.yaml")
        let failure = error(yaml: yaml)
        #expect(failure?.code == .ambiguousWorkload)
        #expect(failure?.message.contains("deployment/orders, statefulset/ledger") == true)
        let (_, summary) = try Injection.inject(yaml: yaml, options: Fixtures.options { $0.workload = "ledger" })
        #expect(summary.service == "service/ledger")
    }

    @Test func severalContainersAndANumericPortNobodyDeclaresNeedAChoice() throws {
        let yaml = try Fixtures.text("multi-container.yaml").replacingOccurrences(of: "targetPort: http-api", with: "targetPort: 8000")
        let failure = error(yaml: yaml)
        #expect(failure?.code == .ambiguousContainer)
        #expect(failure?.message.contains("istio-proxy, payments") == true)
        #expect(failure?.message.contains("--container") == true)
        let (_, summary) = try Injection.inject(yaml: yaml, options: Fixtures.options { $0.container = "payments" })
        #expect(summary.routes.map(\.appPort) == [8000])
        #expect(error(yaml: yaml) { $0.container = "nginx" }?.code == .noContainer)
    }

    @Test func aNamedTargetPortTheChosenContainerLacksIsRefused() throws {
        let failure = try error("multi-container.yaml") { $0.container = "istio-proxy" }
        #expect(failure?.code == .unknownPort)
        #expect(failure?.message == "service/payments port 443 targets the port named http-api, which container istio-proxy of deployment/payments does not declare")
    }

    @Test func anUnknownOrUDPPortIsRefused() throws {
        let unknown = try error("several-ports.yaml") { $0.service = "gateway"; $0.ports = ["9999"] }
        #expect(unknown?.code == .unknownPort)
        #expect(unknown?.message == "service/gateway has no port 9999 (its ports: 80 (http), 8081 (admin), 8000 (public), 53 (dns))")
        #expect(try error("several-ports.yaml") { $0.service = "gateway"; $0.ports = ["dns"] }?.code == .unsupportedPort)
    }

    @Test func agentPortsThePodAlreadyUsesAreRefused() throws {
        let tunnel = try error("multi-container.yaml") { $0.tunnelPort = 15090 }
        #expect(tunnel?.code == .portInUse)
        #expect(tunnel?.message == "container istio-proxy of deployment/payments already uses port 15090; choose another with --tunnel-port")
        #expect(try error("plain.yaml") { $0.adminPort = 9090 }?.code == .portInUse)
        #expect(try error("plain.yaml") { $0.adminPort = 7443 }?.code == .portInUse)
        #expect(try error("plain.yaml") { $0.edgePort = 65_535; $0.adminPort = 65_535 }?.code == .portInUse)
    }

    @Test func inputThatIsNotYAMLOrNotAnObjectIsRefusedWithoutACrash() {
        #expect(error(yaml: "kind: [unclosed")?.code == .invalidYAML)
        #expect(error(yaml: "- just\n- a list\n")?.code == .noWorkload)
        #expect(error(yaml: "kind: Deployment\nmetadata: {name: x}\n---\nkind: Service\nmetadata: {name: x}\n")?.code == .malformedObject)
        #expect(error(yaml: "kind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: []\n")?.code == .malformedObject)
        let noPorts = """
            kind: Deployment
            metadata: {name: x}
            spec: {template: {metadata: {labels: {a: b}}, spec: {containers: [{name: x}]}}}
            ---
            kind: Service
            metadata: {name: x}
            spec: {selector: {a: b}}
            """
        #expect(error(yaml: noPorts)?.message == "service/x has no ports")
        let badAnnotations = """
            kind: Deployment
            metadata: {name: x, annotations: [1]}
            spec: {template: {metadata: {labels: {a: b}}, spec: {containers: [{name: x}]}}}
            ---
            kind: Service
            metadata: {name: x}
            spec: {selector: {a: b}, ports: [{port: 80}]}
            """
        #expect(error(yaml: badAnnotations)?.code == .malformedObject)
    }
}

/// The prefixing of `$(NAME)` references, reached through a one-variable app.
enum AppEnvironmentProbe {
    static func prefixing(_ value: String, _ names: Set<String>) -> String {
        let env = names.sorted().map { "{name: \($0), value: x}" } + ["{name: V, value: '\(value)'}"]
        let yaml = """
            kind: Deployment
            metadata: {name: x}
            spec: {template: {metadata: {labels: {a: b}}, spec: {containers: [{name: x, env: [\(env.joined(separator: ", "))]}]}}}
            ---
            kind: Service
            metadata: {name: x}
            spec: {selector: {a: b}, ports: [{port: 80}]}
            """
        var options = InjectionOptions()
        options.tunnelPort = 7443
        guard var manifest = try? Manifest(yaml: yaml), (try? Injection.inject(&manifest, options: options)) != nil,
              let agent = manifest[0]["spec"]?["template"]?["spec"]?["containers"]?[1],
              let variable = agent["env"]?.sequence?.first(where: { $0["name"]?.string == "P_V".replacingOccurrences(of: "P_", with: "SHUNT_APP_") })
        else { return "<inject failed>" }
        return (variable["value"]?.string ?? "").replacingOccurrences(of: "SHUNT_APP_", with: "P_")
    }
}
