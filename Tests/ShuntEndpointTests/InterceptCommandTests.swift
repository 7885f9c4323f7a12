import Foundation
import NIOCore
import NIOPosix
import ShuntMatch
import ShuntTestSupport
import Testing

/// The `shunt intercept` process against the fake agent: what it registers, what it prints, the
/// env file, a child command's exit status, and the clean removal on SIGINT.
@Suite(.serialized, .timeLimit(.minutes(1))) struct InterceptCommandTests {
    /// The `shunt` executable `swift build --build-tests` puts beside the test bundle.
    static var shuntBinary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("shunt")
    }

    static func launch(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        let binary = shuntBinary
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "\(binary.path) is missing: build with `swift build --build-tests`")
        let process = Process()
        let output = Pipe()
        let errors = Pipe()
        process.executableURL = binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        return (process, output, errors)
    }

    static func text(_ pipe: Pipe) -> String {
        String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    static func exitStatus(_ process: Process) async -> Int32 {
        await process.exited()
    }

    @Test func aChildCommandGetsTheEnvironmentAndItsExitStatusPassesThrough() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let envFile = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-env-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: envFile) }

        let (process, output, errors) = try Self.launch([
            "intercept", "orders", "--agent", "127.0.0.1:\(agent.port)", "--certs", agent.certificates.folder.url.path,
            "--port", "9999:8080", "--env-file", envFile, "--", "sh", "-c", #"test "$GREETING" = "hello world" && exit 7"#,
        ])
        let status = await Self.exitStatus(process)
        #expect(status == 7, "\(process.terminationReason == .uncaughtSignal ? "signal " : "")\(status): \(Self.text(errors))")

        var registrations = agent.registrations.makeAsyncIterator()
        let request = try #require(await registrations.next())
        #expect(request.name == "orders-alice")
        #expect(request.port == 8080)
        let header = try #require(request.rule.generatedHeader)
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(printed.contains("curl -H 'x-shunt-intercept: \(header.value)'"))
        #expect(printed.contains(header.browserExtensionForm))
        #expect(agent.removals.withLockedValue { $0 } == ["orders-alice"])
        #expect(try String(contentsOfFile: envFile, encoding: .utf8) == "DATABASE_URL=postgres://db/orders\nGREETING=\"hello world\"\n")
        let permissions = try FileManager.default.attributesOfItem(atPath: envFile)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
        await agent.stop()
        try await group.shutdownGracefully()
    }

    /// The command is found in this machine's PATH even when the application's environment sets
    /// its own (here one where nothing is): the child still gets the application's value. A command
    /// that is nowhere exits 127 with the shell's words, before any intercept is registered.
    @Test func theCommandIsFoundInThisMachinesPathNotTheApplications() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        agent.appEnvironment.withLockedValue { $0["PATH"] = "/nonexistent/app/bin" }
        let common = ["intercept", "orders", "--agent", "127.0.0.1:\(agent.port)", "--certs", agent.certificates.folder.url.path, "--port", "9999:8080"]

        let (found, _, foundErrors) = try Self.launch(common + ["--", "sh", "-c", #"test "$PATH" = /nonexistent/app/bin && exit 7"#])
        #expect(await Self.exitStatus(found) == 7, "\(Self.text(foundErrors))")

        let (missing, _, missingErrors) = try Self.launch(common + ["--name", "orders-missing", "--", "no-such-command-for-shunt", "--flag"])
        #expect(await Self.exitStatus(missing) == 127)
        #expect(Self.text(missingErrors).contains("shunt intercept: no-such-command-for-shunt: command not found in this machine's PATH"))
        let (path, _, pathErrors) = try Self.launch(common + ["--name", "orders-path", "--", "/nonexistent/run-orders.sh"])
        #expect(await Self.exitStatus(path) == 127)
        #expect(Self.text(pathErrors).contains("shunt intercept: /nonexistent/run-orders.sh: no such executable file"))
        #expect(agent.removals.withLockedValue { $0 } == ["orders-alice"], "only the intercept of the command that ran")
        var registrations = agent.registrations.makeAsyncIterator()
        #expect(await registrations.next()?.name == "orders-alice")
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func sigintRemovesTheInterceptAndExitsZero() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let local = try ReservedPort()
        defer { withExtendedLifetime(local) {} }
        let (process, _, errors) = try Self.launch([
            "intercept", "orders", "--agent", "127.0.0.1:\(agent.port)", "--certs", agent.certificates.folder.url.path,
            "--http-header=all", "--name", "orders-everything", "--output", "json", "--port", "\(local.port)",
        ])
        var registrations = agent.registrations.makeAsyncIterator()
        let request = try #require(await registrations.next())
        #expect(request.rule == RuleSpec.global)

        kill(process.processIdentifier, SIGINT)
        #expect(await Self.exitStatus(process) == 0, "\(Self.text(errors))")
        #expect(agent.removals.withLockedValue { $0 } == ["orders-everything"])
        await agent.stop()
        try await group.shutdownGracefully()
    }
}

