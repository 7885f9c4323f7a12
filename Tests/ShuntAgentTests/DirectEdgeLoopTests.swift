#if canImport(Glibc)
import Glibc
import Dispatch
import Logging
import NIOConcurrencyHelpers
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

    /// Out of file descriptors, the listeners rest `acceptPause` (100 ms) between tries instead of
    /// waking the loop again at once for the connection that waits (level-triggered epoll would spin
    /// a core): over 600 ms of EMFILE, about 7 tries, where without the pause there were 602,902.
    /// The waiting connection is taken once a descriptor is free again, and the pauses are counted.
    @Test(.timeLimit(.minutes(1))) func outOfDescriptorsTheListenersRestBetweenTries() async throws {
        let app = try SocketAddress(ipAddress: "127.0.0.1", port: 9)  // never used: no request is sent
        let metrics = AgentMetrics()
        let lines = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "test") { _ in AgentLogHandler(format: .text) { line in lines.withLockedValue { $0.append(line) } } }
        let loop = try DirectEdgeLoop(ports: [.init(host: "127.0.0.1", port: 0, app: app)], configuration: EdgeConfiguration(),
                                      metrics: metrics, logger: logger)
        let accepts = FailingAccept(loop.acceptCall)
        loop.acceptCall = { accepts.call($0, $1, $2) }
        loop.start(registry: InterceptRegistry(ports: loop.boundPorts)) { handOver in
            Issue.record("nothing should be handed over")
            Glibc.close(handOver.descriptor)
        }
        let since = ContinuousClock.now
        let client = try BlockingClient(port: loop.boundPorts[0])  // completed by the kernel; waits in the queue
        try await Task.sleep(for: .milliseconds(600))  // the window measured (as long as it really lasts), not a wait for an event
        let tries = accepts.stopFailing()
        let window = ContinuousClock.now - since
        // One try at once, then one after each pause of at least `acceptPause`.
        let bound = 2 + Int(window / .nanoseconds(DirectEdgeLoop.acceptPause.nanoseconds))
        #expect(tries >= 1 && tries <= bound, "\(tries) accept tries in \(window) out of descriptors (at most \(bound))")
        for _ in 0..<200 where loop.openConnections == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(loop.openConnections == 1, "the waiting connection is taken once a descriptor is free")
        let counted = metrics.registry.emitToString().split(separator: "\n")
            .first { $0.hasPrefix("shunt_agent_edge_accept_pauses_total ") }.map { $0.split(separator: " ")[1] }
        #expect(counted == "\(tries)", "one pause counted per failed try")
        let logged = lines.withLockedValue { $0 }
        #expect(logged.filter { $0.contains("out of file descriptors") && $0.contains("Too many open files") }.count == 1,
                "said once for the episode, with the error: \(logged)")
        #expect(logged.filter { $0.contains("accepts connections again") }.count == 1, "and once when it is over: \(logged)")
        client.close()
        loop.stop()
    }

    /// A connection whose first octets came with it is read as it is accepted: one that leaves for
    /// SwiftNIO (here, at the HTTP/2 preface) never joins the loop's epoll set. One that has sent
    /// nothing yet joins it, and is handed over from there when its preface comes.
    @Test(.timeLimit(.minutes(1))) func aConnectionWhoseFirstOctetsCameWithItIsReadAsItIsAccepted() async throws {
        let app = try SocketAddress(ipAddress: "127.0.0.1", port: 9)  // never used: no HTTP/1.1 request is sent
        let loop = try DirectEdgeLoop(ports: [.init(host: "127.0.0.1", port: 0, app: app)], configuration: EdgeConfiguration(),
                                      metrics: AgentMetrics())
        let gate = GatedAccept(loop.acceptCall)
        loop.acceptCall = { gate.call($0, $1, $2) }
        let preludes = NIOLockedValueBox<[Int]>([])
        loop.start(registry: InterceptRegistry(ports: loop.boundPorts)) { handOver in
            if case .received(let bytes) = handOver.prelude {
                preludes.withLockedValue { $0.append(bytes.readableBytes) }
            } else {
                Issue.record("a preface is handed over with the octets read")
            }
            Glibc.close(handOver.descriptor)
        }
        let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        let early = try BlockingClient(port: loop.boundPorts[0])
        try early.send(preface)  // in the accepted socket's queue before the loop accepts it
        gate.open()
        for _ in 0..<500 where preludes.withLockedValue({ $0.count }) < 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(preludes.withLockedValue { $0 } == [preface.utf8.count])
        #expect(loop.clientsRegistered.withLockedValue { $0 } == 0, "handed over without joining the epoll set")

        let late = try BlockingClient(port: loop.boundPorts[0])
        for _ in 0..<500 where loop.openConnections < 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(loop.clientsRegistered.withLockedValue { $0 } == 1, "nothing to read yet: it waits in the epoll set")
        try late.send(preface)
        for _ in 0..<500 where preludes.withLockedValue({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(preludes.withLockedValue { $0 } == [preface.utf8.count, preface.utf8.count])
        #expect(loop.openConnections == 0)
        early.close()
        late.close()
        loop.stop()
    }
}

/// `accept4` that waits, on its first call, until the test opens the gate (at most 10 s).
private final class GatedAccept: @unchecked Sendable {
    private let gate = DispatchSemaphore(value: 0)
    private let first = NIOLockedValueBox(true)
    private let real: DirectEdgeLoop.AcceptCall

    init(_ real: @escaping DirectEdgeLoop.AcceptCall) {
        self.real = real
    }

    func open() { gate.signal() }

    func call(_ listener: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
        let isFirst = first.withLockedValue { first in
            defer { first = false }
            return first
        }
        if isFirst { _ = gate.wait(timeout: DispatchTime.now() + .seconds(10)) }
        return real(listener, address, length)
    }
}

/// `accept4` that fails with EMFILE, counting its calls, until told to stop failing.
private final class FailingAccept: @unchecked Sendable {
    private let state = NIOLockedValueBox((failing: true, calls: 0))
    private let real: DirectEdgeLoop.AcceptCall

    init(_ real: @escaping DirectEdgeLoop.AcceptCall) {
        self.real = real
    }

    func call(_ listener: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
        let failing = state.withLockedValue { state in
            if state.failing { state.calls += 1 }
            return state.failing
        }
        guard failing else { return real(listener, address, length) }
        errno = EMFILE
        return -1
    }

    /// Returns the failed calls so far.
    func stopFailing() -> Int {
        state.withLockedValue { state in
            state.failing = false
            return state.calls
        }
    }
}
#endif
