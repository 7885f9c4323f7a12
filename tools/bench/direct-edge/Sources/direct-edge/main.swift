// direct-edge LISTEN_PORT APP_PORT
//
// The agent's pass-through without SwiftNIO's channels: one thread, level-triggered epoll, the
// same `EdgeExchange` (strict parsing, the forwarded head, response framing) and a pool of idle
// keep-alive app connections, as the agent's edge keeps them. What it leaves out, because it only
// measures the cost of the I/O layer under `wrk` against a small origin on 127.0.0.1:
// - routing asks an `InterceptRegistry` as the agent's does, but none is registered (compare it
//   with an agent that has no intercepts), and a request routed elsewhere would close the client;
// - the clocks are read where the agent's edge sets its header-read and idle clocks, but nothing
//   times out; no metrics, no log, no drain;
// - no backpressure: a write that the socket does not take whole waits for it (`poll`);
// - a request whose exchange asks for a pipe (Upgrade) or a retry on a new connection closes the
//   client instead.
import CEpoll
import Glibc
import NIOCore
import ShuntAgent
import ShuntHTTP1

func complain(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
}

guard CommandLine.arguments.count == 3, let listenPort = UInt16(CommandLine.arguments[1]),
      let appPort = UInt16(CommandLine.arguments[2]) else {
    complain("usage: direct-edge LISTEN_PORT APP_PORT (both on 127.0.0.1)")
    exit(2)
}

final class Client {
    let fd: Int32
    var exchange = EdgeExchange(client: ForwardedHeadWriter.ClientAddress("127.0.0.1")!)
    var upstream: Int32 = -1
    /// When the running clock (header read or idle) would run out, as the agent's edge keeps it.
    var deadline = NIODeadline.distantFuture
    init(fd: Int32) { self.fd = fd }
}

final class DirectEdge {
    let appPort: UInt16
    let port: Int
    let registry: InterceptRegistry
    let idleTimeout = TimeAmount.seconds(60)
    let headerReadTimeout = TimeAmount.seconds(10)
    let epoll = epoll_create1(0)
    let listener: Int32
    /// By descriptor: the client a client socket belongs to, and the client an app connection serves.
    var clients = [Client?](repeating: nil, count: 65_536)
    var served = [Client?](repeating: nil, count: 65_536)
    var idle: [Int32] = []
    var spareActions: [[EdgeExchange.Action]] = []
    let allocator = ByteBufferAllocator()

