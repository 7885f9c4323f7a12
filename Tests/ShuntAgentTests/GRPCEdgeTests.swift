import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntEndpoint
import ShuntMatch
import ShuntTLS
import ShuntTestSupport
import Testing

/// A real gRPC client and servers (Python's grpcio, `tools/grpc/peer.py`) through the agent's edge:
/// the app and alice's laptop each run a server; the caller speaks h2c to the edge port, where each
/// call is routed by alice's header. `.ci/run` installs grpcio and sets SHUNT_REQUIRE_GRPC=1, so
/// there these tests run or fail; elsewhere they are skipped when grpcio is missing.
@Suite(.serialized, .enabled(if: GRPCPeer.usable, "python3 with grpcio is needed: pip install grpcio"))
struct GRPCEdgeTests {
    /// The app's server, alice's laptop's server, an agent in front of the app and alice's laptop
    /// connected to it with a personal intercept on `x-dev: alice`.
    struct World {
        let group: MultiThreadedEventLoopGroup
        let certs: TestCertificates
        let app: GRPCPeer
        let local: GRPCPeer
        let localPort: Int
        let agent: AgentServer
        let laptop: TestLaptop

        static func start() async throws -> World {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let certs = try TestCertificates()
            let app = try GRPCPeer(["server", "app"])
            let local = try GRPCPeer(["server", "laptop"])
            let appPort = try #require(Int(try await app.line(0)))
            let localPort = try #require(Int(try await local.line(0)))
            let configuration = AgentServer.Configuration.loopback(app: try SocketAddress(ipAddress: "127.0.0.1", port: appPort))
            let agent = try await AgentServer.start(configuration, certificates: certs.agent, log: { _ in })
            let laptop = try await TestLaptop.connect(agentPort: agent.tunnelPort, endpoint: try certs.developer("alice"),
                                                      localPort: localPort, group: group)
            _ = try await laptop.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
            return World(group: group, certs: certs, app: app, local: local, localPort: localPort, agent: agent, laptop: laptop)
        }

        /// Runs the client's `scenario` against the edge, alice's header given.
        func client(_ scenario: String) throws -> GRPCPeer {
            try GRPCPeer(["client", "127.0.0.1:\(agent.edgePorts[0])", "--header", "x-dev=alice", scenario])
        }

        func stop() async throws {
            await laptop.close()
            try await agent.stop()
            app.stop()
            local.stop()
            certs.remove()
            try await group.shutdownGracefully()
        }
    }

    @Test(.timeLimit(.minutes(2))) func allFourCallKindsAndTheirStatusGoWhereTheHeaderSays() async throws {
        let world = try await World.start()
        let client = try world.client("kinds")
        let records = try await client.records(10)
        for withHeader in [true, false] {
            let expected = withHeader ? "laptop" : "app"
            let mine = records.filter { $0["header"] as? Bool == withHeader }
            let byCall = Dictionary(uniqueKeysWithValues: mine.map { ($0["call"] as! String, $0) })
            #expect(byCall["unary"]?["by"] as? String == expected)
            #expect(byCall["unary"]?["answer"] as? String == "\(expected):hello")
            #expect(byCall["unary"]?["trailer"] as? String == expected, "trailing metadata arrives")
            #expect(byCall["server-streaming"]?["by"] as? [String] == [expected])
            #expect(byCall["server-streaming"]?["count"] as? Int == 5)
            #expect(byCall["client-streaming"]?["answer"] as? String == "\(expected):7:70")
            #expect(byCall["bidi"]?["answers"] as? [String] == ["x", "y", "z"].map { "\(expected):\($0)" })
            #expect(byCall["status"]?["code"] as? String == "FAILED_PRECONDITION", "grpc-status arrives in the trailers")
            #expect(byCall["status"]?["details"] as? String == "\(expected) refuses", "grpc-message arrives in the trailers")
        }
        #expect(await client.exitStatus() == 0)
        client.stop()
        try await world.stop()
    }

