import NIOCore

/// Encodes frames to bytes (spec §3, §4). DATA payloads are not copied: `encode(_:into:)` writes the
/// header and hands the payload back, for the caller to write after it (a vectored write).
/// The encoder writes what it is given; it does not police the spec, so tools can craft bad input.
public enum FrameEncoder {
    /// Writes the 8-octet preface.
    @inlinable
    public static func writePreface(into buffer: inout ByteBuffer) {
        buffer.writeBytes(WireLimits.preface)
    }

    /// Writes `frame` into `buffer`, except the payload of DATA and extension frames, which is returned
    /// so that it can be written next without a copy.
    @inlinable
    @discardableResult
    public static func encode(_ frame: Frame, into buffer: inout ByteBuffer) -> ByteBuffer? {
        writeHeader(length: UInt32(truncatingIfNeeded: frame.payloadLength), type: frame.type, flags: frame.flags,
                    streamID: frame.streamID, into: &buffer)
        switch frame.payload {
        case .data(let bytes, _, _):
            return bytes.readableBytes > 0 ? bytes : nil
        case .extension(_, _, let payload):
            return payload.readableBytes > 0 ? payload : nil
        case .streamOpen(let kind, let metadata, _):
            buffer.writeInteger(kind.rawValue)
            buffer.writeImmutableBuffer(metadata.bytes)
        case .reset(let code, let reason):
            buffer.writeInteger(code.rawValue)
            buffer.writeImmutableBuffer(reason)
        case .windowUpdate(let increment):
            buffer.writeInteger(increment)
        case .ping(let opaque, _):
            buffer.writeInteger(opaque)
        case .goAway(let last, let code, let debug):
            buffer.writeInteger(last.rawValue)
            buffer.writeInteger(code.rawValue)
            buffer.writeImmutableBuffer(debug)
        case .hello(let hello):
            buffer.writeInteger(hello.minVersion)
            buffer.writeInteger(hello.maxVersion)
            for setting in hello.settings {
                buffer.writeInteger(setting.id.rawValue)
                buffer.writeInteger(setting.value)
            }
        case .maxStreams(let maximum):
            buffer.writeInteger(maximum)
        }
        return nil
    }

    /// Writes the whole frame, payload included (a copy for DATA): for tests and tools.
    @inlinable
    public static func encodeWhole(_ frame: Frame, into buffer: inout ByteBuffer) {
        if let payload = encode(frame, into: &buffer) {
            buffer.writeImmutableBuffer(payload)
        }
    }

    /// The frame's bytes in a new buffer.
    public static func bytes(of frame: Frame) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(WireLimits.headerSize + frame.payloadLength)
        encodeWhole(frame, into: &buffer)
        return buffer
    }

    /// Writes a 12-octet header (spec §3) with the reserved octets and R bit zero.
    @inlinable
    public static func writeHeader(length: UInt32, type: FrameType, flags: UInt8, streamID: StreamID, into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(length, type.rawValue, flags, UInt16(0), streamID.rawValue)
    }
}
