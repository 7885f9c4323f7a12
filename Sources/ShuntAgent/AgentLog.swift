import Foundation
import Logging
import ShuntMatch
import ShuntOutput
import ShuntWire

/// How the agent writes its log: `text` (one `time level message key=value …` line, for people) or
/// `json` (one object a line, for a cluster's log collector). Either way a record is one line.
public enum AgentLogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// A swift-log handler that renders each record as one line and hands it to `sink` (standard error
/// in the agent; a collector in tests). Metadata keys are sorted, so lines are stable.
public struct AgentLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public let format: AgentLogFormat
    private let sink: @Sendable (String) -> Void
    private let clock: @Sendable () -> Date

    public init(format: AgentLogFormat, clock: @escaping @Sendable () -> Date = { Date() }, sink: @escaping @Sendable (String) -> Void) {
        self.format = format
        self.clock = clock
        self.sink = sink
    }

    /// A logger whose lines go to standard error through `output`, never written by the thread that
    /// logs: a log collector that falls behind fills the pipe, and a write into a full pipe would stop
    /// the event loop, and with it every connection of the edge (an unauthenticated peer can make the
    /// agent log a line per connection it opens to the tunnel port). When `output` cannot keep up,
    /// lines are dropped and counted, and the count is logged once it catches up (`droppedNotice`).
    public static func standardError(format: AgentLogFormat, level: Logger.Level = .info, output: OutputWriter) -> Logger {
        var logger = Logger(label: "shunt-agent") { _ in
            AgentLogHandler(format: format) { line in output.write(line, to: .standardError, droppable: true) }
        }
        logger.logLevel = level
        return logger
    }

    /// The line that says how many lines `OutputWriter` dropped, in the log's format, for its `notice`.
    public static func droppedNotice(format: AgentLogFormat, clock: @escaping @Sendable () -> Date = { Date() }) -> OutputWriter.Notice {
        { count in
            (.standardError, render(time: clock(), level: .warning, message: "log lines dropped: standard error did not keep up",
                                    fields: ["count": "\(count)"], format: format))
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if let error = event.error { fields["error"] = .string("\(error)") }
        sink(Self.render(time: clock(), level: event.level, message: event.message.description, fields: fields, format: format))
    }

    static func render(time: Date, level: Logger.Level, message: String, fields: Logger.Metadata, format: AgentLogFormat) -> String {
        let stamp = Self.timestamp(time)
        let keys = fields.keys.sorted()
        switch format {
        case .text:
            var line = "\(stamp) \(level) \(message)"
            for key in keys { line += " \(key)=\(textValue(fields[key]!))" }
            return line
        case .json:
            var line = "{\"time\":\(jsonString(stamp)),\"level\":\(jsonString(level.rawValue)),\"message\":\(jsonString(message))"
            for key in keys where !["time", "level", "message"].contains(key) {
                line += ",\(jsonString(key)):\(jsonString(fields[key]!.description))"
            }
            return line + "}"
        }
    }

    private static func textValue(_ value: Logger.Metadata.Value) -> String {
        let text = value.description
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "=" && $0 != "\\" }
        return plain ? text : jsonString(text)
    }

    static func jsonString(_ text: String) -> String { JSONText.quoted(text) }

    /// RFC 3339 in UTC with milliseconds. A format style is a value: no formatter is made per line.
    private static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// What the agent may say about a rule in its log: the rule's flags, with the value of any header
/// that carries a credential replaced by `<redacted N octets>`. A rule may match on
/// `Authorization` or `Cookie`; the log must not become a place to find them.
public enum LogRedaction {
    /// Header names (lowercase) whose values are credentials, and name parts that mark one.
    public static let credentialHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "set-cookie"]
    public static let credentialNameParts = ["token", "secret", "password", "api-key", "apikey", "session"]

    public static func isCredential(headerName name: String) -> Bool {
        let lower = name.lowercased()
        return credentialHeaders.contains(lower) || credentialNameParts.contains { lower.contains($0) }
    }

    public static func describe(_ rule: RuleSpec) -> String {
        if rule.isGlobal { return rule.description }
        let headers = rule.headers.map { condition -> String in
            isCredential(headerName: condition.name)
                ? "--http-header=\(condition.name)=<redacted \(condition.value.utf8.count) octets>"
                : "--http-header=\(condition)"
        }
        return (headers + (rule.path.map { [$0.description] } ?? [])).joined(separator: " ")
    }
}
