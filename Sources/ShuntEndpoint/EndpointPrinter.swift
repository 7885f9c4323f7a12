import Foundation
import NIOCore
import ShuntMatch
import ShuntOutput

/// Turns `EndpointEvent`s into what the developer reads: sentences (requests and the banner on
/// standard output, trouble on standard error) or, with `--output json`, one JSON object a line on
/// standard output.
public struct EndpointPrinter: Sendable {
    public var format: OutputFormat
    public var service: String
    /// Where streams go on this laptop, `127.0.0.1:8080`.
    public var local: String

    public init(format: OutputFormat, service: String, local: String) {
        self.format = format
        self.service = service
        self.local = local
    }

    public struct Line: Sendable, Hashable {
        public var text: String
        public var isTrouble: Bool
    }

    /// Queues the event's line on `output`; request lines may be dropped when the output does not
    /// keep up (see `OutputQueue`), the others are not.
    public func print(_ event: EndpointEvent, to output: OutputWriter) {
        let line = render(event)
        var droppable = false
        if case .request = event { droppable = true }
        output.write(line.text, to: line.isTrouble && format == .text ? .standardError : .standardOutput, droppable: droppable)
    }

    /// What is said of request lines the output dropped: a sentence on standard error, or a JSON
    /// object among the others.
    public func droppedNotice(_ count: Int) -> (target: OutputQueue.Target, line: String) {
        switch format {
        case .text: (.standardError, "shunt: \(count) request line\(count == 1 ? "" : "s") not shown: the output did not keep up")
        case .json: (.standardOutput, #"{"count":\#(count),"event":"lines-dropped"}"#)
        }
    }

    public func render(_ event: EndpointEvent) -> Line {
        switch format {
        case .text: text(event)
        case .json: Line(text: json(event), isTrouble: false)
        }
    }

    // MARK: Text

    private func text(_ event: EndpointEvent) -> Line {
        switch event {
        case .intercepted(let intercept):
            Line(text: banner(intercept), isTrouble: false)
        case .tunnelLost(let reason, let delay):
            Line(text: "tunnel lost: \(reason); reconnecting in \(Self.seconds(delay))", isTrouble: true)
        case .reconnectFailed(let reason, let delay):
            Line(text: "still no tunnel: \(reason); retrying in \(Self.seconds(delay))", isTrouble: true)
        case .reconnected:
            Line(text: "reconnected; intercept re-registered", isTrouble: true)
        case .localUnreachable(let reason):
            Line(text: "warning: \(reason): callers get 502 until it answers (said once)", isTrouble: true)
        case .localReachable(let address):
            Line(text: "\(address) answers now", isTrouble: true)
        case .localMoved(let from, let to):
            Line(text: "nothing listens on \(from) but \(to) answers: requests go there", isTrouble: true)
        case .request(let line):
            Line(text: line.text(), isTrouble: false)
        case .removed(let name):
            Line(text: "removed intercept \(name)", isTrouble: false)
        case .removalFailed(let name, let reason):
            Line(text: "could not remove intercept \(name): \(reason) (the agent removes it when it sees the session gone)", isTrouble: true)
        }
    }

    /// What was intercepted, where it goes, and for a personal intercept how to send a request to it.
    func banner(_ intercept: InterceptCalls.Intercept) -> String {
        let rule = intercept.rule
        if rule.isGlobal {
            return """
                Intercepting every connection to \(service) port \(intercept.port) (global, raw TCP) as \(intercept.name), owner \(intercept.owner).
                  They go to \(local) on this laptop.
                Press Ctrl-C to stop; the intercept is removed.
                """
        }
        var lines = [
            "Intercepting \(service) port \(intercept.port) as \(intercept.name), owner \(intercept.owner).",
            "  Requests matching \(rule) go to \(local) on this laptop;",
            "  all other requests keep reaching the in-cluster app.",
        ]
        let headers = rule.headers.map { header in
            header.isGenerated ? GeneratedHeader(value: header.value).curlArgument : "-H \(Self.shellQuoted("\(header.name): \(header.value)"))"
        }
        let path = rule.path.flatMap { $0.kind == .regex ? nil : $0.value } ?? "/"
        lines.append("  Try:     curl \(headers.joined(separator: " ")) http://\(service):\(intercept.port)\(path)")
        if let generated = rule.generatedHeader {
            lines.append("  Browser: \(generated.browserExtensionForm)")
        }
        lines.append("Press Ctrl-C to stop; the intercept is removed.")
        return lines.joined(separator: "\n")
    }

    static func seconds(_ amount: TimeAmount) -> String {
        let seconds = Double(amount.nanoseconds) / 1e9
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.2g s", seconds)
    }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    // MARK: JSON

    private struct Record: Encodable {
        var event: String
        var name: String?
        var owner: String?
        var port: Int?
        var rule: RuleSpec?
        var header: InterceptCalls.Header?
        var local: String?
        var from: String?
        var reason: String?
        var retryInMs: Int64?
    }

    private func json(_ event: EndpointEvent) -> String {
        let record: Record
        switch event {
        case .request(let line):
            return line.json
        case .intercepted(let intercept), .reconnected(let intercept):
            let name = if case .intercepted = event { "intercepted" } else { "reconnected" }
            record = Record(event: name, name: intercept.name, owner: intercept.owner, port: intercept.port, rule: intercept.rule,
                            header: intercept.header ?? intercept.rule.generatedHeader.map { .init(name: $0.name, value: $0.value) },
                            local: local)
        case .tunnelLost(let reason, let delay):
            record = Record(event: "tunnel-lost", reason: reason, retryInMs: delay.nanoseconds / 1_000_000)
        case .reconnectFailed(let reason, let delay):
            record = Record(event: "reconnect-failed", reason: reason, retryInMs: delay.nanoseconds / 1_000_000)
        case .localUnreachable(let reason):
            record = Record(event: "local-unreachable", local: local, reason: reason)
        case .localReachable(let address):
            record = Record(event: "local-reachable", local: address)
        case .localMoved(let from, let to):
            record = Record(event: "local-moved", local: to, from: from)
        case .removed(let name):
            record = Record(event: "removed", name: name)
        case .removalFailed(let name, let reason):
            record = Record(event: "removal-failed", name: name, reason: reason)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return (try? encoder.encode(record)).map { String(decoding: $0, as: UTF8.self) } ?? #"{"event":"unprintable"}"#
    }
}