    /// The laptop as `shunt intercept` runs it (`LocalForwarder`): each intercepted call is one line
    /// of its request log, with the method, the path, the status and the trailers' grpc-status.
    @Test(.timeLimit(.minutes(2))) func theLaptopLogsEachInterceptedCall() async throws {
        let world = try await World.start()
        let lines = NIOLockedValueBox<[RequestLogLine]>([])
        let forwarder = LocalForwarder(port: world.localPort, developer: "bob", events: { event in
            if case .request(let line) = event { lines.withLockedValue { $0.append(line) } }
        })
        let bob = try await InterceptClient.connect(host: "127.0.0.1", port: world.agent.tunnelPort, endpoint: try world.certs.developer("bob"),
                                                    group: world.group, streams: forwarder.streamInitializer)
        _ = try await bob.register(InterceptCalls.RegisterRequest(name: "orders-bob", rule: try RuleFlags(httpHeader: ["x-dev=bob"]).spec()))
        let client = try GRPCPeer(["client", "127.0.0.1:\(world.agent.edgePorts[0])", "--header", "x-dev=bob", "kinds"])
        _ = try await client.records(10)
        #expect(await client.exitStatus() == 0)
        client.stop()
        // Five calls had bob's header; the HTTP2 stream stays open with the caller's connection,
        // and each call is logged when it ends.
        let deadline = ContinuousClock.now + .seconds(10)
        while lines.withLockedValue({ $0.count }) < 5 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let logged = lines.withLockedValue { $0 }
        #expect(logged.map(\.path) == ["Unary", "ServerStream", "ClientStream", "Bidi", "Fail"].map { "/shunt.test.Echo/\($0)" })
        #expect(logged.allSatisfy { $0.method == "POST" && $0.status == 200 && $0.intercept == "orders-bob" })
        #expect(logged.map(\.grpcStatus) == [0, 0, 0, 0, 9], "FAILED_PRECONDITION is 9")
        #expect(logged[0].bytesIn > 0 && logged[0].bytesOut > 0)
        await bob.close()
        try await world.stop()
    }

