import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntMatch
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The edge's own epoll loop (`EdgeConfiguration.io = .direct`, the default; docs/EDGE-IO.md),
/// where the rest of the suites do not reach it: bodies larger than its queues, a client that
/// stops reading, a connection handed over to SwiftNIO while an answer is still unread, and the
/// SwiftNIO edge still chosen by `.nio`.
@Suite(.serialized) struct DirectEdgeTests {
    /// An agent whose app is a `ChecksumServer` (its own event loop group, stopped with it).
    struct World {
        let appGroup: MultiThreadedEventLoopGroup
        let app: ChecksumServer
        let world: AgentLoopbackTests.World

        static func start(io: EdgeConfiguration.EdgeIO = .direct) async throws -> World {
            let appGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let app = try await ChecksumServer(group: appGroup)
            var edge = EdgeConfiguration()
            edge.io = io
            let world = try await AgentLoopbackTests.World.start(edge: edge) { configuration in
                configuration.appAddresses = [try! SocketAddress(ipAddress: "127.0.0.1", port: app.port)]
            }
            return World(appGroup: appGroup, app: app, world: world)
        }

        func stop() async throws {
            try await world.stop()
            await app.stop()
            try await appGroup.shutdownGracefully()
        }
    }

    /// 64 MiB up and 64 MiB down between a caller and the app, through the direct edge's queues,
    /// partial writes and growing reads, arrive intact (SHA-256 both ways).
    @Test(.timeLimit(.minutes(2))) func bigBodiesPassThroughIntact() async throws {
        let world = try await World.start()
        let size = 64 << 20
        let client = try await RawClient(port: world.world.agent.edgePorts[0], group: world.world.group)
        try await ChecksumServer.upAndDown(size, through: client)
        await client.close()
        try await world.stop()
    }

