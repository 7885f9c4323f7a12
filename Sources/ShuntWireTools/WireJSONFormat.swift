import NIOCore
import ShuntWire

/// `shunt-wire decode --output json`: one JSON object a line (JSON Lines), keys in a fixed order.
///
///     {"offset":8,"direction":"client","type":"HELLO","type_code":6,"stream":0,"flags":0,"flag_names":[],"length":10,"min_version":1,…}
///     {"offset":55,"error":"FRAME_TOO_LARGE","code":"FRAME_SIZE_ERROR","detail":"…","skipped":16396,"resumed":true}
public enum WireJSONFormat {
    public static func line(_ record: WireRecord, options: WireTextFormat.Options = WireTextFormat.Options()) -> String {
        var object: [(String, String)] = [("offset", "\(record.offset)")]
        if let direction = record.direction { object.append(("direction", string(direction.name))) }
        switch record.content {
        case .preface:
            object.append(("type", string("PREFACE")))
            object.append(("length", "\(record.bytes.readableBytes)"))
        case .frame(let frame):
            object += members(frame, options: options)
        case .malformed(let error, let resumed):
            object += [
                ("error", string(error.malformation.rawValue)), ("code", error.code.map { string($0.description) } ?? "null"),
                ("detail", string(error.detail)), ("skipped", "\(record.bytes.readableBytes)"), ("resumed", resumed ? "true" : "false"),
                ("raw", string(WireBytesText.hex(record.bytes.readableBytesView.prefix(options.rawLimit ?? Int.max)))),
            ]
        }
        return self.object(object)
    }

    /// A frame's members, in the order `line` writes them: `type`, `type_code`, `stream`, `flags`,
    /// `flag_names`, `length`, then the type's fields.
    public static func members(_ frame: Frame, options: WireTextFormat.Options = WireTextFormat.Options()) -> [(String, String)] {
        [
            ("type", string(frame.type.name)), ("type_code", "\(frame.type.rawValue)"), ("stream", "\(frame.streamID.rawValue)"),
            ("flags", "\(frame.flags)"),
            ("flag_names", "[" + WireTextFormat.flagNames(frame.type).filter { frame.flags & $0.1 != 0 }.map { string($0.0) }.joined(separator: ",") + "]"),
            ("length", "\(frame.payloadLength)"),
        ] + fields(frame, options: options)
    }

    /// `{"name":value,…}` from members whose values are JSON already.
    public static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    static func fields(_ frame: Frame, options: WireTextFormat.Options) -> [(String, String)] {
        switch frame.payload {
        case .data(let bytes, _, _):
            return payload(bytes, name: "data", limit: options.payloadLimit)
        case .streamOpen(let kind, let metadata, _):
            let entries = metadata.map { entry in
                "[" + string(entry.keyString) + "," + bytesField(entry.value, limit: nil) + "]"
            }
            return [("kind", string(kind.name)), ("kind_code", "\(kind.rawValue)"), ("metadata", "[" + entries.joined(separator: ",") + "]")]
        case .reset(let code, let reason):
            return [("code", string(code.description)), ("code_value", "\(code.rawValue)"), ("reason", bytesField(reason, limit: nil))]
        case .windowUpdate(let increment):
            return [("increment", "\(increment)")]
        case .ping(let opaque, _):
            return [("opaque", string(WireBytesText.hex(withUnsafeBytes(of: opaque.bigEndian) { Array($0) })))]
        case .goAway(let last, let code, let debug):
            return [("last_stream_id", "\(last.rawValue)"), ("code", string(code.description)), ("code_value", "\(code.rawValue)"),
                    ("debug", bytesField(debug, limit: nil))]
        case .hello(let hello):
            let settings = hello.settings.map { "[" + string($0.id.name) + ",\($0.id.rawValue),\($0.value)]" }
            return [("min_version", "\(hello.minVersion)"), ("max_version", "\(hello.maxVersion)"), ("settings", "[" + settings.joined(separator: ",") + "]")]
        case .maxStreams(let maximum):
            return [("maximum", "\(maximum)")]
        case .extension(_, _, let bytes):
            return payload(bytes, name: "payload", limit: options.payloadLimit)
        }
    }

    /// A payload shown as hex (`data_hex`), plus `data_text` when it is printable, cut at `limit`.
    static func payload(_ bytes: ByteBuffer, name: String, limit: Int?) -> [(String, String)] {
        guard bytes.readableBytes > 0, limit != 0 else { return [] }
        let shown = Array(bytes.readableBytesView.prefix(limit ?? Int.max))
        var result = [(name + "_hex", string(WireBytesText.hex(shown)))]
        if let text = WireBytesText.printableText(shown) { result.append((name + "_text", string(text))) }
        if shown.count < bytes.readableBytes { result.append((name + "_truncated", "true")) }
        return result
    }

    /// Text when printable, else `{"hex":"…"}`.
    static func bytesField(_ bytes: ByteBuffer, limit: Int?) -> String {
        let shown = Array(bytes.readableBytesView.prefix(limit ?? Int.max))
        if let text = WireBytesText.printableText(shown) { return string(text) }
        return "{\"hex\":" + string(WireBytesText.hex(shown)) + "}"
    }

    /// A JSON string literal (RFC 8259 escapes).
    public static func string(_ text: String) -> String { JSONText.quoted(text) }
}
