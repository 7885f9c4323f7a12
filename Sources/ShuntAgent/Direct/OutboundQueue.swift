#if canImport(Glibc)
import Glibc
import NIOCore

/// Octets on their way to one socket of the direct edge (`DirectEdgeLoop`): written at once when
/// the socket takes them, else kept, in order, until it is writable again. Past `high` queued octets
/// the queue is not `writable` (the other side of the exchange stops being read) until it is back
/// under `low`: the watermarks SwiftNIO's channels use by default.
struct OutboundQueue {
    static let high = 64 * 1024
    static let low = 32 * 1024
    /// The most buffers one `writev` takes.
    static let maxVectors = 16

    private var buffers = CircularBuffer<ByteBuffer>(initialCapacity: 4)
    private(set) var count = 0
    private(set) var writable = true

    var isEmpty: Bool { buffers.isEmpty }

    mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        buffers.append(bytes)
        count += bytes.readableBytes
        if count > Self.high { writable = false }
    }

    enum Outcome: Equatable {
        /// Everything queued is written.
        case drained
        /// The socket took what it could; the rest waits for it to be writable.
        case pending
        /// The socket failed (`errno`).
        case failed(Int32)
    }

    /// Writes what the socket takes now: one `write` for one buffer, one `writev` for several.
    mutating func flush(to descriptor: Int32) -> Outcome {
        while !buffers.isEmpty {
            let written: Int
            if buffers.count == 1 {
                written = buffers[buffers.startIndex].withUnsafeReadableBytes { write(descriptor, $0.baseAddress, $0.count) }
            } else {
                written = writeVector(to: descriptor)
            }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .pending }
                return .failed(errno)
            }
            consume(written)
        }
        return .drained
    }

    private func writeVector(to descriptor: Int32) -> Int {
        let used = min(buffers.count, Self.maxVectors)
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: used) { vectors in
            var index = buffers.startIndex
            for slot in 0..<used {
                buffers[index].withUnsafeReadableBytes { bytes in
                    vectors[slot] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                }
                index = buffers.index(after: index)
            }
            // The queue holds the buffers, unchanged, while the kernel reads their storage.
            return withExtendedLifetime(buffers) { writev(descriptor, vectors.baseAddress, Int32(used)) }
        }
    }

    private mutating func consume(_ written: Int) {
        var left = written
        count -= written
        while left > 0 {
            let first = buffers[buffers.startIndex].readableBytes
            if first <= left {
                left -= first
                buffers.removeFirst()
            } else {
                buffers[buffers.startIndex].moveReaderIndex(forwardBy: left)
                left = 0
            }
        }
        if !writable && count < Self.low { writable = true }
    }

    mutating func removeAll() {
        buffers.removeAll()
        count = 0
        writable = true
    }

    /// What is still queued, in order (for a connection handed over to SwiftNIO).
    mutating func takeAll() -> [ByteBuffer] {
        let taken = Array(buffers)
        removeAll()
        return taken
    }
}
#endif
