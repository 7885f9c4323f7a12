import Benchmark
import NIOCore
import ShuntWire

/// Encode and decode throughput of the frame layer (issue: ≥ 20 million small frames/s decoded on
/// one core, and no payload copy). Each iteration handles a batch of frames; throughput is reported
/// per batch, so frames/s = batches/s × batch size (named in each benchmark).
let smallBatch = 1_000
let dataBatch = 64
let dataSize = 16_384

/// 1,000 small control frames as they arrive in a busy session: window updates, pings, acks, credit.
let smallFrames: [Frame] = (0..<smallBatch).map { index in
    switch index % 4 {
    case 0: Frame(streamID: StreamID(UInt32(2 * index + 1)), payload: .windowUpdate(increment: 65_536))
    case 1: Frame(streamID: .session, payload: .ping(opaque: UInt64(index), ack: index % 8 == 1))
    case 2: Frame(streamID: .session, payload: .maxStreams(UInt32(index)))
    default: Frame(streamID: .session, payload: .windowUpdate(increment: 1_048_576))
    }
}

func encoded(_ frames: [Frame]) -> ByteBuffer {
    var buffer = ByteBuffer()
    for frame in frames { FrameEncoder.encodeWhole(frame, into: &buffer) }
    return buffer
}

let payload = ByteBuffer(repeating: 0x5A, count: dataSize)
let dataFrames: [Frame] = (0..<dataBatch).map { Frame.data(StreamID(UInt32(2 * $0 + 1)), payload) }

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )

    Benchmark("Decode 1000 small control frames") { benchmark in
        let bytes = encoded(smallFrames)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var decoder = FrameDecoder()
            decoder.append(bytes)
            var count = 0
            while let frame = try decoder.next() {
                count &+= Int(frame.streamID.rawValue & 1)
            }
            blackHole(count)
        }
    }

    Benchmark("Encode 1000 small control frames") { benchmark in
        var buffer = ByteBuffer()
        buffer.reserveCapacity(smallBatch * 24)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.clear()
            for frame in smallFrames { FrameEncoder.encodeWhole(frame, into: &buffer) }
            blackHole(buffer.readableBytes)
        }
    }

    Benchmark("Decode 64 DATA frames of 16 KiB (1 MiB)") { benchmark in
        let bytes = encoded(dataFrames)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var decoder = FrameDecoder()
            decoder.append(bytes)
            var octets = 0
            while let frame = try decoder.next() {
                if case .data(let slice, _, _) = frame.payload { octets &+= slice.readableBytes }
            }
            precondition(octets == dataBatch * dataSize)
            blackHole(octets)
        }
    }

    Benchmark("Encode 64 DATA frames of 16 KiB, zero-copy (headers + payload slices)") { benchmark in
        var headers = ByteBuffer()
        headers.reserveCapacity(dataBatch * WireLimits.headerSize)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            headers.clear()
            var octets = 0
            for frame in dataFrames {
                if let slice = FrameEncoder.encode(frame, into: &headers) { octets &+= slice.readableBytes }
            }
            blackHole(octets)
        }
    }

    Benchmark("Encode 64 DATA frames of 16 KiB, copied into one buffer") { benchmark in
        var buffer = ByteBuffer()
        buffer.reserveCapacity(dataBatch * (dataSize + WireLimits.headerSize))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.clear()
            for frame in dataFrames { FrameEncoder.encodeWhole(frame, into: &buffer) }
            blackHole(buffer.readableBytes)
        }
    }
}
