#if canImport(Glibc)
import CShuntEpoll
import Foundation
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ShuntHTTP1

/// The agent's edge for HTTP/1.1 on an epoll loop of its own, one thread, instead of SwiftNIO's
/// channels (docs/EDGE-IO.md: the channel layer cost the pass-through 3.6–5.2 µs of user time per
/// request, more than the whole gap to haproxy). It owns the edge's listening sockets, the client
/// connections it serves and the app connections they use, and runs the same `EdgeExchange` as
/// `EdgeHandler` does, with the same clocks, limits, pool and metrics.
///
/// What needs the tunnel is handed over to the agent's SwiftNIO event loop with its socket
/// (`handOver`): a connection opened while a global intercept is active on its port, one that
/// begins with the HTTP/2 preface, and a request routed to a laptop (with the exchange as it
/// stands). Such a connection stays there.
///
/// Other threads talk to the loop through `drain()`, `stop()` and `openConnections`; everything
/// else is confined to the loop's thread.
final class DirectEdgeLoop: @unchecked Sendable {
    /// One edge port: where it listens, and the app behind it.
    struct Port {
        let host: String
        let port: Int
        let app: SocketAddress
    }

    /// A connection leaving the loop for SwiftNIO, and what it carries.
    struct HandOver: @unchecked Sendable {
        enum Prelude {
            /// Nothing was read: the connection starts over (a global intercept took the port).
            case none
            /// The octets read so far (the HTTP/2 preface, or its beginning).
            case received(ByteBuffer)
            /// A request routed to `laptop`: the exchange with that request's head waiting for its
            /// upstream, and the octets of earlier answers not yet written to the client.
            case routing(EdgeExchange, Route.Laptop, pending: [ByteBuffer])
        }
        let descriptor: Int32
        let portIndex: Int
        let remote: SocketAddress?
        let prelude: Prelude
    }

