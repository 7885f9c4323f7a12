import Foundation
import NIOCore
import NIOPosix
import ShuntMatch
import ShuntSession
import ShuntTestSupport
import Testing

/// `shunt intercept` without --agent: the pods come from a fake `kubectl` on PATH, whose
/// port-forward lines point at the fake agent; the intercept is registered once per replica, with
/// one header value, and removed from each at SIGINT.
@Suite(.serialized, .timeLimit(.minutes(1))) struct InterceptDiscoveryTests {
    static func pod(_ name: String) -> String {
        #"{"metadata":{"name":"\#(name)"},"spec":{"containers":[{"name":"orders"},{"name":"shunt-agent","ports":[{"name":"shunt-tunnel","containerPort":7443}]}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#
    }

    static func setPods(_ names: [String], in folder: URL) throws {
        let list = #"{"items":[\#(names.map(pod).joined(separator: ","))]}"#
        let temporary = folder.appendingPathComponent("pods.json.new")
        try list.write(to: temporary, atomically: false, encoding: .utf8)
        // Renamed into place, so that the fake kubectl never reads half a file.
        guard rename(temporary.path, folder.appendingPathComponent("pods.json").path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    static func fakeKubectl(agentPort: Int, pods: [String] = ["orders-a", "orders-b"]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-kubectl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try setPods(pods, in: folder)
        let script = """
            #!/bin/sh
            [ -n "$SHUNT_FAKE_PROBE" ] && exit 0
            echo "$*" >> '\(folder.path)/calls'
            case "$*" in
              *"get service orders -o json") echo '{"spec":{"selector":{"app":"orders"}}}' ;;
              *"get pods -l app=orders -o json") cat '\(folder.path)/pods.json' ;;
              *"port-forward pod/"*" :7443 --address 127.0.0.1")
                echo x >> '\(folder.path)/forwards'
                echo "Forwarding from 127.0.0.1:\(agentPort) -> 7443"
                # With drop-first, the first port-forward ends after a second, as a dropped one does.
                if [ -f '\(folder.path)/drop-first' ] && [ "$(wc -l < '\(folder.path)/forwards')" -eq 1 ]; then exec sleep 1; fi
                exec sleep 60 ;;
              *) echo "fake kubectl: unexpected $*" >&2; exit 2 ;;
            esac
            """
        let path = folder.appendingPathComponent("kubectl")
        try script.write(to: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
        try waitUntilExecutable(path.path)
        return folder
    }

    @Test func everyReplicasAgentGetsTheSameInterceptThroughItsPortForward() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let folder = try Self.fakeKubectl(agentPort: agent.port)
        defer { try? FileManager.default.removeItem(at: folder) }

        // The laptop's side of the intercept: refused (nothing listens), and no one else's port.
        let local = try ReservedPort()
        defer { withExtendedLifetime(local) {} }
        let (process, _, errors) = try InterceptCommandTests.launch(
            ["intercept", "orders", "-n", "shop", "--certs", agent.certificates.folder.url.path, "--port", "\(local.port):8080", "--replica-poll", "0"],
            environment: ["PATH": "\(folder.path):/usr/bin:/bin"])
        var registrations = agent.registrations.makeAsyncIterator()
        let first = try #require(await registrations.next())
        let second = try #require(await registrations.next())
        #expect(first.name == "orders-alice" && second.name == "orders-alice")
        #expect(first.rule.generatedHeader != nil)
        #expect(first.rule == second.rule)
        // A request through each replica's agent: both are refused, and the developer, told at start
        // that nothing listens, is not told again (the replicas share the local service).
        var connections = agent.connections.makeAsyncIterator()
        for _ in 0..<2 {
            let connection = try #require(await connections.next())
            await #expect(throws: StreamResetError.self) {
                _ = try await FakeAgent.exchange(on: connection, request: Array("GET / HTTP/1.1\r\n\r\n".utf8), responseLength: 1)
            }
        }

        kill(process.processIdentifier, SIGINT)
        #expect(await InterceptCommandTests.exitStatus(process) == 0)
        let said = InterceptCommandTests.text(errors)
        #expect(said.components(separatedBy: "nothing listens on 127.0.0.1:\(local.port)").count - 1 == 1, "\(said)")
        #expect(agent.removals.withLockedValue { $0 } == ["orders-alice", "orders-alice"])
        let calls = try String(contentsOf: folder.appendingPathComponent("calls"), encoding: .utf8)
        #expect(calls == """
            --namespace shop get service orders -o json
            --namespace shop get pods -l app=orders -o json
            --namespace shop port-forward pod/orders-a :7443 --address 127.0.0.1
            --namespace shop port-forward pod/orders-b :7443 --address 127.0.0.1

            """)
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func replicasThatAppearGetTheInterceptAndThoseThatGoAwayLoseIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let folder = try Self.fakeKubectl(agentPort: agent.port, pods: ["orders-a"])
        defer { try? FileManager.default.removeItem(at: folder) }

        // The laptop's side of the intercept: refused (nothing listens), and no one else's port.
        let local = try ReservedPort()
        defer { withExtendedLifetime(local) {} }
        let (process, _, errors) = try InterceptCommandTests.launch(
            ["intercept", "orders", "--certs", agent.certificates.folder.url.path, "--port", "\(local.port):8080", "--replica-poll", "1"],
            environment: ["PATH": "\(folder.path):/usr/bin:/bin"])
        var registrations = agent.registrations.makeAsyncIterator()
        let first = try #require(await registrations.next())

        try Self.setPods(["orders-a", "orders-b"], in: folder)
        let joined = try #require(await registrations.next())
        #expect(joined.rule == first.rule)

        try Self.setPods(["orders-b"], in: folder)
        while agent.removals.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(50)) }

        kill(process.processIdentifier, SIGINT)
        #expect(await InterceptCommandTests.exitStatus(process) == 0)
        let printed = InterceptCommandTests.text(errors)
        #expect(printed.contains("replica pod/orders-b joined"), "\(printed)")
        #expect(printed.contains("replica pod/orders-a is gone"), "\(printed)")
        #expect(agent.removals.withLockedValue { $0 } == ["orders-alice", "orders-alice"])
        await agent.stop()
        try await group.shutdownGracefully()
    }

    /// `shunt list SERVICE` and `shunt leave NAME --service SERVICE` without --agent ask every
    /// replica's agent: one row per intercept with its requests summed, and the removal on each.
    @Test func listAndLeaveAskEveryReplicasAgent() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let folder = try Self.fakeKubectl(agentPort: agent.port, pods: ["orders-a", "orders-b"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let rule = try RuleFlags(httpHeader: ["x-user=bob"]).spec()
        agent.listed.withLockedValue {
            $0 = [InterceptCalls.Intercept(name: "orders-bob", owner: "bob", port: 8080, rule: rule, since: "2025-01-01T00:00:00Z", requests: 3)]
        }
        let environment = ["PATH": "\(folder.path):/usr/bin:/bin"]
        let certs = ["--certs", agent.certificates.folder.url.path]

        let (list, listOutput, listErrors) = try InterceptCommandTests.launch(["list", "orders", "-n", "shop"] + certs, environment: environment)
        #expect(await InterceptCommandTests.exitStatus(list) == 0, "\(InterceptCommandTests.text(listErrors))")
        #expect(InterceptCommandTests.text(listOutput) == """
            NAME        OWNER  PORT  RULE                      SINCE                 REQUESTS  REPLICAS
            orders-bob  bob    8080  --http-header=x-user=bob  2025-01-01T00:00:00Z  6         2/2

            """)

        let (leave, leaveOutput, leaveErrors) = try InterceptCommandTests.launch(["leave", "orders-bob", "--service", "orders", "-n", "shop"] + certs,
                                                                                 environment: environment)
        #expect(await InterceptCommandTests.exitStatus(leave) == 0, "\(InterceptCommandTests.text(leaveErrors))")
        #expect(InterceptCommandTests.text(leaveOutput) == "Removed intercept orders-bob from 2 of 2 replicas.\n")
        #expect(agent.removals.withLockedValue { $0 } == ["orders-bob", "orders-bob"])
        let calls = try String(contentsOf: folder.appendingPathComponent("calls"), encoding: .utf8)
        #expect(calls.components(separatedBy: "port-forward pod/orders-").count - 1 == 4, "one port-forward per replica per command: \(calls)")

        // Neither a service nor --agent: what to give instead.
        let (bare, _, bareErrors) = try InterceptCommandTests.launch(["list"] + certs, environment: environment)
        #expect(await InterceptCommandTests.exitStatus(bare) == 2)
        #expect(InterceptCommandTests.text(bareErrors).contains("--agent HOST:PORT"))
        await agent.stop()
        try await group.shutdownGracefully()
    }

    /// kubectl port-forward exits when its connection drops while the pod stays: the replica gets a
    /// new port-forward and its intercept again, and the user is told.
    @Test func aPortForwardThatEndsIsOpenedAgain() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let folder = try Self.fakeKubectl(agentPort: agent.port, pods: ["orders-a"])
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("drop-first").path, contents: nil)

        // The laptop's side of the intercept: refused (nothing listens), and no one else's port.
        let local = try ReservedPort()
        defer { withExtendedLifetime(local) {} }
        let (process, _, errors) = try InterceptCommandTests.launch(
            ["intercept", "orders", "--certs", agent.certificates.folder.url.path, "--port", "\(local.port):8080", "--replica-poll", "1"],
            environment: ["PATH": "\(folder.path):/usr/bin:/bin"])
        var registrations = agent.registrations.makeAsyncIterator()
        let first = try #require(await registrations.next())
        let again = try #require(await registrations.next())
        #expect(again.rule == first.rule)
        // The intercept is back (the agent saw it registered again); SIGINT may come while the CLI
        // is still saying so: it finishes the join, removes the intercept, and exits 0.
        kill(process.processIdentifier, SIGINT)
        #expect(await InterceptCommandTests.exitStatus(process) == 0)
        let printed = InterceptCommandTests.text(errors)
        #expect(printed.contains("the port-forward to pod/orders-a ended; opening a new one"), "\(printed)")
        #expect(!printed.contains("ERROR"), "\(printed)")
        let forwards = try String(contentsOf: folder.appendingPathComponent("forwards"), encoding: .utf8)
        #expect(forwards.split(separator: "\n").count == 2)
        await agent.stop()
        try await group.shutdownGracefully()
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