extension InterceptCommandTests {
    @Test func listShowsATableAndLeavePrintsTheAgentsRefusal() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let rule = try RuleFlags(httpHeader: ["x-user=bob"], pathPrefix: ["/api"]).spec()
        agent.listed.withLockedValue {
            $0 = [InterceptCalls.Intercept(name: "orders-bob", owner: "bob", port: 8080, rule: rule, since: "2025-01-01T00:00:00Z", requests: 3)]
        }
        let common = ["--agent", "127.0.0.1:\(agent.port)", "--certs", agent.certificates.folder.url.path]

        let (list, listOutput, _) = try Self.launch(["list"] + common)
        #expect(await Self.exitStatus(list) == 0)
        #expect(Self.text(listOutput) == """
            NAME        OWNER  PORT  RULE                                              SINCE                 REQUESTS
            orders-bob  bob    8080  --http-header=x-user=bob --http-path-prefix=/api  2025-01-01T00:00:00Z  3

            """)

        let message = "intercept orders-bob belongs to bob; only bob can remove it"
        agent.removeFailure.withLockedValue { $0 = InterceptCalls.Failure(.notOwner, message) }
        let (leave, _, leaveErrors) = try Self.launch(["leave", "orders-bob"] + common)
        #expect(await Self.exitStatus(leave) == 1)
        #expect(Self.text(leaveErrors) == "shunt leave: \(message)\n")
        await agent.stop()
        try await group.shutdownGracefully()
    }

    @Test func withoutAnAgentAddressItExitsTwoAndSaysWhy() async throws {
        let (process, _, errors) = try Self.launch(["intercept", "orders", "--certs", "/nonexistent"], environment: ["PATH": "/nonexistent"])
        #expect(await Self.exitStatus(process) == 2)
        #expect(Self.text(errors).contains("--agent HOST:PORT"))
    }

    /// `shunt status` lists what this machine's `shunt intercept` processes hold, and forgets one
    /// when its process ends.
    @Test func statusListsTheRunningInterceptAndForgetsItWhenItEnds() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-status-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: config) }
        let environment = ["SHUNT_CONFIG_DIR": config.path]
        let local = try ReservedPort()
        defer { withExtendedLifetime(local) {} }
        let (process, _, errors) = try Self.launch([
            "intercept", "orders", "--agent", "127.0.0.1:\(agent.port)", "--certs", agent.certificates.folder.url.path,
            "--http-header=x-dev=alice", "--port", "\(local.port)", "--output", "json",
        ], environment: environment)
        var registrations = agent.registrations.makeAsyncIterator()
        _ = try #require(await registrations.next())

        var report: [String: Any] = [:]
        var intercepts: [[String: Any]] = []
        for _ in 0..<100 {
            let (status, output, _) = try Self.launch(["status", "--output", "json", "--certs", agent.certificates.folder.url.path], environment: environment)
            #expect(await Self.exitStatus(status) == 0)
            report = try #require(try JSONSerialization.jsonObject(with: Data(Self.text(output).utf8)) as? [String: Any])
            intercepts = report["intercepts"] as? [[String: Any]] ?? []
            if !intercepts.isEmpty { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let entry = try #require(intercepts.first)
        #expect(entry["pid"] as? Int == Int(process.processIdentifier))
        #expect(entry["service"] as? String == "orders")
        #expect(entry["agent"] as? String == "127.0.0.1:\(agent.port)")
        #expect(entry["local"] as? String == "127.0.0.1:\(local.port)")
        #expect(entry["state"] as? String == "connected")
        #expect((report["identity"] as? [String: Any])?["name"] as? String != nil)
        // Without --certs, status looks in the default folder (here empty): it says whose the intercept is.
        let (plain, plainOutput, _) = try Self.launch(["status"], environment: environment)
        #expect(await Self.exitStatus(plain) == 0)
        let plainText = Self.text(plainOutput)
        #expect(plainText.hasPrefix("No client certificate in \(config.path)/certs; the intercepts below run as alice.\n"))
        let table = plainText.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(table.first?.prefix(3) == ["NAME", "OWNER", "SERVICE"])
        #expect(table.dropFirst().first?.prefix(3) == ["orders-alice", "alice", "orders"], "\(plainText)")

        kill(process.processIdentifier, SIGINT)
        #expect(await Self.exitStatus(process) == 0, "\(Self.text(errors))")
        let (after, afterOutput, _) = try Self.launch(["status", "--certs", agent.certificates.folder.url.path], environment: environment)
        #expect(await Self.exitStatus(after) == 0)
        #expect(Self.text(afterOutput).contains("No intercepts run on this machine."))
        await agent.stop()
        try await group.shutdownGracefully()
    }
}
