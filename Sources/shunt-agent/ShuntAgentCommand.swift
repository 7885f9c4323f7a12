import ArgumentParser
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import ShuntAgent
import ShuntOutput
import ShuntSession
import ShuntTLS

/// `shunt-agent`: the sidecar beside the app. Laptops connect to its tunnel port; the service's
/// traffic arrives at its edge port and goes, request by request, to the app or to a laptop.
@main
struct ShuntAgentMain {
    /// The options that may come from `SHUNT_…` variables (see `EnvironmentArguments`).
    static let environmentOptions: [EnvironmentArguments.Option] = [
        .init("listen", repeatable: true), .init("app", repeatable: true), .init("tunnel-listen"), .init("admin-listen"),
        .init("certs"), .init("tls-cert"), .init("tls-key"), .init("client-ca"), .init("service"), .init("env", repeatable: true),
        .init("env-prefix"), .init("header-timeout"), .init("idle-timeout"), .init("shutdown-deadline"), .init("log-format"), .init("log-level"),
        .init("operator", repeatable: true), .init("edge-io"),
    ]

    static func main() async {
        ProcessMemory.keepFreedMemoryForReuse()
        let arguments = EnvironmentArguments.merge(arguments: Array(CommandLine.arguments.dropFirst()),
                                                   environment: ProcessInfo.processInfo.environment, options: environmentOptions)
        await ShuntAgentCommand.main(arguments)
    }
}

