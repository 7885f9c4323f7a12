import ArgumentParser
import Foundation
import NIOPosix
import ShuntEndpoint
import ShuntKube
import ShuntMatch

/// `-n NS` and `--context NAME`: where kubectl looks for a service's agents, for the commands that
/// find them without --agent (intercept, list, leave).
struct KubernetesOptions: ParsableArguments {
    @Option(name: [.customShort("n"), .customLong("namespace")], help: ArgumentHelp(
        "The service's namespace, for finding its agents with kubectl (default: kubectl's current one).", valueName: "NS"))
    var namespace: String?

    @Option(help: ArgumentHelp("The kubectl context to find the agents in (default: the current one).", valueName: "NAME"))
    var context: String?

    /// kubectl from PATH, or exit status 2 with what to do instead.
    func kubectl(for command: String) throws -> Kubectl {
        guard let executable = Kubectl.locate() else {
            throw CommandFailure.exit(command, "kubectl is not on PATH; install it, or pass the agent's address with --agent HOST:PORT", status: 2)
        }
        return Kubectl(executable: executable, namespace: namespace, context: context)
    }
}

/// The agents a one-shot command (list, leave) talks to: the one --agent names, or the agent of
/// every replica of SERVICE, each through its own `kubectl port-forward`, closed when done.
struct AgentTargets {
    struct Target {
        /// `pod/NAME`, or the --agent address.
        let label: String
        let client: InterceptClient
        let forward: PortForward?
    }

    let targets: [Target]

    static func connect(service: String?, agentOptions: AgentOptions, kubernetes: KubernetesOptions,
                        for command: String) async throws -> AgentTargets {
        if let agent = agentOptions.agent {
            let client = try await agentOptions.connect(group: .singleton, for: command)
            return AgentTargets(targets: [Target(label: agent, client: client, forward: nil)])
        }
        guard let service else {
            throw CommandFailure.exit(command, """
                name the service whose agents to ask (`shunt \(command) ... --service SERVICE -n NS`), \
                or give one agent's address with --agent HOST:PORT
                """, status: 2)
        }
        let endpoint = try agentOptions.endpoint(for: command)
        let kubectl = try kubernetes.kubectl(for: command)
        var targets: [Target] = []
        do {
            let pods = try kubectl.agentPods(service: service)
            guard !pods.isEmpty else {
                throw CommandFailure.exit(command, "service \(service) has no pods with a shunt-agent (was it injected with `shunt inject`?)")
            }
            for pod in pods {
                let forward = try kubectl.portForward(pod: pod.name, port: pod.tunnelPort)
                do {
                    let client = try await InterceptClient.connect(host: "127.0.0.1", port: forward.localPort, endpoint: endpoint, group: MultiThreadedEventLoopGroup.singleton)
                    targets.append(Target(label: "pod/\(pod.name)", client: client, forward: forward))
                } catch {
                    forward.stop()
                    throw CommandFailure.exit(command, "pod/\(pod.name): \(error)")
                }
            }
        } catch let code as ExitCode {
            await AgentTargets(targets: targets).close()
            throw code
        } catch {
            await AgentTargets(targets: targets).close()
            throw CommandFailure.exit(command, "\(error)")
        }
        return AgentTargets(targets: targets)
    }

    /// Closes everything, then says `error` as the command's failure, naming the replica when
    /// there are several.
    func fail(_ command: String, _ target: Target, _ error: Error) async -> ExitCode {
        await close()
        let message = (error as? InterceptCalls.Failure)?.message ?? "\(error)"
        return CommandFailure.exit(command, targets.count > 1 ? "\(target.label): \(message)" : message)
    }

    func close() async {
        for target in targets {
            await target.client.close()
            target.forward?.stop()
        }
    }
}
