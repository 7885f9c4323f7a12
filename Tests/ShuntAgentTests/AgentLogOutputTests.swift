import Foundation
import Logging
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntOutput
import ShuntTestSupport
import Testing

/// The agent's log never stops the agent: its lines leave through an `OutputWriter`, so a standard
/// error that nobody reads (a log collector that fell behind) costs dropped lines, said later, not
/// a blocked event loop.
@Suite struct AgentLogOutputTests {
    /// 20,000 lines against a pipe that holds 64 KiB and is not read: logging returns every time,
    /// the lines past the writer's bound are dropped, and once the pipe is read the log says how
    /// many, in its own format; none is lost without being counted.
    @Test(.timeLimit(.minutes(1))) func aLogThatNobodyReadsDropsLinesAndSaysSo() throws {
        let pipe = Pipe()
        let output = OutputWriter(maxPendingBytes: 16 << 10, standardError: pipe.fileHandleForWriting.fileDescriptor,
                                  notice: AgentLogHandler.droppedNotice(format: .text, clock: { Date(timeIntervalSince1970: 0) }))
        let logger = AgentLogHandler.standardError(format: .text, output: output)
        let total = 20_000
        for index in 0..<total {
            logger.warning("refused a tunnel connection", metadata: ["reason": "not_tls", "index": "\(index)"])
        }
        #expect(output.dropped > 0, "a bound of 16 KiB over a full pipe drops lines")
        let drain = PipeReader(pipe.fileHandleForReading)
        #expect(output.flush(timeout: .seconds(30)))
        output.close()
        try pipe.fileHandleForWriting.close()
        let lines = String(decoding: drain.wait(), as: UTF8.self).split(separator: "\n")
        let written = lines.filter { $0.contains("refused a tunnel connection") }.count
        let notices = lines.filter { $0.hasPrefix("1970-01-01T00:00:00.000Z warning log lines dropped: standard error did not keep up count=") }
        #expect(!notices.isEmpty)
        let said = notices.compactMap { Int($0.split(separator: "=").last!) }.reduce(0, +)
        #expect(said == output.dropped)
        #expect(written + said == total)
    }

    /// The agent itself, its standard error a pipe that nobody reads after the first lines: thousands
    /// of refused tunnel connections (a warning each) fill the pipe many times over, and the edge
    /// still answers at once.
    @Test(.timeLimit(.minutes(1))) func anUnreadStandardErrorDoesNotStopTheEdge() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("shunt-agent")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "\(binary.path) is missing: build with `swift build --build-tests`")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = try await NamedHTTPServer(name: "app", group: group)
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let errors = Pipe()
        let agent = Process()
        agent.executableURL = binary
        agent.arguments = ["--listen", "127.0.0.1:0", "--app", "127.0.0.1:\(app.port)", "--tunnel-listen", "127.0.0.1:0",
                           "--admin-listen", "127.0.0.1:0", "--certs", certificates.root.path, "--service", "orders", "--log-format", "json"]
        agent.standardError = errors
        agent.standardOutput = FileHandle.nullDevice
        try agent.run()
        defer { if agent.isRunning { kill(agent.processIdentifier, SIGKILL) } }

        // The first lines are read, up to the one that gives the ports; then nobody reads.
        var text = ""
        var ports: (edge: Int, tunnel: Int)?
        while ports == nil {
            let chunk = errors.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "the agent ended: \(text)")
            text += String(decoding: chunk, as: UTF8.self)
            for line in text.split(separator: "\n") where line.contains("\"listening\"") {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
                let edge = try #require(object["edge"]?.split(separator: "→").first?.split(separator: ":").last.flatMap { Int($0) })
                let tunnel = try #require(object["tunnel"]?.split(separator: ":").last.flatMap { Int($0) })
                ports = (edge, tunnel)
            }
        }
        let (edgePort, tunnelPort) = try #require(ports)

        // Each of these is refused (it does not speak TLS) and logged: some 300 octets a line.
        let bootstrap = ClientBootstrap(group: group).connectTimeout(.seconds(2))
        var refused = 0
        for _ in 0..<3_000 {
            guard let channel = try? await bootstrap.connect(host: "127.0.0.1", port: tunnelPort).get() else { break }
            try? await channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: not-tls\r\n\r\n"))
            try? await channel.close()
            refused += 1
        }
        #expect(refused == 3_000, "the tunnel port stopped accepting after \(refused) connections")

        // At most 10 s for the answer, on a clock of the test's own loop: a stuck agent fails the
        // test there, and the agent is still killed on the way out.
        struct NoAnswer: Error {}
        let client = try await KeepAliveClient(port: edgePort, group: group)
        let answer = group.next().makePromise(of: KeepAliveClient.Response.self)
        try await client.start("GET /still-here HTTP/1.1\r\nHost: orders\r\n\r\n").cascade(to: answer)
        let deadline = group.next().scheduleTask(in: .seconds(10)) { answer.fail(NoAnswer()) }
        let answered = try? await answer.futureResult.get().body
        deadline.cancel()
        await client.close()
        #expect(answered == "app GET /still-here 0", "the edge did not answer within 10 s")

        kill(agent.processIdentifier, SIGKILL)
        agent.waitUntilExit()
        await app.stop()
        try await group.shutdownGracefully()
    }
}
