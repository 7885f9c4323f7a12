import NIOCore

extension Frame: CustomStringConvertible {
    /// One line a person can read: `DATA stream=3 flags=FIN length=5 "hello"`.
    public var description: String {
        var line = "\(type.name) stream=\(streamID)"
        let flagNames = Self.flagNames(type: type, flags: flags)
        if !flagNames.isEmpty { line += " flags=" + flagNames }
        switch payload {
        case .data(let bytes, _, _):
            line += " length=\(bytes.readableBytes) " + Self.preview(bytes, limit: 32)
        case .streamOpen(let kind, let metadata, _):
            line += " kind=\(kind.name)"
            for entry in metadata {
                line += " \(entry.keyString)=" + Self.preview(entry.value, limit: 64)
            }
        case .reset(let code, let reason):
            line += " code=\(code)"
            if reason.readableBytes > 0 { line += " reason=" + Self.preview(reason, limit: 256) }
        case .windowUpdate(let increment):
            line += " increment=\(increment)"
        case .ping(let opaque, _):
            line += " opaque=0x" + String(opaque, radix: 16)
        case .goAway(let last, let code, let debug):
            line += " last_stream_id=\(last) code=\(code)"
            if debug.readableBytes > 0 { line += " debug=" + Self.preview(debug, limit: 1024) }
        case .hello(let hello):
            line += " versions=\(hello.minVersion)..\(hello.maxVersion)"
            for setting in hello.settings { line += " \(setting.id.name)=\(setting.value)" }
        case .maxStreams(let maximum):
            line += " maximum=\(maximum)"
        case .extension(_, _, let payload):
            line += " length=\(payload.readableBytes)"
        }
        return line
    }

    static func flagNames(type: FrameType, flags: UInt8) -> String {
        var names: [String] = []
        switch type {
        case .data:
            if flags & FrameFlags.fin != 0 { names.append("FIN") }
            if flags & FrameFlags.compressed != 0 { names.append("COMPRESSED") }
        case .streamOpen:
            if flags & FrameFlags.fin != 0 { names.append("FIN") }
        case .ping:
            if flags & FrameFlags.ack != 0 { names.append("ACK") }
        default:
            if flags != 0 { names.append("0x" + hex2(flags)) }
        }
        return names.joined(separator: "|")
    }

    /// UTF-8 text in quotes (with `\r \n \t \" \\` escaped), otherwise hex; cut at `limit` octets with `…`.
    static func preview(_ bytes: ByteBuffer, limit: Int) -> String {
        let view = bytes.readableBytesView.prefix(limit)
        let more = bytes.readableBytes > limit ? "…" : ""
        if let text = String(validating: view, as: UTF8.self),
           text.unicodeScalars.allSatisfy({ $0.value >= 0x20 || $0 == "\t" || $0 == "\r" || $0 == "\n" }) {
            var quoted = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\r": quoted += "\\r"
                case "\n": quoted += "\\n"
                case "\t": quoted += "\\t"
                case "\"": quoted += "\\\""
                case "\\": quoted += "\\\\"
                default: quoted.unicodeScalars.append(scalar)
                }
            }
            return quoted + "\"" + more
        }
        return "0x" + view.map(hex2).joined() + more
    }
}
