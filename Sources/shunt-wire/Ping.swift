import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTLS
import ShuntWireTools
import X509

/// `shunt-wire ping`: is this agent healthy, and what does it say about itself?
struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Handshake with an agent, show its version, settings and certificates, and time PINGs.",
        discussion: """
            shunt-wire ping --agent 10.0.0.5:7443 --certs ~/.config/shunt/certs --count 10
            Exit status: 0 when the agent is healthy (handshake, HELLO and every PING answered), 1 when \
            the session failed after the handshake, 2 when it could not be set up (the message says which \
            side refused what).
            """
    )

    @Option(help: ArgumentHelp("The agent's tunnel port.", valueName: "HOST:PORT")) var agent: String
    @Option(help: ArgumentHelp("Certificate folder with ca.pem, client.pem and client-key.pem (default: shunt's).", valueName: "DIR"))
    var certs: String?
    @Option(help: "PING round trips to time.") var count = AgentProbe.Options.defaultCount
    @Option(help: "Seconds between PINGs.") var interval = Double(AgentProbe.Options.defaultInterval.nanoseconds) / 1e9
    @Option(help: "Seconds the whole probe may take.") var timeout = Int(AgentProbe.Options.defaultDeadline.nanoseconds / 1_000_000_000)

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count is at least 1") }
        guard interval >= 0, timeout >= 1 else { throw ValidationError("--interval is at least 0 and --timeout at least 1") }
        // The agent's PING budget (spec §8) is 100 per 10 s; a faster probe would be told to calm down.
        if count >= AgentProbe.Options.agentPingBudget && interval < 10.0 / Double(AgentProbe.Options.agentPingBudget) {
            throw ValidationError("\(count) PINGs at --interval \(interval) s would exceed the agent's budget of \(AgentProbe.Options.agentPingBudget) PINGs per 10 s; use --interval 0.1 or more")
        }
    }

    func run() async throws {
        let address: HostPort
        do {
            address = try HostPort(parsing: agent)
        } catch {
            Say.error("ping", "\(error)")
            throw ExitCode(2)
        }
        let folder = certs.map { CertificateFolder(URL(fileURLWithPath: $0)) } ?? .defaultFolder
        let endpoint: ShuntTLSEndpoint
        let authority: Certificate?
        do {
            endpoint = try ShuntTLSEndpoint.developer(folder: folder)
            authority = try? folder.loadCertificate(.ca)
        } catch {
            Say.error("ping", "\(error)")
            throw ExitCode(2)
        }
        var options = AgentProbe.Options()
        options.count = count
        options.interval = .nanoseconds(Int64(interval * 1e9))
        options.deadline = .seconds(Int64(timeout))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let report: AgentProbe.Report
        do {
            report = try await AgentProbe(endpoint: endpoint, authority: authority, options: options).run(host: address.host, port: address.port, group: group)
            try? await group.shutdownGracefully()
        } catch {
            try? await group.shutdownGracefully()
            Say.error("ping", "agent \(agent): \(error)")
            throw ExitCode(2)
        }
        print(report.text)
        if !report.healthy { throw ExitCode(1) }
    }
}