struct ShuntAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shunt-agent",
        abstract: "The Shunt sidecar: routes a service's requests to the app or to a developer's laptop.",
        discussion: """
            shunt-agent --listen 0.0.0.0:8080 --app 127.0.0.1:9090 --tunnel-listen 0.0.0.0:7443 --certs /etc/shunt
            The Service's targetPort points at --listen; the app keeps listening on --app. Laptops connect \
            to --tunnel-listen with a client certificate from the same Shunt CA (`shunt certs`). Requests no \
            intercept matches go to the app, and so does everything while no laptop is connected.

            Every option can also be set in the environment, as SHUNT_ and its name in capitals with \
            underscores (SHUNT_TUNNEL_LISTEN=0.0.0.0:7443); repeatable ones take a comma-separated list \
            (SHUNT_LISTEN, SHUNT_APP, SHUNT_ENV, SHUNT_OPERATOR). The command line wins.

            SIGTERM or SIGINT: stop accepting, let requests in progress finish, GOAWAY to laptops, exit 0 \
            within --shutdown-deadline.
            """
    )

    @Option(help: ArgumentHelp("Where the service's traffic arrives (HOST:PORT); repeat for several ports, each with its --app.", valueName: "HOST:PORT"))
    var listen: [String] = ["0.0.0.0:8080"]

    @Option(help: ArgumentHelp("The app container's port for each --listen (HOST:PORT).", valueName: "HOST:PORT"))
    var app: [String]

    @Option(name: .customLong("tunnel-listen"), help: ArgumentHelp("Where laptops connect (HOST:PORT).", valueName: "HOST:PORT"))
    var tunnel: String = "0.0.0.0:7443"

    @Option(name: .customLong("admin-listen"), help: ArgumentHelp("The admin port: GET /healthz, /readyz (probes) and /metrics (Prometheus) (HOST:PORT).", valueName: "HOST:PORT"))
    var admin: String = "0.0.0.0:9901"

    @Option(help: ArgumentHelp("Certificate folder with ca.pem, agent.pem and agent-key.pem (default: the `shunt certs` folder).", valueName: "DIR"))
    var certs: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("The agent's certificate (PEM), instead of agent.pem in the folder.", valueName: "FILE"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The agent's private key (PEM), instead of agent-key.pem in the folder.", valueName: "FILE"))
    var tlsKey: String?

    @Option(name: .customLong("client-ca"), help: ArgumentHelp("The CA that signs laptops' certificates (PEM), instead of ca.pem in the folder.", valueName: "FILE"))
    var clientCA: String?

    @Option(help: "The service's name, as `shunt list` and `agent.info` show it.")
    var service: String = "app"

    @Option(help: ArgumentHelp("An environment variable of the app to report to laptops (`shunt intercept --env-file`); repeatable.", valueName: "NAME=VALUE"))
    var env: [String] = []

    @Option(name: .customLong("env-prefix"), help: ArgumentHelp(
        "Also report each variable of the agent's own environment whose name starts with PREFIX, without it (how `shunt inject` hands over the app's env and envFrom).",
        valueName: "PREFIX"))
    var envPrefix: String?

    @Option(name: .customLong("operator"), help: ArgumentHelp(
        "A client certificate name allowed operator calls (`shunt-wire tap`: the live frame log); repeatable.", valueName: "NAME"))
    var operators: [String] = []

    @Option(help: "Seconds a request head may take to arrive (slowloris bound).")
    var headerTimeout: Int = 10

    @Option(help: "Seconds an idle keep-alive client connection is kept.")
    var idleTimeout: Int = 60

    @Option(help: "Seconds a graceful shutdown (SIGTERM) waits for requests in progress and laptops' streams.")
    var shutdownDeadline: Int = 10

    @Option(name: .customLong("edge-io"), help: ArgumentHelp(
        "What carries the edge's HTTP/1.1 connections: direct (an epoll loop of its own, the default) or nio (SwiftNIO's channels).",
        valueName: "IO"))
    var edgeIO: String = EdgeConfiguration.EdgeIO.direct.rawValue

    @Option(help: ArgumentHelp("How log lines look: text or json (one object a line).", valueName: "FORMAT"))
    var logFormat: String = "text"

    @Option(help: ArgumentHelp("The least severe log level written: trace, debug, info, notice, warning, error, critical.", valueName: "LEVEL"))
    var logLevel: String = "info"

    func validate() throws {
        guard listen.count == app.count else {
            throw ValidationError("give one --app per --listen (\(listen.count) --listen, \(app.count) --app)")
        }
        guard EdgeConfiguration.EdgeIO(rawValue: edgeIO) != nil else {
            throw ValidationError("--edge-io \(edgeIO): expected direct or nio")
        }
        guard AgentLogFormat(rawValue: logFormat) != nil else { throw ValidationError("--log-format \(logFormat): expected text or json") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel): expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for (flag, seconds) in [("--header-timeout", headerTimeout), ("--idle-timeout", idleTimeout), ("--shutdown-deadline", shutdownDeadline)] where seconds <= 0 {
            throw ValidationError("\(flag) \(seconds): expected a number of seconds above 0")
        }
    }

    func run() async throws {
        let format = AgentLogFormat(rawValue: logFormat)!
        // The log is written off the event loop; what is queued goes out before the process ends.
        let output = OutputWriter(notice: AgentLogHandler.droppedNotice(format: format))
        defer { output.close() }
        let logger = AgentLogHandler.standardError(format: format, level: Logger.Level(rawValue: logLevel)!, output: output)
        let edges = try listen.map { try HostPort(parsing: $0) }
        let apps = try app.map { text -> SocketAddress in
            let endpoint = try HostPort(parsing: text)
            return try SocketAddress.makeAddressResolvingHost(endpoint.host, port: endpoint.port)
        }
        let tunnelAddress = try HostPort(parsing: tunnel)
        var configuration = AgentServer.Configuration(appAddresses: apps)
        configuration.edgeHost = edges[0].host
        configuration.edgeHosts = edges.map(\.host)
        configuration.edgePorts = edges.map(\.port)
        configuration.tunnelHost = tunnelAddress.host
        configuration.tunnelPort = tunnelAddress.port
        configuration.service = service
        configuration.operators = Set(operators)
        let adminAddress = try HostPort(parsing: admin)
        configuration.adminHost = adminAddress.host
        configuration.adminPort = adminAddress.port
        configuration.edge.headerReadTimeout = .seconds(Int64(headerTimeout))
        configuration.edge.idleTimeout = .seconds(Int64(idleTimeout))
        configuration.edge.io = EdgeConfiguration.EdgeIO(rawValue: edgeIO)!
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
        var folder = certs.map { CertificateFolder(URL(fileURLWithPath: $0)) } ?? .defaultFolder
        if let tlsCert { folder.overrides[.agent] = tlsCert }
        if let tlsKey { folder.overrides[.agentKey] = tlsKey }
        if let clientCA { folder.overrides[.ca] = clientCA }
        let server: AgentServer
        do {
            server = try await AgentServer.start(configuration, certificates: folder, logger: logger)
        } catch {
            throw AgentStartFailure(error)
        }
        logger.info("listening", metadata: [
            "tunnel": "\(tunnelAddress.host):\(server.tunnelPort)", "admin": "\(adminAddress.host):\(server.adminPort ?? 0)",
            "edge": .string(zip(zip(edges, server.edgePorts), app).map { "\($0.0.host):\($0.1)→\($1)" }.joined(separator: ",")),
            "service": .string(service),
        ])
        let agent = AgentService(server: server, deadline: .seconds(Int64(shutdownDeadline)), logger: logger)
        let group = ServiceGroup(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        try await group.run()
    }
}

/// The agent under swift-service-lifecycle: runs until a graceful shutdown (SIGTERM, SIGINT), then
/// drains within the deadline.
struct AgentService: Service {
    let server: AgentServer
    let deadline: TimeAmount
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down on a signal", metadata: ["deadline_s": "\(deadline.nanoseconds / 1_000_000_000)"])
        await server.shutdown(deadline: deadline)
    }
}

/// Why the agent could not start, in one sentence: a busy port, an unreadable certificate.
struct AgentStartFailure: Error, CustomStringConvertible {
    let description: String

    init(_ error: Error) {
        if let error = error as? IOError, error.errnoCode == EADDRINUSE {
            description = "a port the agent must listen on is in use: \(error)"
        } else if let error = error as? CertificateFolderError {
            description = "cannot load the agent's certificates: \(error)"
        } else {
            description = "cannot start: \(error)"
        }
    }
}
