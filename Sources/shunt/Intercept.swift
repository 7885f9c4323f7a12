import ArgumentParser
import Dispatch
import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import ShuntEndpoint
import ShuntKube
import ShuntMatch
import ShuntOutput
import ShuntSession

/// `shunt intercept`: take over a service's traffic (all of it, or only your requests) and serve it
/// from a program on this laptop, until Ctrl-C or until the command given after `--` exits.
struct Intercept: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a service's requests to a program on your laptop.",
        discussion: """
            By default only the requests that carry a header made for you (x-shunt-intercept: ID, \
            printed when the intercept starts) come to your laptop; everyone else keeps reaching the \
            in-cluster version. --http-header=all takes every connection of the port instead.

            Without --agent, shunt finds the service's pods with kubectl (-n NS, --context) and \
            registers the intercept on the agent of every replica, each through its own `kubectl \
            port-forward` to the agent's tunnel port, and looks again every --replica-poll seconds for \
            replicas that appeared (they get the intercept too) or went away.

            Examples:
              shunt intercept orders -n shop --port 8080
              shunt intercept orders --agent 127.0.0.1:7443 --port 8080
              shunt intercept orders --agent 10.0.0.5:7443 --http-path-prefix /api
              shunt intercept orders --agent 10.0.0.5:7443 --http-header x-user=alice
              shunt intercept orders --agent 10.0.0.5:7443 --env-file .env -- npm start

            Each request is logged on one line: time, method, path, status, duration, bytes in and out. \
            If the tunnel to the agent drops, shunt reconnects by itself and registers the same rule \
            again (the same header value). Ctrl-C removes the intercept.
            """
    )

    @Argument(help: "The Kubernetes service to intercept.")
    var service: String

    @Option(help: ArgumentHelp(
        "Your program's port on 127.0.0.1 (or ::1, if it listens there alone), and optionally the service port to take (REMOTE; default: the service's only or first port).",
        valueName: "LOCAL[:REMOTE]"))
    var port = "8080"

    @Option(name: .customLong("http-header"), help: ArgumentHelp(
        "Take only requests with this header (KEY=VALUE or 'KEY: VALUE'; repeat to require several). `auto` (the default) makes a personal header; `all` takes every connection.",
        valueName: "HEADER"))
    var httpHeader: [String] = []

    @Option(name: .customLong("http-path-equal"), help: ArgumentHelp("Take only requests whose path is exactly P.", valueName: "P"))
    var pathEqual: [String] = []

    @Option(name: .customLong("http-path-prefix"), help: ArgumentHelp("Take only requests whose path is P or below it (/api: /api and /api/…, not /apix).", valueName: "P"))
    var pathPrefix: [String] = []

    @Option(name: .customLong("http-path-regex"), help: ArgumentHelp("Take only requests whose whole path matches R.", valueName: "R"))
    var pathRegex: [String] = []

    @OptionGroup var agentOptions: AgentOptions

    @OptionGroup var kubernetes: KubernetesOptions

    @Option(help: ArgumentHelp("Without --agent: seconds between looks for replicas that appeared or went away (0: never).", valueName: "SECONDS"))
    var replicaPoll = 10

    @Option(help: "The intercept's name, unique on the service port (default: SERVICE-YOURNAME).")
    var name: String?

    @Flag(help: "Compress the tunnel's data (DEFLATE) for a slow link. Not for responses that mix secrets with caller-chosen text.")
    var compress = false

    @Option(help: ArgumentHelp("text, or json for one JSON object a line.", valueName: "FORMAT"))
    var output = "text"

    @Option(name: .customLong("env-file"), help: ArgumentHelp(
        "Write the application's environment, as the agent exposes it, to FILE in .env syntax (owner-only).", valueName: "FILE"))
    var envFile: String?

    @Argument(parsing: .postTerminator, help: ArgumentHelp(
        "A program to run with the application's environment (found in this machine's PATH); shunt exits when it does, with its exit status.", valueName: "COMMAND"))
    var command: [String] = []

    func validate() throws {
        _ = try rule()
        guard OutputFormat(rawValue: output) != nil else { throw ValidationError("--output must be text or json, not \(output)") }
        _ = try ports()
    }

    private func ports() throws -> (local: Int, remote: Int?) {
        let parts = port.split(separator: ":", omittingEmptySubsequences: false)
        let numbers = parts.map { Int($0) }
        guard (1...2).contains(parts.count), numbers.allSatisfy({ $0.map { (1...65_535).contains($0) } ?? false }) else {
            throw ValidationError("--port \(port): expected LOCAL or LOCAL:REMOTE, ports 1 to 65535")
        }
        return (numbers[0]!, parts.count == 2 ? numbers[1]! : nil)
    }

    /// The rule the flags give; ShuntMatch's message when they do not make one.
    private func rule() throws -> RuleSpec {
        do {
            return try RuleFlags(httpHeader: httpHeader, pathEqual: pathEqual, pathPrefix: pathPrefix, pathRegex: pathRegex).spec()
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        // Drawn once: every re-registration after a reconnect sends this same rule (and header value).
        let rule = try rule()
        let (local, remote) = try ports()
        let format = OutputFormat(rawValue: output) ?? .text
        // The command is found in this machine's PATH (a pod spec that sets PATH names the image's
        // folders), once, and one that is nowhere is said before anything is registered.
        var executable: String?
        if let name = command.first {
            executable = ChildCommand.executable(name, searchPath: ProcessInfo.processInfo.environment["PATH"])
            if executable == nil { throw CommandFailure.exit("intercept", ChildCommand.notFound(name), status: 127) }
        }
        // Without --agent: every replica's agent, each through its own kubectl port-forward.
        let kubectl = try agentOptions.agent == nil ? locateKubectl() : nil
        let forwards = try kubectl.map(openPortForwards) ?? []
        defer { for forward in forwards { forward.stop() } }
        let endpoint = try agentOptions.endpoint(for: "intercept")
        let printer = EndpointPrinter(format: format, service: service, local: "127.0.0.1:\(local)")
        // The request log is written off the event loop: a slow terminal never holds the traffic.
        // A reader that goes away (`| head`) ends the log, not the intercept.
        signal(SIGPIPE, SIG_IGN)
        let output = OutputWriter(notice: { printer.droppedNotice($0) })
        defer { output.close() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // `shunt status` reads what this process writes about its intercept (until it exits).
        let statusWriter = NIOLockedValueBox<InterceptStatusWriter?>(nil)
        let identity = endpoint.identity.name
        let record: @Sendable (EndpointEvent, String) -> Void = { event, agentText in
            let writer = statusWriter.withLockedValue { writer -> InterceptStatusWriter? in
                if writer == nil, case .intercepted(let intercept) = event {
                    writer = InterceptStatusWriter(InterceptStatus(
                        pid: getpid(), name: intercept.name, service: service, agent: agentText, local: "127.0.0.1:\(local)",
                        rule: intercept.rule.description, header: intercept.header.map { "\($0.name): \($0.value)" }, identity: identity,
                        state: .connected, since: intercept.since))
                }
                return writer
            }
            writer?.observe(event)
        }
        defer { statusWriter.withLockedValue { $0 }?.remove() }
        // One service on this laptop for every replica's session: its warnings and moves are said once.
        let localService = LocalService(port: local, developer: identity) { event in
            printer.print(event, to: output)
            record(event, "")
        }
        let makeSession: @Sendable (HostPort) -> InterceptSession = { [service, name, compress, certificates = agentOptions.certs.folder] address in
            let configuration = EndpointConfiguration(
                service: service, agentHost: address.host, agentPort: address.port, certificates: certificates,
                localPort: local, remotePort: remote,
                name: name ?? EndpointConfiguration.defaultName(service: service, developer: endpoint.identity.name),
                rule: rule, compress: compress, output: format)
            let agentText = "\(address.host):\(address.port)"
            return InterceptSession(configuration: configuration, endpoint: endpoint, group: group, localService: localService, events: { event in
                printer.print(event, to: output)
                record(event, agentText)
            })
        }
        let replicas: [(key: String, replica: ReplicaSessions.Replica)] = try kubectl == nil
            ? [("agent", .init(session: makeSession(agentOptions.address(for: "intercept")), forward: nil))]
            : forwards.map { ($0.pod, .init(session: makeSession(HostPort(host: "127.0.0.1", port: $0.localPort)), forward: $0)) }
        let configuration = replicas[0].replica.session.configuration
        let session = ReplicaSessions(replicas)

        // A signal while starting lets the start finish and then removes the intercept; a second
        // one gives up at once (the agent drops what the session registered when it ends).
        let phase = NIOLockedValueBox(Phase.starting(interrupted: false))
        let signals = Self.handleSignals { number in
            switch phase.withLockedValue({ $0 }) {
            case .starting(interrupted: true):
                Foundation.exit(128 + number)
            case .starting(interrupted: false):
                phase.withLockedValue { $0 = .starting(interrupted: true) }
                session.stop()
            case .running(let child):
                child?.signal(number)
                session.stop()
            }
        }
        defer { withExtendedLifetime(signals) {} }

        do {
            try await session.start()
        } catch let failure as InterceptCalls.Failure {
            throw CommandFailure.exit("intercept", failure.message)
        } catch {
            throw CommandFailure.exit("intercept", "\(error)")
        }

        var child: ChildCommand?
        let interrupted = phase.withLockedValue { if case .starting(true) = $0 { true } else { false } }
        // Said now rather than at the first intercepted request: nothing listens on --port yet. A
        // command after -- starts the service itself, so it is not expected to be there before it.
        // The replicas share the local service, so one probe counts for all of them.
        if !interrupted && command.isEmpty {
            try? await replicas[0].replica.session.forwarder.probe(on: group.next()).get()
        }
        do {
            if !interrupted && (envFile != nil || !command.isEmpty) {
                let info = try await session.agentInfo()
                if info.service != service {
                    CommandFailure.say("intercept", "warning: the agent at \(configuration.agent) serves \(info.service), not \(service)")
                }
                if let envFile {
                    try EnvFile.write(info.env, to: envFile)
                }
                if let executable {
                    let environment = ProcessInfo.processInfo.environment.merging(info.env) { _, application in application }
                    let started = ChildCommand(executable: executable, arguments: Array(command.dropFirst()), environment: environment)
                    try started.start()
                    child = started
                }
            }
        } catch {
            session.stop()
            try? await session.serve()
            try? await group.shutdownGracefully()
            throw CommandFailure.exit("intercept", "\(error)")
        }
        let interruptedMeanwhile = phase.withLockedValue { phase in
            defer { phase = .running(child) }
            if case .starting(true) = phase { return true } else { return false }
        }
        if interruptedMeanwhile { child?.signal(SIGTERM) }
        if let child {
            Task {
                _ = await child.exitStatus()
                session.stop()
            }
        }

        // Replicas that appear get the intercept too; those that go away are dropped.
        let follower = kubectl.flatMap { kubectl in
            replicaPoll > 0 ? Task { [service, replicaPoll] in
                await Self.follow(kubectl, service: service, sessions: session, every: .seconds(replicaPoll), makeSession: makeSession)
            } : nil
        }
        defer { follower?.cancel() }

        var status: Int32 = 0
        do {
            try await session.serve()
        } catch {
            CommandFailure.say("intercept", "\(error)")
            child?.signal(SIGTERM)
            status = 1
        }
        if let child { status = status == 0 ? await child.exitStatus() : status }
        // A replica joining at this moment finishes (and is removed again) before the loop goes.
        follower?.cancel()
        await follower?.value
        try? await group.shutdownGracefully()
        if status != 0 { throw ExitCode(status) }
    }

    private func locateKubectl() throws -> Kubectl {
        try kubernetes.kubectl(for: "intercept")
    }

    /// The Service's agent pods, found with kubectl, each with a port-forward to its tunnel port.
    private func openPortForwards(_ kubectl: Kubectl) throws -> [PortForward] {
        var forwards: [PortForward] = []
        do {
            for pod in try kubectl.agentPods(service: service) {
                if !pod.ready { CommandFailure.say("intercept", "warning: pod \(pod.name) is not ready; intercepting on it too") }
                forwards.append(try kubectl.portForward(pod: pod.name, port: pod.tunnelPort))
            }
        } catch {
            for forward in forwards { forward.stop() }
            throw CommandFailure.exit("intercept", "\(error)")
        }
        CommandFailure.say("intercept", "agents of \(service): " + forwards.map { "pod/\($0.pod) via 127.0.0.1:\($0.localPort)" }.joined(separator: ", "))
        return forwards
    }

    /// Looks at the Service's pods every `interval`: a new agent pod gets a port-forward and the
    /// intercept; a pod that is gone loses its session and port-forward; a pod whose port-forward
    /// ended gets a new one. A failed look changes nothing.
    private static func follow(_ kubectl: Kubectl, service: String, sessions: ReplicaSessions, every interval: Duration,
                               makeSession: @escaping @Sendable (HostPort) -> InterceptSession) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled, !sessions.isStopping, let pods = try? kubectl.agentPods(service: service),
                  !Task.isCancelled, !sessions.isStopping else { continue }
            // A replica whose port-forward ended is dropped here and, if its pod is still listed,
            // joins again below through a new port-forward.
            for key in sessions.keysWithEndedForwards {
                sessions.remove(key)
                CommandFailure.say("intercept", "the port-forward to pod/\(key) ended; opening a new one")
            }
            let current = sessions.keys
            for pod in pods where !current.contains(pod.name) {
                do {
                    let forward = try kubectl.portForward(pod: pod.name, port: pod.tunnelPort)
                    do {
                        try await sessions.add(pod.name, .init(session: makeSession(HostPort(host: "127.0.0.1", port: forward.localPort)), forward: forward))
                        CommandFailure.say("intercept", "replica pod/\(pod.name) joined (via 127.0.0.1:\(forward.localPort))")
                    } catch {
                        forward.stop()
                        CommandFailure.say("intercept", "replica pod/\(pod.name) could not be intercepted: \(error)")
                    }
                } catch {
                    CommandFailure.say("intercept", "replica pod/\(pod.name): \(error)")
                }
            }
            for gone in current.subtracting(pods.map(\.name)).sorted() {
                sessions.remove(gone)
                CommandFailure.say("intercept", "replica pod/\(gone) is gone")
            }
        }
    }

    private enum Phase: Sendable {
        case starting(interrupted: Bool)
        case running(ChildCommand?)
    }

    /// SIGINT and SIGTERM go to `handler` (on a queue of its own) instead of ending the process.
    private static func handleSignals(_ handler: @escaping @Sendable (Int32) -> Void) -> [any DispatchSourceSignal] {
        let queue = DispatchQueue(label: "shunt.signals")
        return [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }
}