    /// `accept4` as the loop calls it: a test puts a failing one here (before `start`) to run the
    /// loop out of file descriptors without running the whole test process out of them.
    typealias AcceptCall = (_ listener: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int32
    var acceptCall: AcceptCall = { shunt_accept($0, $1, $2) }

    /// The most octets one read takes, and the least it asks for.
    static let maxReadSize = 64 * 1024
    static let minReadSize = 2 * 1024

    let ports: [Port]
    let boundPorts: [Int]
    private let configuration: EdgeConfiguration
    private let metrics: AgentMetrics
    private let logger: Logger
    private var registry: InterceptRegistry!
    private var handOverHandler: (@Sendable (HandOver) -> Void)!

    private let epoll: Int32
    private let wake: Int32
    private var listeners: [Int32]
    private var slots: [Slot?] = []
    private var clients: [ObjectIdentifier: DirectClient] = [:]
    private var pools: [[DirectUpstream]]
    private var nextWake = NIODeadline.distantFuture
    private var draining = false
    private var readSize = DirectEdgeLoop.minReadSize
    private let allocator = ByteBufferAllocator()
    private var spareActionLists: [[EdgeExchange.Action]] = []

    private let commands = NIOLockedValueBox<[Command]>([])
    private let open = NIOLockedValueBox(0)
    private let finished = DispatchSemaphore(value: 0)
    private let life = NIOLockedValueBox(Life.bound)
    private let listening = NIOLockedValueBox(true)

    private enum Command { case drain, stop }
    private enum Life { case bound, running, stopped }

    enum Slot {
        case listener(Int)
        case client(DirectClient)
        case upstream(DirectUpstream)
        case wake
    }

    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    /// Binds every port now (so that a busy one fails the agent's start, and ports of 0 are known);
    /// the loop runs once `start` is called.
    init(ports: [Port], configuration: EdgeConfiguration, metrics: AgentMetrics,
         logger: Logger = Logger(label: "shunt-agent.edge")) throws {
        self.ports = ports
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wake = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard epoll >= 0, wake >= 0 else { throw StartError(description: "the edge loop could not start: \(Self.describe(errno))") }
        pools = Array(repeating: [], count: ports.count)
        var listeners: [Int32] = []
        var bound: [Int] = []
        for port in ports {
            do {
                let (descriptor, number) = try Self.listen(host: port.host, port: port.port)
                listeners.append(descriptor)
                bound.append(number)
            } catch {
                for descriptor in listeners { Glibc.close(descriptor) }
                Glibc.close(epoll)
                Glibc.close(wake)
                throw error
            }
        }
        self.listeners = listeners
        boundPorts = bound
    }

    /// Starts the loop's thread. `handOver` runs on that thread and must not block.
    func start(registry: InterceptRegistry, handOver: @escaping @Sendable (HandOver) -> Void) {
        self.registry = registry
        handOverHandler = handOver
        for (index, descriptor) in listeners.enumerated() { register(descriptor, slot: .listener(index), events: EPOLLIN.rawValue) }
        register(wake, slot: .wake, events: EPOLLIN.rawValue)
        life.withLockedValue { $0 = .running }
        let thread = Thread { [self] in run() }
        thread.name = "shunt-edge"
        thread.start()
    }

    /// The listeners are open (for `/readyz`).
    var accepting: Bool { listening.withLockedValue { $0 } }

    /// Client connections the loop serves now.
    var openConnections: Int { open.withLockedValue { $0 } }

    /// Stops accepting; each connection ends after the request in progress.
    func drain() { send(.drain) }

    /// Closes everything and ends the thread; returns once it has ended. Later calls do nothing.
    func stop() {
        let was = life.withLockedValue { life in
            defer { life = .stopped }
            return life
        }
        switch was {
        case .stopped:
            return
        case .bound:
            for descriptor in listeners { Glibc.close(descriptor) }
            Glibc.close(epoll)
            Glibc.close(wake)
        case .running:
            send(.stop)
            finished.wait()
        }
    }

    private func send(_ command: Command) {
        commands.withLockedValue { $0.append(command) }
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    // MARK: Sockets

    static func describe(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }

    private static func listen(host: String, port: Int) throws -> (Int32, Int) {
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw StartError(description: "cannot listen on \(host):\(port): \(error)")
        }
        let family = address.protocol == .inet6 ? AF_INET6 : AF_INET
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw StartError(description: "cannot listen on \(host):\(port): \(describe(errno))") }
        var on: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let bound = address.withSockAddr { bind(descriptor, $0, socklen_t($1)) }
        guard bound == 0, Glibc.listen(descriptor, 1024) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw StartError(description: "cannot listen on \(host):\(port): \(describe(code))")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        return (descriptor, Self.socketAddress(storage)?.port ?? port)
    }

