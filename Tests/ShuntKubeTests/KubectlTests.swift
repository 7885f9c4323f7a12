import Foundation
import ShuntKube
import Testing

/// Finding a Service's agents with kubectl, against a fake `kubectl` that prints canned JSON and
/// records its arguments; and the reading of that JSON on its own.
@Suite struct KubectlTests {
    static let service = #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"orders","namespace":"shop"},"spec":{"selector":{"tier":"api","app":"orders"},"ports":[{"port":80,"targetPort":18080}]}}"#

    static func pod(_ name: String, agent: Bool = true, ready: Bool = true, tunnel: String = #"{"name":"shunt-tunnel","containerPort":7443}"#,
                    args: String = "[]", phase: String = "Running", deleting: Bool = false) -> String {
        let agentContainer = agent ? #",{"name":"shunt-agent","image":"shunt-agent:latest","args":\#(args),"ports":[{"name":"shunt-edge","containerPort":18080},\#(tunnel)]}"# : ""
        return #"""
            {"metadata":{"name":"\#(name)"\#(deleting ? #","deletionTimestamp":"2026-11-25T10:00:00Z""# : "")},
             "spec":{"containers":[{"name":"orders","image":"orders:1","ports":[{"containerPort":9090}]}\#(agentContainer)]},
             "status":{"phase":"\#(phase)","conditions":[{"type":"Ready","status":"\#(ready ? "True" : "False")"}]}}
            """#
    }

    static func pods(_ items: [String]) -> String { #"{"apiVersion":"v1","kind":"List","items":[\#(items.joined(separator: ","))]}"# }

    /// A fake kubectl in a fresh folder: answers get service/pods and port-forward, logs its arguments.
    struct FakeKubectl {
        let folder: URL
        var path: String { folder.appendingPathComponent("kubectl").path }
        var log: [String] {
            ((try? String(contentsOf: folder.appendingPathComponent("calls"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        init(service: String = KubectlTests.service, pods: String, portForward: String = #"echo "Forwarding from 127.0.0.1:43210 -> 7443"; echo "Forwarding from [::1]:43210 -> 7443"; exec sleep 30"#) throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-kubectl-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try service.write(to: folder.appendingPathComponent("service.json"), atomically: true, encoding: .utf8)
            try pods.write(to: folder.appendingPathComponent("pods.json"), atomically: true, encoding: .utf8)
            let script = """
                #!/bin/sh
                [ -n "$SHUNT_FAKE_PROBE" ] && exit 0
                echo "$*" >> '\(folder.path)/calls'
                case "$*" in
                  *"get service orders -o json") cat '\(folder.path)/service.json' ;;
                  *"get service "*) echo 'Error from server (NotFound): services "nope" not found' >&2; exit 1 ;;
                  *"get pods -l "*) cat '\(folder.path)/pods.json' ;;
                  *"port-forward "*) \(portForward) ;;
                  *) echo "fake kubectl: unexpected $*" >&2; exit 2 ;;
                esac
                """
            try script.write(to: folder.appendingPathComponent("kubectl"), atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            try waitUntilExecutable(path)
        }

        func remove() { try? FileManager.default.removeItem(at: folder) }
    }

    // MARK: - kubectl, faked

    @Test func theServicesSelectorFindsItsAgentPods() throws {
        let fake = try FakeKubectl(pods: Self.pods([Self.pod("orders-7d9f-b"), Self.pod("orders-7d9f-a", ready: false)]))
        defer { fake.remove() }
        let kubectl = Kubectl(executable: fake.path, namespace: "shop", context: "dev")
        let pods = try kubectl.agentPods(service: "orders")
        #expect(pods == [AgentPod(name: "orders-7d9f-a", tunnelPort: 7443, ready: false), AgentPod(name: "orders-7d9f-b", tunnelPort: 7443, ready: true)])
        #expect(fake.log == [
            "--context dev --namespace shop get service orders -o json",
            "--context dev --namespace shop get pods -l app=orders,tier=api -o json",
        ])
    }

    @Test func kubectlsOwnErrorIsPassedOn() throws {
        let fake = try FakeKubectl(pods: Self.pods([]))
        defer { fake.remove() }
        let kubectl = Kubectl(executable: fake.path, namespace: "shop")
        do {
            _ = try kubectl.agentPods(service: "nope")
            Issue.record("expected a failure")
        } catch let error as KubectlError {
            #expect(error.description == #"kubectl get service nope -o json failed (exit 1): Error from server (NotFound): services "nope" not found"#)
        }
    }

    @Test func aPortForwardReportsItsLocalPortAndStops() throws {
        let fake = try FakeKubectl(pods: Self.pods([]))
        defer { fake.remove() }
        let forward = try Kubectl(executable: fake.path, namespace: "shop").portForward(pod: "orders-7d9f-a", port: 7443)
        #expect(forward.localPort == 43210)
        #expect(forward.isRunning)
        forward.stop()
        #expect(!forward.isRunning)
        #expect(fake.log == ["--namespace shop port-forward pod/orders-7d9f-a :7443 --address 127.0.0.1"])
    }

    @Test func aPortForwardThatFailsSaysWhy() throws {
        let fake = try FakeKubectl(pods: Self.pods([]), portForward: #"echo 'error: unable to forward port because pod is not running. Current status=Pending' >&2; exit 1"#)
        defer { fake.remove() }
        do {
            _ = try Kubectl(executable: fake.path).portForward(pod: "orders-x", port: 7443)
            Issue.record("expected a failure")
        } catch let error as KubectlError {
            #expect(error.description == "kubectl port-forward pod/orders-x :7443 ended (exit 1) before forwarding: error: unable to forward port because pod is not running. Current status=Pending")
        }
    }

    @Test func kubectlIsFoundOnThePath() throws {
        let fake = try FakeKubectl(pods: Self.pods([]))
        defer { fake.remove() }
        #expect(Kubectl.locate(path: "/nonexistent:\(fake.folder.path)") == fake.path)
        #expect(Kubectl.locate(path: "/nonexistent") == nil)
    }

    // MARK: - Reading kubectl's JSON

    @Test func podsWithoutTheAgentOrOnTheirWayOutAreLeftOut() throws {
        let json = Self.pods([
            Self.pod("c", agent: false), Self.pod("b", deleting: true), Self.pod("a", phase: "Succeeded"),
            Self.pod("d", tunnel: #"{"name":"other","containerPort":1}"#, args: #"["--listen=0.0.0.0:18080","--tunnel-listen=0.0.0.0:7555"]"#),
            Self.pod("e", tunnel: #"{"name":"other","containerPort":1}"#, args: #"["--tunnel-listen","0.0.0.0:7556"]"#),
            Self.pod("f", tunnel: #"{"name":"shunt-tunnel","containerPort":8443}"#),
        ])
        let pods = try AgentPods.agents(podListJSON: Data(json.utf8), service: "orders")
        #expect(pods.map(\.name) == ["d", "e", "f"])
        #expect(pods.map(\.tunnelPort) == [7555, 7556, 8443])
    }

    @Test func noPodOrNoAgentIsAnErrorThatSaysWhatToDo() {
        #expect(injectionError { _ = try AgentPods.agents(podListJSON: Data(Self.pods([]).utf8), service: "orders") }?.message == "service/orders selects no running pod")
        let missing = injectionError { _ = try AgentPods.agents(podListJSON: Data(Self.pods([Self.pod("a", agent: false)]).utf8), service: "orders") }
        #expect(missing?.code == .notInjected)
        #expect(missing?.message.contains("shunt inject") == true)
        #expect(injectionError { _ = try AgentPods.agents(podListJSON: Data("not json".utf8), service: "orders") }?.code == .malformedObject)
    }

    @Test func aServiceWithoutSelectorOrExternalHasNoAgents() throws {
        let external = #"{"spec":{"type":"ExternalName","externalName":"db.example"}}"#
        #expect(injectionError { _ = try AgentPods.selector(serviceJSON: Data(external.utf8), service: "db") }?.message.contains("ExternalName") == true)
        #expect(injectionError { _ = try AgentPods.selector(serviceJSON: Data(#"{"spec":{"ports":[]}}"#.utf8), service: "db") }?.code == .serviceDoesNotSelect)
        #expect(try AgentPods.selector(serviceJSON: Data(Self.service.utf8), service: "orders") == "app=orders,tier=api")
    }

    @Test func theForwardedPortIsReadFromKubectlsLine() {
        #expect(AgentPods.forwardedPort(line: "Forwarding from 127.0.0.1:43210 -> 7443") == 43210)
        #expect(AgentPods.forwardedPort(line: "Forwarding from [::1]:43210 -> 7443") == nil)
        #expect(AgentPods.forwardedPort(line: "Handling connection for 43210") == nil)
    }
}

/// Waits until the fake executable at `path` can be run: a file just written may be held open for
/// writing by a child another test is spawning at that moment (between its fork and its exec), and
/// exec then fails with ETXTBSY ("text file busy"). The script exits at once when
/// SHUNT_FAKE_PROBE is set, before logging anything.
private func waitUntilExecutable(_ path: String) throws {
    for _ in 0..<200 {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: path)
        probe.environment = ["SHUNT_FAKE_PROBE": "1"]
        do {
            try probe.run()
            probe.waitUntilExit()
            return
        } catch {
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
    Issue.record("\(path) could not be run")
}
