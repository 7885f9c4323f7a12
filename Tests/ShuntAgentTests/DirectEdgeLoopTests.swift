#if canImport(Glibc)
import Glibc
import NIOCore
@testable import ShuntAgent
import Testing

/// The edge's own loop, driven directly.
@Suite struct DirectEdgeLoopTests {
    /// Connections that time out one by one do not each make the loop read every clock: 300 idle
    /// connections opened a millisecond apart, whose idle clocks run out over 300 ms, are all
    /// closed, with the clocks read about once per `clockGranularity` (one read per expiry would
    /// be about 300).
    @Test(.timeLimit(.minutes(1))) func clocksThatRunOutOneByOneAreReadOncePerGranularity() async throws {
        var configuration = EdgeConfiguration()
        configuration.idleTimeout = .milliseconds(400)
        let app = try SocketAddress(ipAddress: "127.0.0.1", port: 9)  // never used: no request is sent
        let loop = try DirectEdgeLoop(ports: [.init(host: "127.0.0.1", port: 0, app: app)], configuration: configuration,
                                      metrics: AgentMetrics())
        loop.start(registry: InterceptRegistry(ports: loop.boundPorts)) { handOver in
            Issue.record("nothing should be handed over")
            Glibc.close(handOver.descriptor)
        }
        let count = 300
        var clients: [BlockingClient] = []
        let since = ContinuousClock.now
        for _ in 0..<count {
            clients.append(try BlockingClient(port: loop.boundPorts[0]))
            try await Task.sleep(for: .milliseconds(1))
        }
        for client in clients {
            #expect(try client.readToEnd().isEmpty, "an idle connection is closed without a word")
            client.close()
        }
        let elapsed = ContinuousClock.now - since
        let reads = loop.clockReads.withLockedValue { $0 }
        let bound = Int(elapsed / .milliseconds(25)) + 10
        #expect(reads <= bound, "\(reads) clock reads in \(elapsed) for \(count) connections")
        #expect(loop.openConnections == 0)
        loop.stop()
    }
}
#endif