    static func socketAddress(_ storage: sockaddr_storage) -> SocketAddress? {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: "") } }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: "") } }
        default:
            return nil
        }
    }

    private static func noDelay(_ descriptor: Int32) {
        var on: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
    }

    private func register(_ descriptor: Int32, slot: Slot, events: UInt32) {
        let index = Int(descriptor)
        if index >= slots.count { slots.append(contentsOf: repeatElement(nil, count: index + 1 - slots.count + 64)) }
        slots[index] = slot
        var event = epoll_event()
        event.events = events
        event.data.fd = descriptor
        epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event)
    }

    private func modify(_ descriptor: Int32, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.fd = descriptor
        epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event)
    }

    /// Forgets a socket and closes it (unless it leaves for SwiftNIO). One that never joined the
    /// epoll set (`registered` false) is not taken out of it.
    private func release(_ descriptor: Int32, close: Bool = true, registered: Bool = true) {
        if Int(descriptor) < slots.count { slots[Int(descriptor)] = nil }
        if registered { epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil as UnsafeMutablePointer<epoll_event>?) }
        if close { Glibc.close(descriptor) }
    }

    // MARK: The loop

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 128)
        var running = true
        while running {
            let ready = epoll_wait(epoll, &events, Int32(events.count), waitMilliseconds())
            if ready < 0 && errno != EINTR { break }
            for index in 0..<max(0, Int(ready)) {
                let descriptor = events[index].data.fd
                let flags = events[index].events
                guard Int(descriptor) < slots.count, let slot = slots[Int(descriptor)] else { continue }
                switch slot {
                case .listener(let port):
                    accept(descriptor, port: port)
                case .client(let client):
                    clientEvent(client, flags: flags)
                case .upstream(let upstream):
                    upstreamEvent(upstream, flags: flags)
                case .wake:
                    var count: UInt64 = 0
                    _ = read(wake, &count, 8)
                    for command in commands.withLockedValue({ let taken = $0; $0 = []; return taken }) {
                        switch command {
                        case .drain: startDraining()
                        case .stop:
                            closeEverything()
                            running = false
                        }
                    }
                }
            }
            let now = NIODeadline.now()
            if now >= nextWake && now >= lastScan + Self.clockGranularity { clocksRanOut(now) }
        }
        for descriptor in listeners where descriptor >= 0 { Glibc.close(descriptor) }
        Glibc.close(epoll)
        Glibc.close(wake)
        finished.signal()
    }

    private func waitMilliseconds() -> Int32 {
        guard nextWake != .distantFuture else { return -1 }
        let due = max(nextWake, lastScan + Self.clockGranularity)
        let left = due.uptimeNanoseconds &- NIODeadline.now().uptimeNanoseconds
        if Int64(bitPattern: left) <= 0 { return 0 }
        return Int32(clamping: (left + 999_999) / 1_000_000)
    }

    private func accept(_ listener: Int32, port: Int) {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let descriptor = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { acceptCall(listener, $0, &length) }
            }
            if descriptor < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE {
                    // Out of descriptors: the waiting connection would wake the loop again at once.
                    // The listeners rest for `acceptPause`, while connections end and free some.
                    pauseAccepting(code: errno)
                }
                return
            }
            if outOfDescriptors {
                outOfDescriptors = false
                logger.notice("the edge accepts connections again")
            }
            Self.noDelay(descriptor)
            let remote = Self.socketAddress(storage)
            if registry.hasGlobalIntercept(port: boundPorts[port]) {
                handOverHandler(HandOver(descriptor: descriptor, portIndex: port, remote: remote, prelude: .none))
                continue
            }
            let client = DirectClient(descriptor: descriptor, portIndex: port, remote: remote,
                                      exchange: EdgeExchange(client: EdgeHandler.describe(remote).address, limits: configuration.limits))
            clients[ObjectIdentifier(client)] = client
            open.withLockedValue { $0 += 1 }
            client.interest = EPOLLIN.rawValue
            setClock(client, .idle)
            // The first request has often arrived with the connection: it is read now, not after a
            // turn of the loop, and a connection it sends to a laptop leaves for SwiftNIO without
            // ever joining the epoll set. Otherwise (nothing yet) it joins with the interest the
            // read left it.
            readClient(client)
            if isLive(client) {
                updateInterest(client)
                register(descriptor, slot: .client(client), events: client.interest)
                client.registered = true
                clientsRegistered.withLockedValue { $0 += 1 }
            }
        }
    }

    /// How long the listeners rest when the process is out of file descriptors.
    static let acceptPause = TimeAmount.milliseconds(100)
    private var acceptResumes: NIODeadline?
    /// Since the last accept failed for want of descriptors: said once in the log, not per pause.
    private var outOfDescriptors = false

    private func pauseAccepting(code: Int32) {
        guard acceptResumes == nil else { return }
        metrics.edgeAcceptPauses.increment()
        if !outOfDescriptors {
            outOfDescriptors = true
            logger.warning("the edge is out of file descriptors: new connections wait in the listen queue, and accepting is tried again every \(Self.acceptPause.nanoseconds / 1_000_000) ms until one is free (raise the limit, ulimit -n)",
                           metadata: ["error": .string(Self.describe(code))])
        }
        let resume = NIODeadline.now() + Self.acceptPause
        acceptResumes = resume
        if resume < nextWake { nextWake = resume }
        for descriptor in listeners where descriptor >= 0 { modify(descriptor, events: 0) }
    }

    private func resumeAcceptingIfDue(_ now: NIODeadline, next: inout NIODeadline) {
        guard let resume = acceptResumes else { return }
        if resume <= now {
            acceptResumes = nil
            for descriptor in listeners where descriptor >= 0 { modify(descriptor, events: EPOLLIN.rawValue) }
        } else {
            next = min(next, resume)
        }
    }

    // MARK: Clocks

    private func setClock(_ client: DirectClient, _ clock: DirectClient.Clock) {
        let timeout: TimeAmount
        switch clock {
        case .idle: timeout = configuration.idleTimeout
        case .header: timeout = configuration.headerReadTimeout
        case .linger: timeout = configuration.lingerTimeout
        }
        let deadline = NIODeadline.now() + timeout
        client.clock = clock
        client.deadline = deadline
        if deadline < nextWake { nextWake = deadline }
    }

    private func armTimer(_ client: DirectClient, header: Bool) {
        setClock(client, header ? .header : .idle)
    }

    /// The clocks are read at most this often: a read visits every connection, and one read per
    /// expiring connection would make many connections that time out one by one cost the square
    /// of their number. A clock runs out at most this late.
    static let clockGranularity = TimeAmount.milliseconds(25)
    private var lastScan = NIODeadline.uptimeNanoseconds(0)
    /// How many times the clocks were read (for the test of `clockGranularity`).
    let clockReads = NIOLockedValueBox(0)
    /// Client connections that joined the epoll set: not those served or handed over by the read
    /// tried as they were accepted (for its test).
    let clientsRegistered = NIOLockedValueBox(0)

    /// Fires the clocks that ran out and finds the next deadline. A deadline set by what fires
    /// lowers `nextWake` through `setClock` as any other.
    private func clocksRanOut(_ now: NIODeadline) {
        lastScan = now
        clockReads.withLockedValue { $0 += 1 }
        var next = NIODeadline.distantFuture
        nextWake = .distantFuture
        resumeAcceptingIfDue(now, next: &next)
        for client in Array(clients.values) {
            if let upstream = client.upstream, upstream.connecting {
                if upstream.connectDeadline <= now {
                    connectFailed(client, upstream, reason: "no connection within \(Double(configuration.appConnectTimeout.nanoseconds) / 1e9) s")
                } else {
                    next = min(next, upstream.connectDeadline)
                }
            }
            guard isLive(client), let deadline = client.deadline else { continue }
            if deadline <= now {
                client.deadline = nil
                timerFired(client)
            } else {
                next = min(next, deadline)
            }
        }
        for port in pools.indices {
            pools[port].removeAll { upstream in
                let expiry = upstream.idleSince + configuration.appIdleTimeout
                if expiry <= now {
                    release(upstream.descriptor)
                    return true
                }
                next = min(next, expiry)
                return false
            }
        }
        nextWake = min(nextWake, next)
    }

    private func timerFired(_ client: DirectClient) {
        if client.clock == .linger {
            closeClient(client)
            return
        }
        guard !client.closing, client.upstream == nil, !client.piping else { return }
        client.closing = true
        if client.exchange.isInsideRequest {
            metrics.edgeAnswered(status: 408)
            let seconds = Double(configuration.headerReadTimeout.nanoseconds) / 1e9
            client.out.append(EdgeExchange.errorResponse(status: 408, message: "shunt: the request head did not arrive within \(seconds) s"))
            lingerThenClose(client)
        } else {
            _ = client.out.flush(to: client.descriptor)
            closeClient(client)
        }
    }

    // MARK: Client connections

    private func clientEvent(_ client: DirectClient, flags: UInt32) {
        if flags & EPOLLERR.rawValue != 0 {
            closeClient(client)  // reset: nothing can be answered
            return
        }
        if flags & EPOLLOUT.rawValue != 0 {
            flushClient(client)
            guard isLive(client) else { return }
        }
        if flags & EPOLLHUP.rawValue != 0 && (client.inputClosed || client.interest & EPOLLIN.rawValue == 0) {
            // Both directions are gone and nothing more will be read: epoll would report it again and again.
            closeClient(client)
            return
        }
        if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue) != 0 {
            readClient(client)
        }
        if isLive(client) { updateInterest(client) }
    }

    /// Still served by this loop: not closed, not handed over.
    private func isLive(_ client: DirectClient) -> Bool {
        client.live
    }

    private enum ReadResult {
        case bytes(ByteBuffer)
        case again
        case ended
        case failed(Int32)
    }

    private func readSome(_ descriptor: Int32) -> ReadResult {
        var buffer = allocator.buffer(capacity: readSize)
        var result = 0
        var code: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: readSize) { bytes in
            result = read(descriptor, bytes.baseAddress, bytes.count)
            if result < 0 { code = errno }
            return max(0, result)
        }
        if result > 0 {
            // Adapt the next read's size: double when this one filled its buffer, halve when it used little.
            if result >= buffer.capacity { readSize = min(readSize * 2, Self.maxReadSize) } else if result < readSize / 4 { readSize = max(readSize / 2, Self.minReadSize) }
            return .bytes(buffer)
        }
        if result == 0 { return .ended }
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return .again }
        return .failed(code)
    }

    private func readClient(_ client: DirectClient) {
        switch readSome(client.descriptor) {
        case .again:
            return
        case .failed:
            closeClient(client)
        case .ended:
            client.inputClosed = true
            if client.lingering || client.sniffing {
                closeClient(client)
            } else if client.piping {
                if let upstream = client.upstream {
                    upstream.shutAfterFlush = true
                    flushUpstream(client, upstream)
                }
                finishPipeIfDone(client)
            } else {
                perform(client) { exchange, actions in actions.append(contentsOf: exchange.clientEnded()) }
            }
        case .bytes(let bytes):
            if client.lingering { return }
            if !client.piping && client.deadline != nil && client.clock == .idle {
                // The first octets of a request head: the header-read clock starts.
                armTimer(client, header: true)
            }
            if client.sniffing {
                sniff(client, bytes)
            } else {
                perform(client) { $0.clientRead(bytes, into: &$1) }
            }
        }
    }

    /// HTTP/2 with prior knowledge leaves for SwiftNIO's HTTP/2 edge; HTTP/1.1 stays.
    private func sniff(_ client: DirectClient, _ bytes: ByteBuffer) {
        var bytes = bytes
        if client.received == nil {
            client.received = bytes
        } else {
            client.received!.writeBuffer(&bytes)
        }
        switch ConnectionPreface.classify(client.received!.readableBytesView) {
        case .needMore:
            return
        case .http2:
            handOver(client, prelude: .received(client.received!))
        case .http1:
            client.sniffing = false
            let received = client.received!
            client.received = nil
            perform(client) { $0.clientRead(received, into: &$1) }
        }
    }

    private func flushClient(_ client: DirectClient) {
        switch client.out.flush(to: client.descriptor) {
        case .pending:
            break
        case .failed:
            closeClient(client)
        case .drained:
            if client.shutAfterFlush && !client.outputShut {
                client.outputShut = true
                shutdown(client.descriptor, Int32(SHUT_WR))
                finishPipeIfDone(client)
            }
        }
    }

    /// Reads the client only while the exchange wants its octets and the upstream takes them;
    /// reads the upstream only while the client takes its octets; waits for writability only with
    /// octets queued.
    private func updateInterest(_ client: DirectClient) {
        var wanted: UInt32 = 0
        if !client.inputClosed {
            if client.lingering {
                wanted |= EPOLLIN.rawValue
            } else if !client.closing, client.sniffing || client.piping || client.exchange.wantsClientBytes,
                      client.upstream.map({ $0.out.writable && !$0.connecting }) ?? true {
                wanted |= EPOLLIN.rawValue
            }
        }
        if !client.out.isEmpty { wanted |= EPOLLOUT.rawValue }
        if wanted != client.interest {
            client.interest = wanted
            if client.registered { modify(client.descriptor, events: wanted) }
        }
        if let upstream = client.upstream { updateInterest(upstream, clientWritable: client.out.writable) }
    }

    private func updateInterest(_ upstream: DirectUpstream, clientWritable: Bool) {
        var wanted: UInt32 = 0
        if upstream.connecting {
            wanted = EPOLLOUT.rawValue
        } else {
            if !upstream.inputClosed && clientWritable { wanted |= EPOLLIN.rawValue }
            if !upstream.out.isEmpty { wanted |= EPOLLOUT.rawValue }
        }
        if wanted != upstream.interest {
            upstream.interest = wanted
            modify(upstream.descriptor, events: wanted)
        }
    }

    private func closeClient(_ client: DirectClient) {
        guard isLive(client) else { return }
        client.live = false
        clients[ObjectIdentifier(client)] = nil
        client.deadline = nil
        if let upstream = client.upstream {
            client.upstream = nil
            upstream.client = nil
            release(upstream.descriptor)
        }
        client.out.removeAll()
        // Counted out before the close: whoever sees the connection end (its caller, a drain) finds
        // it gone from `openConnections` too.
        open.withLockedValue { $0 -= 1 }
        release(client.descriptor, registered: client.registered)
    }

    private func handOver(_ client: DirectClient, prelude: HandOver.Prelude) {
        client.live = false
        clients[ObjectIdentifier(client)] = nil
        client.deadline = nil
        release(client.descriptor, close: false, registered: client.registered)
        open.withLockedValue { $0 -= 1 }
        handOverHandler(HandOver(descriptor: client.descriptor, portIndex: client.portIndex, remote: client.remote, prelude: prelude))
    }

    /// Sends what is queued and FIN, then reads and drops the client's input until it closes too
    /// or the linger timeout passes.
    private func lingerThenClose(_ client: DirectClient) {
        client.lingering = true
        client.shutAfterFlush = true
        setClock(client, .linger)
        flushClient(client)
        if isLive(client) { updateInterest(client) }
    }

    private func closeIfDrained(_ client: DirectClient) {
        guard !client.closing, client.upstream == nil, !client.exchange.isInsideRequest else { return }
        client.closing = true
        _ = client.out.flush(to: client.descriptor)
        closeClient(client)
    }

    /// A raw pipe (after an upgrade) ends once both directions have.
    private func finishPipeIfDone(_ client: DirectClient) {
        guard client.piping, client.inputClosed, client.outputShut,
              client.upstream.map({ $0.inputClosed && $0.outputShut }) ?? true else { return }
        closeClient(client)
    }

    // MARK: Exchanges

    private func perform(_ client: DirectClient, _ step: (inout EdgeExchange, inout [EdgeExchange.Action]) -> Void) {
        var actions = spareActionLists.popLast() ?? []
        step(&client.exchange, &actions)
        run(client, actions)
        actions.removeAll(keepingCapacity: true)
        spareActionLists.append(actions)
    }

    private func run(_ client: DirectClient, _ actions: [EdgeExchange.Action]) {
        for action in actions {
            guard isLive(client) else { return }
            switch action {
            case .route:
                client.deadline = nil
                guard let head = client.exchange.routingHead else { continue }
                switch registry.route(head, port: boundPorts[client.portIndex]) {
                case .app:
                    metrics.routedToApp.increment()
                    connectApp(client, fresh: false)
                case .laptop(let laptop):
                    // The laptop's request and everything after it on this connection are SwiftNIO's.
                    _ = client.out.flush(to: client.descriptor)
                    handOver(client, prelude: .routing(client.exchange, laptop, pending: client.out.takeAll()))
                    return
                }
            case .sendUpstream(let bytes):
                client.upstream?.out.append(bytes)
            case .sendClient(let bytes):
                client.out.append(bytes)
            case .finishUpstream(let reusable):
                finishUpstream(client, reusable: reusable)
            case .pipe:
                client.piping = true
            case .retryOnNewConnection:
                metrics.appRetries.increment()
                connectApp(client, fresh: true)
            case .closeClient:
                guard !client.closing else { continue }
                if let status = client.exchange.answeredStatus { metrics.edgeAnswered(status: status) }
                client.closing = true
                lingerThenClose(client)
            }
        }
        guard isLive(client) else { return }
        if let upstream = client.upstream, !upstream.connecting { flushUpstream(client, upstream) }
        guard isLive(client) else { return }
        flushClient(client)
        if isLive(client) { updateInterest(client) }
    }

    private func finishUpstream(_ client: DirectClient, reusable: Bool) {
        guard let upstream = client.upstream else { return }
        if !upstream.connecting { flushUpstream(client, upstream) }
        guard isLive(client), client.upstream === upstream else { return }
        client.upstream = nil
        upstream.client = nil
        if reusable, upstream.out.isEmpty, !upstream.inputClosed, !upstream.connecting, !draining,
           pools[client.portIndex].count < configuration.maxIdleAppConnections {
            upstream.idleSince = .now()
            pools[client.portIndex].append(upstream)
            let expiry = upstream.idleSince + configuration.appIdleTimeout
            if expiry < nextWake { nextWake = expiry }
            // An idle connection is read only to notice that the app closed it (or spoke out of turn).
            if upstream.interest != EPOLLIN.rawValue {
                upstream.interest = EPOLLIN.rawValue
                modify(upstream.descriptor, events: EPOLLIN.rawValue)
            }
        } else {
            release(upstream.descriptor)
        }
        // A pipelined head already begun runs on the header-read clock, not the idle one.
        if !client.closing && !client.exchange.isClosed { armTimer(client, header: client.exchange.isInsideRequest) }
        if client.draining { closeIfDrained(client) }
    }

    // MARK: App connections

    private func connectApp(_ client: DirectClient, fresh: Bool) {
        if !fresh, let upstream = pools[client.portIndex].popLast() {
            attach(client, upstream, reused: true)
            return
        }
        let app = ports[client.portIndex].app
        let family = app.protocol == .inet6 ? AF_INET6 : AF_INET
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            appUnreachable(client, reason: Self.describe(errno))
            return
        }
        Self.noDelay(descriptor)
        let result = app.withSockAddr { connect(descriptor, $0, socklen_t($1)) }
        let code = errno
        if result != 0 && code != EINPROGRESS {
            Glibc.close(descriptor)
            appUnreachable(client, reason: Self.describe(code))
            return
        }
        let upstream = DirectUpstream(descriptor: descriptor, portIndex: client.portIndex)
        if result == 0 {
            register(descriptor, slot: .upstream(upstream), events: 0)
            attach(client, upstream, reused: false)
        } else {
            upstream.connecting = true
            upstream.connectDeadline = .now() + configuration.appConnectTimeout
            if upstream.connectDeadline < nextWake { nextWake = upstream.connectDeadline }
            upstream.client = client
            client.upstream = upstream
            upstream.interest = EPOLLOUT.rawValue
            register(descriptor, slot: .upstream(upstream), events: EPOLLOUT.rawValue)
            updateInterest(client)
        }
    }

    private func appUnreachable(_ client: DirectClient, reason: String) {
        perform(client) { $0.upstreamFailed(status: 502, message: "shunt: the app at \(ports[client.portIndex].app) is unreachable: \(reason)", into: &$1) }
    }

    private func attach(_ client: DirectClient, _ upstream: DirectUpstream, reused: Bool) {
        upstream.client = client
        client.upstream = upstream
        perform(client) { $0.upstreamReady(reused: reused, into: &$1) }
    }

    private func connectFailed(_ client: DirectClient, _ upstream: DirectUpstream, reason: String) {
        client.upstream = nil
        upstream.client = nil
        release(upstream.descriptor)
        appUnreachable(client, reason: reason)
    }

    private func upstreamEvent(_ upstream: DirectUpstream, flags: UInt32) {
        guard let client = upstream.client else {
            // Idle in the pool: the app closed it, or sent what nobody asked for.
            pools[upstream.portIndex].removeAll { $0 === upstream }
            release(upstream.descriptor)
            return
        }
        if upstream.connecting {
            guard flags & (EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 else { return }
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(upstream.descriptor, SOL_SOCKET, SO_ERROR, &code, &length)
            if code != 0 {
                connectFailed(client, upstream, reason: Self.describe(code))
                return
            }
            upstream.connecting = false
            attach(client, upstream, reused: false)
            return
        }
        if flags & EPOLLERR.rawValue != 0 {
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(upstream.descriptor, SOL_SOCKET, SO_ERROR, &code, &length)
            upstreamFailed(client, upstream, reason: Self.describe(code == 0 ? ECONNRESET : code))
            if isLive(client) { updateInterest(client) }
            return
        }
        if flags & EPOLLOUT.rawValue != 0 {
            flushUpstream(client, upstream)
            guard isLive(client), client.upstream === upstream else { return }
        }
        if flags & EPOLLHUP.rawValue != 0 && upstream.inputClosed {
            // The app is gone both ways: nothing more comes from it and nothing more reaches it.
            client.upstream = nil
            upstream.client = nil
            release(upstream.descriptor)
            if client.piping {
                finishPipeIfDone(client)
            } else {
                perform(client) { $0.upstreamFailed(status: 502, message: "shunt: the app at \(ports[client.portIndex].app) closed the connection", into: &$1) }
            }
            if isLive(client) { updateInterest(client) }
            return
        }
        if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue) != 0, !upstream.inputClosed {
            readUpstream(client, upstream)
        }
        if isLive(client) { updateInterest(client) }
    }

    private func readUpstream(_ client: DirectClient, _ upstream: DirectUpstream) {
        switch readSome(upstream.descriptor) {
        case .again:
            return
        case .bytes(let bytes):
            perform(client) { $0.upstreamRead(bytes, into: &$1) }
        case .ended:
            upstream.inputClosed = true
            if client.piping {
                client.shutAfterFlush = true
                flushClient(client)
                if isLive(client) { finishPipeIfDone(client) }
            } else {
                perform(client) { $0.upstreamEnded(into: &$1) }
            }
        case .failed(let code):
            upstreamFailed(client, upstream, reason: Self.describe(code))
        }
    }

    private func upstreamFailed(_ client: DirectClient, _ upstream: DirectUpstream, reason: String) {
        upstream.inputClosed = true
        if client.piping {
            closeClient(client)
            return
        }
        perform(client) { $0.upstreamFailed(status: 502, message: "shunt: the app at \(ports[client.portIndex].app) failed: \(reason)", into: &$1) }
        // Whatever the exchange decided, a failed connection is not used again.
        if isLive(client), client.upstream === upstream {
            client.upstream = nil
            upstream.client = nil
            release(upstream.descriptor)
        }
    }

    private func flushUpstream(_ client: DirectClient, _ upstream: DirectUpstream) {
        switch upstream.out.flush(to: upstream.descriptor) {
        case .pending:
            break
        case .failed(let code):
            upstreamFailed(client, upstream, reason: Self.describe(code))
        case .drained:
            if upstream.shutAfterFlush && !upstream.outputShut {
                upstream.outputShut = true
                shutdown(upstream.descriptor, Int32(SHUT_WR))
                finishPipeIfDone(client)
            }
        }
    }

    // MARK: Shutdown

    private func startDraining() {
        draining = true
        listening.withLockedValue { $0 = false }
        for (index, descriptor) in listeners.enumerated() where descriptor >= 0 {
            release(descriptor)
            listeners[index] = -1
        }
        for port in pools.indices {
            for upstream in pools[port] { release(upstream.descriptor) }
            pools[port] = []
        }
        for client in Array(clients.values) {
            if client.sniffing && client.received == nil {
                closeClient(client)
                continue
            }
            client.draining = true
            closeIfDrained(client)
        }
    }

    private func closeEverything() {
        listening.withLockedValue { $0 = false }
        for client in Array(clients.values) { closeClient(client) }
        for port in pools.indices {
            for upstream in pools[port] { release(upstream.descriptor) }
            pools[port] = []
        }
        for (index, descriptor) in listeners.enumerated() where descriptor >= 0 {
            release(descriptor)
            listeners[index] = -1
        }
    }
}
#else
import NIOCore

/// The direct edge needs epoll: elsewhere the edge is SwiftNIO's whatever `EdgeConfiguration.io`
/// says, and this stands in for the loop where the agent asks about it.
final class DirectEdgeLoop: Sendable {
    var openConnections: Int { 0 }
    var accepting: Bool { true }
    func drain() {}
    func stop() {}
}
#endif
