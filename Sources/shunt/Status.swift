import ArgumentParser
import Foundation
import ShuntEndpoint
import ShuntTLS

/// `shunt status`: what this machine is connected to: the intercepts its `shunt intercept`
/// processes hold, each one's agent and tunnel state, and the identity its certificate gives.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the intercepts this machine holds, their agents and tunnel state, and your identity.")

    @Option(help: ArgumentHelp("Certificate folder (default: the `shunt certs init` folder).", valueName: "DIR"))
    var certs: String?

    @Option(help: ArgumentHelp("text, or json.", valueName: "FORMAT"))
    var output = "text"

    func validate() throws {
        guard OutputFormat(rawValue: output) != nil else { throw ValidationError("--output must be text or json, not \(output)") }
    }

    struct Report: Codable {
        var identity: Identity?
        var intercepts: [InterceptStatus]
    }

    struct Identity: Codable {
        var name: String
        var certificates: String
        /// RFC 3339, UTC.
        var validUntil: String
        var expired: Bool
    }

    func run() throws {
        let folder = certs.map { CertificateFolder(URL(fileURLWithPath: $0)) } ?? .defaultFolder
        var identity: Identity?
        if let certificate = try? folder.loadCertificate(.client) {
            let formatter = ISO8601DateFormatter()
            identity = Identity(name: PeerVerifier.commonName(certificate.subject) ?? certificate.subject.description,
                                certificates: folder.url.path, validUntil: formatter.string(from: certificate.notValidAfter),
                                expired: certificate.notValidAfter < Date())
        }
        let report = Report(identity: identity, intercepts: InterceptStatus.readAll())
        if output == OutputFormat.json.rawValue {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        if let identity {
            print("You are \(identity.name) (certificate in \(identity.certificates), \(identity.expired ? "EXPIRED on" : "valid until") \(identity.validUntil)).")
        } else if !report.intercepts.isEmpty {
            // They were started with --certs elsewhere: say whose they are rather than what to run.
            let names = Set(report.intercepts.map(\.identity)).sorted().joined(separator: ", ")
            print("No client certificate in \(folder.url.path); the intercepts below run as \(names).")
        } else {
            print("No client certificate in \(folder.url.path): run `shunt certs init` (or pass --certs DIR).")
        }
        guard !report.intercepts.isEmpty else {
            print("No intercepts run on this machine.")
            return
        }
        let rows = [["NAME", "OWNER", "SERVICE", "AGENT", "LOCAL", "STATE", "SINCE", "REQUESTS", "PID", "RULE"]] + report.intercepts.map { status in
            [status.name, status.identity, status.service, status.agent, status.local, status.state.rawValue + (status.trouble.map { " (\($0))" } ?? ""),
             status.since, "\(status.requests)", "\(status.pid)", status.rule]
        }
        print(List.table(rows), terminator: "")
        for status in report.intercepts {
            if let header = status.header { print("\(status.name): send the header  \(header)") }
        }
    }
}
