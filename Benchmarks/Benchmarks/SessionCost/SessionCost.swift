import Benchmark
import NIOCore
import NIOPosix
import ShuntSession
import ShuntWire
#if canImport(Glibc)
import Glibc
#endif

/// What a stream costs in the session state machine: heap bytes per idle stream (target ≤ 2 KiB),
/// and streams opened, given data, finished and released per second (pure: no sockets, no TLS).
let streamsPerBatch = 1_000

/// A client session that has received the server's HELLO: ready to open streams.
func readyClient(maxStreams: UInt32) -> SessionStateMachine {
    var configuration = SessionConfiguration(role: .client)
    configuration.settings.initialMaxStreams = maxStreams
    let now = NIODeadline.now()
    var client = SessionStateMachine(configuration: configuration, now: now)
    var server = SessionConfiguration(role: .server)
    server.settings.initialMaxStreams = maxStreams
    client.receive(Frame(streamID: .session, payload: .hello(server.hello)), now: now)
    while client.nextOutboundFrame() != nil {}
    while client.nextEvent() != nil {}
    precondition(client.isReady)
    return client
}

/// Resident bytes of this process (/proc/self/statm): page-grained, fine for a 10,000-stream delta.
func residentBytes() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var size = 0, resident = 0
    guard withUnsafeMutablePointer(to: &size, { s in withUnsafeMutablePointer(to: &resident) { r in
        withVaList([s, r]) { vfscanf(file, "%ld %ld", $0) } } }) == 2 else { return 0 }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 3, scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 10_000
    )

    // One measurement in a fresh process (no warm-up: freed memory would hide the growth).
    Benchmark("Resident bytes per idle stream (100,000 open streams)",
              configuration: .init(metrics: [.custom("bytes per idle stream", polarity: .prefersSmaller, useScalingFactor: false)],
                                   warmupIterations: 0, maxDuration: .seconds(10), maxIterations: 1)) { benchmark in
        var client = readyClient(maxStreams: 200_000)
        let before = residentBytes()
        for index in 0..<100_000 {
            _ = try client.openStream(kind: .tcp)
            // The STREAM_OPENs leave the control queue as the socket takes them (its limit is 10,000).
            if index % 1_000 == 999 { while client.nextOutboundFrame() != nil {} }
        }
        let after = residentBytes()
        benchmark.measurement(.custom("bytes per idle stream", polarity: .prefersSmaller, useScalingFactor: false), (after - before) / 100_000)
        blackHole(client)
    }

    // The whole cost of an idle stream in a running process: the state machine's record and the
    // NIO `ShuntStreamChannel` with its pipeline, at both ends of a loopback session (no TLS).
    Benchmark("Resident bytes per idle stream with its NIO channel (20,000 streams, per end)",
              configuration: .init(metrics: [.custom("bytes per idle stream and end", polarity: .prefersSmaller, useScalingFactor: false)],
                                   warmupIterations: 0, maxDuration: .seconds(60), maxIterations: 1)) { benchmark in
        let streams = 20_000
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let served = loop.makePromise(of: Void.self)
        let count = try loop.submit { NIOLoopBoundBox(0, eventLoop: loop) }.wait()
        var serverConfiguration = SessionConfiguration(role: .server)
        serverConfiguration.settings.initialMaxStreams = UInt32(streams * 2)
        let listener = try ServerBootstrap(group: loop)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = SessionHandler(configuration: serverConfiguration) { stream in
                        count.value += 1
                        if count.value == streams { served.succeed() }
                        return stream.eventLoop.makeSucceededVoidFuture()
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        let client = SessionHandler(configuration: SessionConfiguration(role: .client)) { $0.eventLoop.makeSucceededVoidFuture() }
        let channel = try ClientBootstrap(group: loop)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(client) } }
            .connect(to: listener.localAddress!).wait()
        let box = try loop.submit { NIOLoopBound(client, eventLoop: loop) }.wait()
        _ = try loop.flatSubmit { box.value.ready(on: loop) }.wait()
        let before = residentBytes()
        try loop.submit {
            for _ in 0..<streams { _ = box.value.openStream(kind: .tcp) { $0.eventLoop.makeSucceededVoidFuture() } }
        }.wait()
        try served.futureResult.wait()
        let after = residentBytes()
        benchmark.measurement(.custom("bytes per idle stream and end", polarity: .prefersSmaller, useScalingFactor: false),
                              (after - before) / streams / 2)
        try channel.close().wait()
        try listener.close().wait()
    }

    Benchmark("Open, send 1 KiB + FIN, receive FIN, close: 1000 streams") { benchmark in
        let payload = ByteBuffer(repeating: 1, count: 1_024)
        for _ in benchmark.scaledIterations {
            var client = readyClient(maxStreams: UInt32(streamsPerBatch))
            let now = NIODeadline.now()
            for _ in 0..<streamsPerBatch {
                let id = try client.openStream(kind: .tcp)
                try client.send(id, payload, fin: true)
                while client.nextOutboundFrame() != nil {}
                client.receive(.data(id, ByteBuffer(), fin: true), now: now)
                while client.nextEvent() != nil {}
            }
            blackHole(client.streamCount)
        }
    }
}