    /// Nothing listens on the laptop's local port: the caller gets UNAVAILABLE with the laptop's
    /// reason, as an HTTP/1.1 caller gets 502 with it.
    @Test(.timeLimit(.minutes(2))) func aLaptopWhoseServiceIsDownGivesUnavailableWithTheReason() async throws {
        let world = try await World.start()
        let closed = try await ServerBootstrap(group: world.group).bind(host: "127.0.0.1", port: 0).get()
        let deadPort = closed.localAddress!.port!
        try await closed.close()
        let forwarder = LocalForwarder(port: deadPort, developer: "bob", events: { _ in })
        let bob = try await InterceptClient.connect(host: "127.0.0.1", port: world.agent.tunnelPort, endpoint: try world.certs.developer("bob"),
                                                    group: world.group, streams: forwarder.streamInitializer)
        _ = try await bob.register(InterceptCalls.RegisterRequest(name: "orders-bob", rule: try RuleFlags(httpHeader: ["x-dev=bob"]).spec()))
        let client = try GRPCPeer(["client", "127.0.0.1:\(world.agent.edgePorts[0])", "--header", "x-dev=bob", "once"])
        let record = try #require(try await client.records(1).first)
        #expect(record["code"] as? String == "UNAVAILABLE")
        #expect((record["details"] as? String)?.contains("nothing listens on 127.0.0.1:\(deadPort) on bob's laptop") == true, "\(record)")
        #expect(await client.exitStatus() == 0)
        client.stop()
        await bob.close()
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(2))) func twoHundredConcurrentCallsOnOneConnectionAreSplitByTheHeader() async throws {
        let world = try await World.start()
        let client = try world.client("concurrent")
        let record = try #require(try await client.records(1).first)
        #expect(record["count"] as? Int == 200)
        #expect(record["header_by"] as? [String] == ["laptop"])
        #expect(record["plain_by"] as? [String] == ["app"])
        #expect(await client.exitStatus() == 0)
        client.stop()
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(2))) func eightMebibytesEachWayThroughTheLaptopArriveIntact() async throws {
        let world = try await World.start()
        let client = try world.client("big")
        let record = try #require(try await client.records(1).first)
        #expect(record["size"] as? Int == 8 << 20)
        #expect(record["intact"] as? Bool == true)
        #expect(await client.exitStatus() == 0)
        client.stop()
        try await world.stop()
    }

    /// A deadline and a cancelled call end the call on the laptop's server too, and a call the
    /// laptop's server cancels ends for the caller (RST_STREAM passed on both ways).
    @Test(.timeLimit(.minutes(2))) func deadlinesAndCancellationReachTheLaptop() async throws {
        let world = try await World.start()
        let client = try world.client("cancel")
        let records = try await client.records(4)
        #expect(records[0]["first"] as? String == "laptop:started")
        #expect(records[0]["code"] as? String == "DEADLINE_EXCEEDED")
        #expect(records[1]["code"] as? String == "CANCELLED")
        #expect(records[2]["by"] as? String == "laptop")
        #expect(records[2]["cancelled"] as? Int == 2, "the laptop's server saw both calls end")
        #expect(records[3]["code"] as? String == "CANCELLED", "the laptop's server cancelling reaches the caller")
        #expect(await client.exitStatus() == 0)
        client.stop()
        try await world.stop()
    }

    /// The laptop goes away in the middle of a call: the caller gets UNAVAILABLE at once (not a
    /// hang), and the same connection goes on reaching the app.
    @Test(.timeLimit(.minutes(2))) func aLaptopThatDiesMidCallGivesUnavailableAndTheAppStillServes() async throws {
        let world = try await World.start()
        let client = try world.client("hang")
        let started = try #require(try await client.records(1).first)
        #expect(started["first"] as? String == "laptop:started")
        await world.laptop.close()
        let records = try await client.records(3)
        #expect(records[1]["code"] as? String == "UNAVAILABLE", "\(records[1])")
        #expect((records[1]["details"] as? String)?.contains("laptop went away") == true, "\(records[1])")
        #expect((records[1]["seconds"] as? Double ?? 99) < 5)
        #expect(records[2]["by"] as? String == "app")
        #expect(await client.exitStatus() == 0)
        client.stop()
        try await world.stop()
    }
}

/// One run of `tools/grpc/peer.py`: its standard output is read as lines; closing its standard
/// input stops a server.
final class GRPCPeer: @unchecked Sendable {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/grpc/peer.py")

    /// Whether `python3` can import grpc (or SHUNT_REQUIRE_GRPC=1 says it must).
    static let usable: Bool = {
        if ProcessInfo.processInfo.environment["SHUNT_REQUIRE_GRPC"] == "1" { return true }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import grpc"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()

    let process = Process()
    let input = Pipe()
    let output: URL
    let errors: URL

    init(_ arguments: [String]) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-grpc-\(UUID().uuidString)")
        output = base.appendingPathExtension("out")
        errors = base.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script.path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        process.environment = environment
        process.standardInput = input
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
    }

    private var completeLines: [String] {
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // what follows the last newline is not a whole line yet
        return lines
    }

    /// Line `index` of the output, waited for (up to 30 s, or until the process ends).
    func line(_ index: Int) async throws -> String {
        try await lines(index + 1)[index]
    }

    func lines(_ count: Int) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let lines = completeLines
            if lines.count >= count { return lines }
            if !process.isRunning {
                let last = completeLines
                if last.count >= count { return last }
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        Issue.record("peer.py printed \(completeLines.count) of \(count) lines: \(completeLines)\n\(stderr)")
        throw CancellationError()
    }

    /// The first `count` lines, each a JSON object.
    func records(_ count: Int) async throws -> [[String: Any]] {
        try await lines(count).prefix(count).map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
    }

    func exitStatus() async -> Int32 {
        await process.exited()
    }

    /// Closes its input (a server stops) and kills it by PID if it is still running, then forgets
    /// its output.
    func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning {
            let deadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < deadline { usleep(10_000) }
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: output)
        try? FileManager.default.removeItem(at: errors)
    }
}
