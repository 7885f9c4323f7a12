import CompressNIO
import NIOCore

/// One stream's inbound DEFLATE context (spec §12). Each unit inflates to at most `limit` octets
/// (this side's `MAX_FRAME_SIZE`), so a deflate bomb costs one frame's worth of memory.
///
/// Memory: about 40 KiB of zlib state while the stream lives.
public final class StreamInflater {
    private let decompressor: ZlibDecompressor
    public let limit: Int

    public init(limit: Int) throws {
        decompressor = try ZlibDecompressor(algorithm: .deflate, windowSize: 15)
        self.limit = limit
    }

    /// Why a unit could not be inflated: a stream error COMPRESSION_ERROR.
    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        case empty
        case tooLarge(limit: Int)
        case corrupt
        /// Not ending on a sync flush: the unit left output pending in the context.
        case incomplete

        public var description: String {
            switch self {
            case .empty: "a compressed unit of 0 octets"
            case .tooLarge(let limit): "a compressed unit that inflates to more than \(limit) octets"
            case .corrupt: "a compressed unit that is not valid DEFLATE in this stream's context"
            case .incomplete: "a compressed unit that does not end with a sync flush"
            }
        }
    }

    /// Inflates one unit. After a failure the context is unusable: the stream is reset.
    public func inflate(_ unit: ByteBuffer, allocator: ByteBufferAllocator) throws(Failure) -> ByteBuffer {
        guard unit.readableBytes > 0 else { throw .empty }
        guard unit.readableBytes >= 4, unit.getInteger(at: unit.writerIndex - 4, as: UInt32.self) == 0x0000_FFFF else {
            throw .incomplete
        }
        var input = unit
        // One octet of room past the limit tells "exactly the limit" from "more".
        var output = allocator.buffer(capacity: limit + 1)
        do {
            try decompressor.inflate(from: &input, to: &output)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw output.readableBytes > limit ? .tooLarge(limit: limit) : .corrupt
        } catch let error as CompressNIOError where error == .inputBufferOverflow {
            // zlib needs more input for the output it has begun: the unit was cut short.
            throw .incomplete
        } catch {
            throw .corrupt
        }
        if output.readableBytes > limit { throw .tooLarge(limit: limit) }
        if input.readableBytes > 0 { throw .corrupt }  // input after the end of a final block
        return output
    }
}