    /// A caller that stops reading a 256 MiB download holds the app back: the app gets to send
    /// only what the sockets and the edge's queue hold, not the whole body into the agent's
    /// memory; once the caller reads again, the rest arrives intact. The sockets on the way may
    /// hold up to twice the kernel's largest TCP receive buffer and twice its largest send buffer
    /// (here 32 and 4 MiB, so 72 MiB); without the edge's backpressure the app sends it all.
    @Test(.timeLimit(.minutes(2))) func aCallerThatStopsReadingHoldsTheAppBack() async throws {
        let world = try await World.start()
        let size = 256 << 20
        let client = try BlockingClient(port: world.world.agent.edgePorts[0])
        try client.send("GET /download/\(size) HTTP/1.1\r\nHost: orders\r\n\r\n")
        let head = try client.read(until: "\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200"))
        // The caller reads nothing more. The app sends until everything between it and the
        // caller is full, then waits: its count stops growing (checked over 300 ms, up to 20 s).
        var last = -1
        var still = 0
        let since = ContinuousClock.now
        while still < 3 && ContinuousClock.now - since < .seconds(20) {
            try await Task.sleep(for: .milliseconds(100))
            let now = world.app.sent.withLockedValue { $0 }
            still = now == last ? still + 1 : 0
            last = now
        }
        #expect(still >= 3, "the app never stopped sending")
        #expect(last < size / 2, "the app sent \(last) octets to a caller that reads nothing")
        // Reading again, the caller gets all of it, in order.
        var generator = PatternGenerator(seed: 7)
        var expected = SHA256()
        for _ in 0..<(size >> 20) { expected.update(data: generator.next(1 << 20)) }
        var hasher = SHA256()
        var received = client.leftover.count
        hasher.update(data: client.leftover)
        while received < size {
            let bytes = try client.readSome()
            hasher.update(data: bytes)
            received += bytes.count
        }
        #expect(received == size)
        #expect(hasher.finalize() == expected.finalize())
        client.close()
        try await world.stop()
    }

    /// A request routed to a laptop moves its connection to SwiftNIO while the app's answer to the
    /// request before it is still unread by the caller: the caller gets the whole first answer,
    /// then the laptop's, in order, on the one connection.
    @Test(.timeLimit(.minutes(1))) func aConnectionHandedOverWithAnUnreadAnswerKeepsItsOrder() async throws {
        let world = try await World.start()
        let local = try await NamedHTTPServer(name: "laptop", group: world.world.group)
        let alice = try await world.world.laptop("alice", serving: local)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let size = 1 << 20
        let client = try BlockingClient(port: world.world.agent.edgePorts[0])
        try client.send("GET /download/\(size) HTTP/1.1\r\nHost: orders\r\n\r\nGET /mine HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\n\r\n")
        // The app has sent the whole first answer before the caller reads any of it.
        let since = ContinuousClock.now
        while world.app.sent.withLockedValue({ $0 }) < size && ContinuousClock.now - since < .seconds(10) {
            try await Task.sleep(for: .milliseconds(10))
        }
        let head = try client.read(until: "\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200"))
        var body = client.leftover
        while body.count < size { body += try client.readSome() }
        var generator = PatternGenerator(seed: 7)
        #expect(Array(body[0..<size]) == generator.next(size))
        client.leftover = Array(body[size...])
        let second = try client.read(until: "\r\n\r\n")
        #expect(second.hasPrefix("HTTP/1.1 200"), "\(second)")
        var text = client.leftover
        while text.count < "laptop GET /mine 0".utf8.count { text += try client.readSome() }
        #expect(String(decoding: text, as: UTF8.self) == "laptop GET /mine 0")
        client.close()
        await alice.close()
        await local.stop()
        try await world.stop()
    }

    /// An upgrade the app accepts turns the connection into a raw pipe on the edge's loop: bytes
    /// go both ways, and the caller's FIN reaches the app, whose close reaches the caller.
    @Test(.timeLimit(.minutes(1))) func anUpgradeToTheAppBecomesAPipeThatEndsBothWays() async throws {
        let appGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upgrader = try await UpgradeEchoServer(group: appGroup)
        let world = try await AgentLoopbackTests.World.start { configuration in
            configuration.appAddresses = [try! SocketAddress(ipAddress: "127.0.0.1", port: upgrader.port)]
        }
        let client = try BlockingClient(port: world.agent.edgePorts[0])
        try client.send("GET /chat HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        #expect(try client.read(until: "\r\n\r\n").hasPrefix("HTTP/1.1 101 Switching Protocols"))
        for message in ["hello\n", "through the edge\n"] {
            try client.send(message)
            #expect(try client.read(until: "\n") == message.uppercased())
        }
        client.shutdownOutput()
        #expect(try client.readToEnd().isEmpty, "the pipe ends once the app has closed")
        client.close()
        try await world.stop()
        await upgrader.stop()
        try await appGroup.shutdownGracefully()
    }

    /// An app whose listener takes no more connections (its queue is full): the connection the
    /// edge opens for a request never completes, and at `appConnectTimeout` the caller gets a
    /// 502 that says the app is unreachable, on either edge.
    @Test(.timeLimit(.minutes(1)), arguments: EdgeConfiguration.EdgeIO.allCases)
    func anAppConnectionThatDoesNotCompleteInTimeIsA502(io: EdgeConfiguration.EdgeIO) async throws {
        let stalled = try StalledListener()
        var edge = EdgeConfiguration()
        edge.io = io
        edge.appConnectTimeout = .milliseconds(300)
        let world = try await AgentLoopbackTests.World.start(edge: edge) { configuration in
            configuration.appAddresses = [try! SocketAddress(ipAddress: "127.0.0.1", port: stalled.port)]
        }
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        let answer = try await caller.send("GET /slow HTTP/1.1\r\nHost: orders\r\n\r\n")
        let waited = answer.elapsed
        #expect(answer.status == 502)
        #expect(answer.body.contains("is unreachable"), "\(answer.body)")
        #expect(waited >= .milliseconds(300) && waited < .seconds(5), "answered after \(waited.nanoseconds / 1_000_000) ms")
        await caller.close()
        try await world.stop()
        stalled.close()
    }

    /// Three requests sent in one write are answered in order on the one connection; a caller that
    /// sends its last request and then FIN still gets that answer before the edge closes.
    @Test(.timeLimit(.minutes(1))) func pipelinedRequestsAndAFinAfterTheLastAreAnsweredInOrder() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let client = try BlockingClient(port: world.agent.edgePorts[0])
        try client.send((1...3).map { "GET /p\($0) HTTP/1.1\r\nHost: orders\r\n\r\n" }.joined())
        for index in 1...3 {
            let head = try client.read(until: "\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
            #expect(try client.read(until: "GET /p\(index) 0") == "app GET /p\(index) 0")
        }
        try client.send("GET /last HTTP/1.1\r\nHost: orders\r\n\r\n")
        client.shutdownOutput()
        let rest = String(decoding: try client.readToEnd(), as: UTF8.self)
        #expect(rest.hasPrefix("HTTP/1.1 200"), "\(rest)")
        #expect(rest.hasSuffix("app GET /last 0"), "\(rest)")
        client.close()
        try await world.stop()
    }

    /// `.nio` keeps every edge connection on SwiftNIO's channels: requests with and without the
    /// header on one connection go where they should, and a malformed one is still refused.
    @Test(.timeLimit(.minutes(1))) func theSwiftNIOEdgeServesWhenChosen() async throws {
        var edge = EdgeConfiguration()
        edge.io = .nio
        let world = try await AgentLoopbackTests.World.start(edge: edge)
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        let alice = try await world.laptop("alice", serving: local)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /a HTTP/1.1\r\nHost: o\r\n\r\n").body == "app GET /a 0")
        #expect(try await caller.send("GET /b HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "laptop GET /b 0")
        #expect(try await caller.send("GET /c HTTP/1.1\r\nHost: o\r\n\r\n").body == "app GET /c 0")
        let smuggler = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        let refused = try await smuggler.send("POST / HTTP/1.1\r\nHost: o\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        #expect(refused.status == 400)
        await caller.close()
        await smuggler.close()
        await alice.close()
        await local.stop()
        try await world.stop()
    }
}

/// A caller on a blocking socket, which reads only when asked: what a client that stops reading
/// looks like to the agent. Reads give up after 10 s.
final class BlockingClient {
    private let descriptor: Int32
    /// Octets read past what `read(until:)` returned.
    var leftover: [UInt8] = []

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close()
            throw Failure(description: "connect: errno \(errno)")
        }
    }

    func send(_ text: String) throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written > 0 else { throw Failure(description: "write: errno \(errno)") }
            bytes = bytes.dropFirst(written)
        }
    }

    func readSome() throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { throw Failure(description: count == 0 ? "the connection closed" : "read: errno \(errno)") }
        return Array(buffer[0..<count])
    }

    /// Up to and including `marker`; what came after it stays in `leftover`.
    func read(until marker: String) throws -> String {
        let needle = Array(marker.utf8)
        var seen = leftover
        leftover = []
        while true {
            if let end = seen.indices.first(where: { seen[$0...].starts(with: needle) }) {
                leftover = Array(seen[(end + needle.count)...])
                return String(decoding: seen[..<(end + needle.count)], as: UTF8.self)
            }
            seen += try readSome()
        }
    }

    /// FIN: nothing more is sent.
    func shutdownOutput() {
        shutdown(descriptor, Int32(SHUT_WR))
    }

    /// What arrives until the peer closes (with `leftover` first).
    func readToEnd() throws -> [UInt8] {
        var all = leftover
        leftover = []
        while true {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return all }
            guard count > 0 else { throw Failure(description: "read: errno \(errno)") }
            all += buffer[0..<count]
        }
    }

    func close() {
        Glibc.close(descriptor)
    }
}

/// A listener on 127.0.0.1 whose queue of connections is full (a backlog of 0, taken by one
/// connection nobody accepts): a further connection attempt gets no answer and stays pending.
final class StalledListener {
    let port: Int
    private let listener: Int32
    private let filler: BlockingClient

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(listener, address, length) == 0 && getsockname(listener, address, &length) == 0
            }
        }
        guard bound, listen(listener, 0) == 0 else {
            Glibc.close(listener)
            throw BlockingClient.Failure(description: "listen: errno \(errno)")
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        filler = try BlockingClient(port: port)
    }

    func close() {
        filler.close()
        Glibc.close(listener)
    }
}
