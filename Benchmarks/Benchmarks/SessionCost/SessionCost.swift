import Benchmark
import NIOCore
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

func heapBytes() -> Int { Int(mallinfo2().uordblks) }

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 3, scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 10_000
    )

    Benchmark("Heap bytes per idle stream (10,000 open streams)",
              configuration: .init(metrics: [.custom("bytes per idle stream", polarity: .prefersSmaller, useScalingFactor: false)],
                                   maxDuration: .seconds(2), maxIterations: 5)) { benchmark in
        var client = readyClient(maxStreams: 20_000)
        let before = heapBytes()
        for _ in 0..<10_000 { _ = try client.openStream(kind: .tcp) }
        while client.nextOutboundFrame() != nil {}  // the STREAM_OPENs leave the control queue
        let after = heapBytes()
        benchmark.measurement(.custom("bytes per idle stream", polarity: .prefersSmaller, useScalingFactor: false), (after - before) / 10_000)
        blackHole(client)
    }

    Benchmark("Open, send 1 KiB + FIN, receive FIN, close: 1000 streams") { benchmark in
        let payload = ByteBuffer(repeating: 1, count: 1_024)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            benchmark.stopMeasurement()
            var client = readyClient(maxStreams: UInt32(streamsPerBatch))
            let now = NIODeadline.now()
            benchmark.startMeasurement()
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
