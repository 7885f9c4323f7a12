import Foundation
import ShuntMatch
import ShuntSession
import ShuntWire

/// The `tap` control call (spec §11.1): an operator's live view of the agent's frame log. The
/// request is one JSON body as for every call; the answer is a stream of JSON lines: the response
/// envelope first, then one record per frame until the caller resets the stream.
public enum TapCall {
    public static let name = "tap"

    /// The most DATA octets a record may show (`payload` above this is an invalid request).
    public static let maxPayload = 4096
    /// The longest record line an agent writes, and the longest a client accepts: a frame's fields
    /// and at most `maxPayload` octets shown as escaped text or hex.
    public static let maxLineLength = 64 << 10

    public enum Format: String, Codable, Hashable, Sendable {
        /// Each record carries the frame in the text form `shunt-wire decode` prints.
        case text
        /// Each record carries the frame's members as `shunt-wire decode --output json` writes them.
        case json
    }

    public struct Request: Codable, Hashable, Sendable {
        /// A session id (`alice#3`: that session) or a peer name (`alice`: each of its sessions);
        /// nil: every session (but those that tap: they are never tapped).
        public var session: String?
        /// Only frames of this stream id (0: the session's own frames); nil: every stream.
        public var stream: UInt32?
        /// DATA octets shown per frame, at most `maxPayload`; nil or 0: none.
        public var payload: Int?
        public var format: Format?

        public init(session: String? = nil, stream: UInt32? = nil, payload: Int? = nil, format: Format? = nil) {
            self.session = session
            self.stream = stream
            self.payload = payload
            self.format = format
        }

        /// Why the agent refuses this request, or nil.
        public var problem: String? {
            if let payload, !(0...TapCall.maxPayload).contains(payload) {
                return "payload \(payload): expected 0 to \(TapCall.maxPayload) octets"
            }
            if let session, session.isEmpty { return "session: expected a session id (NAME#N) or a peer name" }
            return nil
        }

        /// Whether a frame on `stream` of session `id` (whose peer is `peer`) is wanted.
        public func wants(session id: String, peer: String, stream: StreamID) -> Bool {
            if let session, session != id, session != peer { return false }
            if let wanted = self.stream, wanted != stream.rawValue { return false }
            return true
        }
    }

    /// The result of the envelope that opens a tap.
    public struct Opened: Codable, Hashable, Sendable {
        /// The tapping session's own id. Sessions that tap are never tapped: their frames carry
        /// records, and two taps would feed each other.
        public var session: String
        /// The ids of the sessions open when the tap started (the tapper's included).
        public var sessions: [String]

        public init(session: String, sessions: [String]) {
            self.session = session
            self.sessions = sessions
        }
    }

    /// A record line for one frame of session `session`, without the newline. Frames the agent
    /// received are `>` (laptop to agent), frames it sent `<`, as `shunt-wire decode` marks them.
    public static func frameLine(session: String, direction: SessionHandler.FrameDirection, frame: Frame,
                                 format: Format, payload: Int) -> String {
        let way: WireDirection = direction == .received ? .clientToServer : .serverToClient
        let options = WireTextFormat.Options(payloadLimit: payload, offsets: false)
        switch format {
        case .text:
            return WireJSONFormat.object([("session", WireJSONFormat.string(session)),
                                          ("text", WireJSONFormat.string(way.rawValue + " " + WireTextFormat.body(frame, options: options)))])
        case .json:
            return WireJSONFormat.object([("session", WireJSONFormat.string(session)), ("direction", WireJSONFormat.string(way.name))]
                                         + WireJSONFormat.members(frame, options: options))
        }
    }

    /// The record saying `count` records were dropped here because the tapper read too slowly.
    public static func droppedLine(_ count: Int) -> String { "{\"dropped\":\(count)}" }

    /// One record of a tap, as a client reads it.
    public enum Record: Hashable, Sendable {
        /// A frame of `session`; `text` in the text format; `line` is the record as it arrived.
        case frame(session: String, text: String?, line: String)
        /// This many records were dropped at this point.
        case dropped(Int)

        public init?(line: String) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            if let count = object["dropped"] as? Int {
                self = .dropped(count)
            } else if let session = object["session"] as? String {
                self = .frame(session: session, text: object["text"] as? String, line: line)
            } else {
                return nil
            }
        }

        /// The line `shunt-wire tap` prints: the text form (which `shunt-wire encode` reads back;
        /// the session follows as a comment), or the JSON record as it arrived.
        public func printed(as format: Format) -> String {
            switch self {
            case .frame(let session, let text, let line):
                guard format == .text, let text else { return line }
                return text + "  # " + session
            case .dropped(let count):
                return format == .text ? "# dropped \(count) records: the tap read too slowly" : TapCall.droppedLine(count)
            }
        }
    }

    /// The envelope that opens a tap on success.
    public typealias Response = InterceptCalls.Response<Opened>
}
