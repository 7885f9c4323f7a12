import ArgumentParser
import Foundation
import NIOCore
import ShuntAgent
import ShuntSession
import ShuntTLS

/// `shunt-agent`: the sidecar beside the app. Laptops connect to its tunnel port; the service's
/// traffic arrives at its edge port and goes, request by request, to the app or to a laptop.
/// The signal that asked the agent to stop (0: none yet); set by `recordSignal`, polled by `run`.
nonisolated(unsafe) private var receivedSignal: sig_atomic_t = 0

private func recordSignal(_ number: Int32) {
    receivedSignal = number
}

@main
struct ShuntAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shunt-agent",
        abstract: "The Shunt sidecar: routes a service's requests to the app or to a developer's laptop.",
        discussion: """
            shunt-agent --listen 0.0.0.0:8080 --app 127.0.0.1:9090 --tunnel-listen 0.0.0.0:7443 --certs /etc/shunt
            The Service's targetPort points at --listen; the app keeps listening on --app. Laptops connect \
            to --tunnel-listen with a client certificate from the same Shunt CA (`shunt certs`). Requests no \
            intercept matches go to the app, and so does everything while no laptop is connected.
            """
    )

    @Option(help: ArgumentHelp("Where the service's traffic arrives (HOST:PORT); repeat for several ports, each with its --app.", valueName: "HOST:PORT"))
    var listen: [String] = ["0.0.0.0:8080"]

    @Option(help: ArgumentHelp("The app container's port for each --listen (HOST:PORT).", valueName: "HOST:PORT"))
    var app: [String]

    @Option(name: .customLong("tunnel-listen"), help: ArgumentHelp("Where laptops connect (HOST:PORT).", valueName: "HOST:PORT"))
    var tunnel: String = "0.0.0.0:7443"

    @Option(name: .customLong("admin-listen"), help: ArgumentHelp("The admin port for probes: GET /healthz and /readyz (HOST:PORT).", valueName: "HOST:PORT"))
    var admin: String = "0.0.0.0:9901"

    @Option(help: ArgumentHelp("Certificate folder with ca.pem, agent.pem and agent-key.pem.", valueName: "DIR"))
    var certs: String?

    @Option(help: "The service's name, as `shunt list` and `agent.info` show it.")
    var service: String = "app"

    @Option(help: ArgumentHelp("An environment variable of the app to report to laptops (`shunt intercept --env-file`); repeatable.", valueName: "NAME=VALUE"))
    var env: [String] = []

    @Option(name: .customLong("env-prefix"), help: ArgumentHelp(
        "Also report each variable of the agent's own environment whose name starts with PREFIX, without it (how `shunt inject` hands over the app's env and envFrom).",
        valueName: "PREFIX"))
    var envPrefix: String?

    @Option(help: "Seconds a request head may take to arrive (slowloris bound).")
    var headerTimeout: Int = 10

    @Option(help: "Seconds an idle keep-alive client connection is kept.")
    var idleTimeout: Int = 60

    @Option(help: "Seconds a graceful shutdown (SIGTERM) waits for requests in progress and laptops' streams.")
    var shutdownDeadline: Int = 10

    func validate() throws {
        guard listen.count == app.count else {
            throw ValidationError("give one --app per --listen (\(listen.count) --listen, \(app.count) --app)")
        }
    }

    func run() async throws {
        let log: @Sendable (String) -> Void = { line in
            FileHandle.standardError.write(Data("shunt-agent: \(line)\n".utf8))
        }
        let edges = try listen.map { try HostPort(parsing: $0) }
        let apps = try app.map { text -> SocketAddress in
            let endpoint = try HostPort(parsing: text)
            return try SocketAddress.makeAddressResolvingHost(endpoint.host, port: endpoint.port)
        }
        let tunnelAddress = try HostPort(parsing: tunnel)
        var configuration = AgentServer.Configuration(appAddresses: apps)
        configuration.edgeHost = edges[0].host
        configuration.edgePorts = edges.map(\.port)
        configuration.tunnelHost = tunnelAddress.host
        configuration.tunnelPort = tunnelAddress.port
        configuration.service = service
        let adminAddress = try HostPort(parsing: admin)
        configuration.adminHost = adminAddress.host
        configuration.adminPort = adminAddress.port
        configuration.edge.headerReadTimeout = .seconds(Int64(headerTimeout))
        configuration.edge.idleTimeout = .seconds(Int64(idleTimeout))
        if let envPrefix, !envPrefix.isEmpty {
            for (name, value) in ProcessInfo.processInfo.environment where name.hasPrefix(envPrefix) && name.count > envPrefix.count {
                configuration.environment[String(name.dropFirst(envPrefix.count))] = value
            }
        }
        // An explicit --env wins over a prefixed variable of the same name.
        for entry in env {
            guard let equals = entry.firstIndex(of: "=") else { throw ValidationError("--env \(entry): expected NAME=VALUE") }
            configuration.environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        // SIGTERM (Kubernetes stopping the pod) and SIGINT: a graceful shutdown, then exit 0. Set up
        // before any thread starts, so that every thread leaves the signals to the dispatch source.
        signal(SIGTERM, recordSignal)
        signal(SIGINT, recordSignal)
        let folder = certs.map { CertificateFolder(URL(fileURLWithPath: $0)) } ?? .defaultFolder
        let server = try await AgentServer.start(configuration, certificates: folder, log: log)
        log("tunnel on \(tunnelAddress.host):\(server.tunnelPort); admin on \(adminAddress.host):\(server.adminPort ?? 0); edge on " +
            zip(server.edgePorts, app).map { "\(edges[0].host):\($0) → app \($1)" }.joined(separator: ", "))
        while receivedSignal == 0 { try await Task.sleep(for: .milliseconds(100)) }
        log("signal \(receivedSignal): shutting down (deadline \(shutdownDeadline) s)")
        await server.shutdown(deadline: .seconds(Int64(shutdownDeadline)))
    }
}

