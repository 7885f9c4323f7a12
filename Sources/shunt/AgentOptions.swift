import ArgumentParser
import Foundation
import NIOPosix
import ShuntEndpoint
import ShuntSession
import ShuntTLS

/// `--agent HOST:PORT` and `--certs DIR`, shared by the commands that talk to an agent.
struct AgentOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The agent's address (its pod IP or a port-forward). Without it, every replica's agent of the service is found with kubectl.",
        valueName: "HOST:PORT"))
    var agent: String?

    @OptionGroup var certs: Certs.Folder

    /// The agent's address, or exit status 2 with what to do instead.
    func address(for command: String) throws -> HostPort {
        guard let agent else {
            throw CommandFailure.exit(command, "pass the agent's address with --agent HOST:PORT", status: 2)
        }
        do {
            return try HostPort(parsing: agent)
        } catch {
            throw CommandFailure.exit(command, "--agent \(error.description)", status: 2)
        }
    }

    /// Our side of mutual TLS, from the certificate folder.
    func endpoint(for command: String) throws -> ShuntTLSEndpoint {
        let endpoint: ShuntTLSEndpoint
        do {
            endpoint = try ShuntTLSEndpoint.developer(folder: certs.folder)
        } catch let error as CertificateFolderError {
            throw CommandFailure.exit(command, "\(error)")
        } catch {
            throw CommandFailure.exit(command, "cannot load your certificate from \(certs.folder.url.path): \(error)")
        }
        // Said here, before connecting: the agent can only answer an expired certificate with a TLS alert.
        if endpoint.identity.notValidAfter < Date() {
            let formatter = ISO8601DateFormatter()
            throw CommandFailure.exit(command, """
                your client certificate \(certs.folder.path(.client)) (\(endpoint.identity.name)) expired on \
                \(formatter.string(from: endpoint.identity.notValidAfter)); ask whoever holds the Shunt CA for a new one \
                (`shunt certs issue \(endpoint.identity.name)`)
                """)
        }
        return endpoint
    }

    /// Connects for one or a few control calls.
    func connect(group: MultiThreadedEventLoopGroup, for command: String) async throws -> InterceptClient {
        let address = try address(for: command)
        let endpoint = try endpoint(for: command)
        do {
            return try await InterceptClient.connect(host: address.host, port: address.port, endpoint: endpoint, group: group)
        } catch {
            throw CommandFailure.exit(command, "\(error)")
        }
    }
}