    init(listenPort: UInt16, appPort: UInt16) {
        self.appPort = appPort
        port = Int(listenPort)
        registry = InterceptRegistry(ports: [port])
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var on: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, 4)
        var address = Self.loopback(listenPort)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 1024) == 0 else {
            complain("direct-edge: cannot listen on 127.0.0.1:\(listenPort): errno \(errno)")
            exit(1)
        }
        Self.nonBlocking(listener)
        watch(listener)
    }

    static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }

    static func nonBlocking(_ fd: Int32) { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

    static func noDelay(_ fd: Int32) {
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, 4)
    }

    func watch(_ fd: Int32) {
        var event = epoll_event()
        event.events = UInt32(EPOLLIN.rawValue)
        event.data.fd = fd
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
    }

    func close(_ fd: Int32) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil as UnsafeMutablePointer<epoll_event>?)
        Glibc.close(fd)
    }

    func closeClient(_ client: Client) {
        guard clients[Int(client.fd)] === client else { return }
        if client.upstream >= 0 {
            served[Int(client.upstream)] = nil
            close(client.upstream)
            client.upstream = -1
        }
        clients[Int(client.fd)] = nil
        close(client.fd)
    }

    /// Connects to the app (blocking: on 127.0.0.1 it is immediate), or -1.
    func dialApp() -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(appPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            return -1
        }
        Self.nonBlocking(fd)
        Self.noDelay(fd)
        watch(fd)
        return fd
    }

    /// Writes all of `bytes`; false when the socket failed.
    func send(_ bytes: ByteBuffer, to fd: Int32) -> Bool {
        var bytes = bytes
        while bytes.readableBytes > 0 {
            let written = bytes.withUnsafeReadableBytes { write(fd, $0.baseAddress, $0.count) }
            if written > 0 {
                bytes.moveReaderIndex(forwardBy: written)
            } else if written < 0 && (errno == EAGAIN || errno == EINTR) {
                var wait = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&wait, 1, 1_000)
            } else {
                return false
            }
        }
        return true
    }

    enum Read { case bytes(ByteBuffer), again, ended }

    func read(_ fd: Int32) -> Read {
        var buffer = allocator.buffer(capacity: 2_048)
        var count = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 2_048) {
            count = Glibc.read(fd, $0.baseAddress, $0.count)
            return max(0, count)
        }
        if count > 0 { return .bytes(buffer) }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return .again }
        return .ended
    }

    func perform(_ client: Client, _ step: (inout EdgeExchange, inout [EdgeExchange.Action]) -> Void) {
        var actions = spareActions.popLast() ?? []
        step(&client.exchange, &actions)
        for action in actions {
            guard clients[Int(client.fd)] === client else { break }
            switch action {
            case .route:
                guard let head = client.exchange.routingHead, case .app = registry.route(head, port: port) else {
                    closeClient(client)
                    continue
                }
                let reused = !idle.isEmpty
                let upstream = idle.popLast() ?? dialApp()
                if upstream < 0 {
                    perform(client) { $0.upstreamFailed(status: 502, message: "the app is unreachable", into: &$1) }
                    continue
                }
                client.upstream = upstream
                served[Int(upstream)] = client
                perform(client) { $0.upstreamReady(reused: reused, into: &$1) }
            case .sendUpstream(let bytes):
                if !send(bytes, to: client.upstream) { closeClient(client) }
            case .sendClient(let bytes):
                if !send(bytes, to: client.fd) { closeClient(client) }
            case .finishUpstream(let reusable):
                let upstream = client.upstream
                client.upstream = -1
                served[Int(upstream)] = nil
                if reusable { idle.append(upstream) } else { close(upstream) }
                client.deadline = .now() + idleTimeout
            case .closeClient, .pipe, .retryOnNewConnection:
                closeClient(client)
            }
        }
        actions.removeAll(keepingCapacity: true)
        spareActions.append(actions)
    }

    func run() -> Never {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let ready = epoll_wait(epoll, &events, Int32(events.count), -1)
            for index in 0..<max(0, Int(ready)) {
                let fd = events[index].data.fd
                if fd == listener {
                    while case let accepted = accept(listener, nil, nil), accepted >= 0 {
                        Self.nonBlocking(accepted)
                        Self.noDelay(accepted)
                        clients[Int(accepted)] = Client(fd: accepted)
                        watch(accepted)
                    }
                } else if let client = clients[Int(fd)] {
                    switch read(fd) {
                    case .bytes(let bytes):
                        if !client.exchange.isInsideRequest { client.deadline = .now() + headerReadTimeout }
                        perform(client) { $0.clientRead(bytes, into: &$1) }
                    case .again: break
                    case .ended: closeClient(client)
                    }
                } else if let client = served[Int(fd)] {
                    switch read(fd) {
                    case .bytes(let bytes): perform(client) { $0.upstreamRead(bytes, into: &$1) }
                    case .again: break
                    case .ended: perform(client) { $0.upstreamEnded(into: &$1) }
                    }
                } else {
                    // An idle app connection that spoke or closed is dropped.
                    if let at = idle.firstIndex(of: fd) { idle.remove(at: at) }
                    close(fd)
                }
            }
        }
    }
}

signal(SIGPIPE, SIG_IGN)
DirectEdge(listenPort: listenPort, appPort: appPort).run()
