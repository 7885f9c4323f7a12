import CompressNIO
import NIOCore

/// One stream's outbound DEFLATE context (spec §12): raw DEFLATE, each unit ending in a sync flush,
/// so the peer can inflate it on arrival. Created only for streams that compress.
///
/// Memory: about 256 KiB of zlib state (32 KiB window, memory level 8) while the stream lives.
public final class StreamDeflater {
    private let compressor: ZlibCompressor

    /// `level`: zlib's 1 (fastest) … 9 (smallest). The default, 6, is zlib's.
    public init(level: Int32 = 6) throws {
        compressor = try ZlibCompressor(
            algorithm: .deflate,
            configuration: ZlibConfiguration(windowSize: 15, compressionLevel: level, memoryLevel: 8, strategy: .default))
    }

    /// The plain octets to take at once so that their compressed unit is at most `maxUnit`, whatever
    /// the data: zlib's worst case for `n` octets is `n + n/4096 + n/16384 + 7`, plus 5 for the
    /// sync flush's empty block.
    public static func plainChunk(forUnit maxUnit: Int) -> Int {
        max(0, (maxUnit - 12) * 4096 / 4097 - maxUnit / 16384 - 1)
    }

    /// Compresses `plain` (at most `plainChunk(forUnit:)` octets) into one unit ending in a sync flush.
    public func compress(_ plain: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        var input = plain
        var output = allocator.buffer(capacity: compressor.maxSize(from: input))
        try compressor.deflate(from: &input, to: &output, flush: .sync)
        precondition(input.readableBytes == 0, "deflate left input behind with room to spare")
        return output
    }
}
