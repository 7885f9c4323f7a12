import NIOCore
import ShuntWire

/// The compact text form of Shunt frames, one a line, that `shunt-wire decode` prints and
/// `shunt-wire encode` reads back (spec/DEBUGGING.md has the grammar):
///
///     @8 > HELLO stream=0 flags=0 length=10 min_version=1 max_version=1 COMPRESSION=1
///     @38 < DATA stream=2 flags=FIN length=5 data="hello"
///     @55 < !FRAME_TOO_LARGE code=FRAME_SIZE_ERROR detail="…" raw=0x…
public enum WireTextFormat {
    public struct Options: Hashable, Sendable {
        /// Octets of DATA (and extension) payload shown; nil shows all. Other byte fields are bounded
        /// by the spec (reason 256, debug 1,024, metadata values 65,535) and always shown whole.
        public var payloadLimit: Int?
        /// Octets of a malformed region shown in `raw=`; nil shows all.
        public var rawLimit: Int?
        /// Prefix lines with `@offset`.
        public var offsets: Bool

        public init(payloadLimit: Int? = Self.defaultPayloadLimit, rawLimit: Int? = Self.defaultRawLimit, offsets: Bool = true) {
            self.payloadLimit = payloadLimit
            self.rawLimit = rawLimit
            self.offsets = offsets
        }

        /// `shunt-wire decode` shows this many DATA octets unless `--payload` says otherwise.
        public static let defaultPayloadLimit = 32
        /// A malformed region is shown up to this many octets (its header and the start of its payload).
        public static let defaultRawLimit = 64
        /// Everything, so that `encode` gives back the very bytes.
        public static let exact = Options(payloadLimit: nil, rawLimit: nil)
    }

    /// One line for a record, without a newline.
    public static func line(_ record: WireRecord, options: Options = Options()) -> String {
        var line = ""
        if options.offsets { line += "@\(record.offset) " }
        if let direction = record.direction { line += direction.rawValue + " " }
        switch record.content {
        case .preface:
            line += "PREFACE"
        case .frame(let frame):
            line += body(frame, options: options)
        case .malformed(let error, let resumed):
            line += "!" + error.malformation.rawValue
            line += " code=" + (error.code.map { $0.description } ?? "none")
            line += " detail=" + WireBytesText.quote(error.detail)
            if !resumed { line += " resumed=no" }
            line += " raw=" + (record.bytes.readableBytes == 0 ? "\"\"" : "0x" + WireBytesText.hex(record.bytes.readableBytesView.prefix(options.rawLimit ?? Int.max)))
            if let limit = options.rawLimit, record.bytes.readableBytes > limit { line += "…" }
        }
        return line
    }

    /// The frame part of a line: `TYPE stream=… flags=… length=…` and the type's fields.
    public static func body(_ frame: Frame, options: Options = Options()) -> String {
        var line = "\(frame.type.name) stream=\(frame.streamID) flags=\(flagsText(type: frame.type, flags: frame.flags)) length=\(frame.payloadLength)"
        switch frame.payload {
        case .data(let bytes, _, _):
            if bytes.readableBytes > 0 && options.payloadLimit != 0 {
                line += " data=" + WireBytesText.render(bytes, limit: options.payloadLimit)
            }
        case .streamOpen(let kind, let metadata, _):
            line += " kind=" + kind.name
            for entry in metadata {
                line += " meta:" + entry.keyString + "=" + WireBytesText.render(entry.value)
            }
        case .reset(let code, let reason):
            line += " code=" + code.description
            if reason.readableBytes > 0 { line += " reason=" + WireBytesText.render(reason) }
        case .windowUpdate(let increment):
            line += " increment=\(increment)"
        case .ping(let opaque, _):
            line += " opaque=0x" + WireBytesText.hex(withUnsafeBytes(of: opaque.bigEndian) { Array($0) })
        case .goAway(let last, let code, let debug):
            line += " last_stream_id=\(last) code=" + code.description
            if debug.readableBytes > 0 { line += " debug=" + WireBytesText.render(debug) }
        case .hello(let hello):
            line += " min_version=\(hello.minVersion) max_version=\(hello.maxVersion)"
            for setting in hello.settings { line += " \(setting.id.name)=\(setting.value)" }
        case .maxStreams(let maximum):
            line += " maximum=\(maximum)"
        case .extension(_, _, let payload):
            if payload.readableBytes > 0 && options.payloadLimit != 0 {
                line += " payload=" + WireBytesText.render(payload, limit: options.payloadLimit)
            }
        }
        return line
    }

    /// `0`, `FIN`, `FIN|COMPRESSED`, `ACK`, or hex for bits the type does not name.
    public static func flagsText(type: FrameType, flags: UInt8) -> String {
        var names: [String] = []
        var rest = flags
        for (name, bit) in flagNames(type) where flags & bit != 0 {
            names.append(name)
            rest &= ~bit
        }
        if rest != 0 { names.append("0x" + WireBytesText.hex([rest])) }
        return names.isEmpty ? "0" : names.joined(separator: "|")
    }

    /// The flag names a type defines (spec §4), in bit order.
    public static func flagNames(_ type: FrameType) -> [(String, UInt8)] {
        switch type {
        case .data: [("FIN", FrameFlags.fin), ("COMPRESSED", FrameFlags.compressed)]
        case .streamOpen: [("FIN", FrameFlags.fin)]
        case .ping: [("ACK", FrameFlags.ack)]
        default: []
        }
    }
}
