import ArgumentParser
import Foundation
import NIOPosix
import ShuntEndpoint
import ShuntMatch

/// `shunt leave NAME`: remove one of your intercepts (say, one a crashed `shunt intercept` left),
/// from every replica's agent of --service, or from the one agent --agent names.
struct Leave: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove one of your intercepts; its requests go back to the in-cluster app.",
        discussion: """
            Only the developer who made an intercept can remove it; `shunt list` shows the owners. \
            Without --agent, it is removed from the agent of every replica of --service, found with \
            kubectl (-n NS, --context).
            """)

    @Argument(help: "The intercept's name, as `shunt list` shows it.")
    var name: String

    @Option(help: ArgumentHelp("The service whose agents hold the intercept (not needed with --agent).", valueName: "SERVICE"))
    var service: String?

    @OptionGroup var agentOptions: AgentOptions

    @OptionGroup var kubernetes: KubernetesOptions

    @Option(help: ArgumentHelp("text, or json (`{\"removed\": NAME}`; a refusal is still said on standard error, exit status 1).", valueName: "FORMAT"))
    var output = "text"

    func validate() throws {
        guard OutputFormat(rawValue: output) != nil else { throw ValidationError("--output must be text or json, not \(output)") }
    }

    func run() async throws {
        let agents = try await AgentTargets.connect(service: service, agentOptions: agentOptions, kubernetes: kubernetes, for: "leave")
        var removed = 0
        var notFound: [InterceptCalls.Failure] = []
        for target in agents.targets {
            do {
                try await target.client.remove(name: name)
                removed += 1
            } catch let failure as InterceptCalls.Failure where failure.code == InterceptCalls.Failure.Code.notFound.rawValue && agents.targets.count > 1 {
                // A replica that joined after the intercept was made may not hold it.
                notFound.append(failure)
            } catch {
                throw await agents.fail("leave", target, error)
            }
        }
        await agents.close()
        if removed == 0, let failure = notFound.first {
            throw CommandFailure.exit("leave", failure.message)
        }
        if output == OutputFormat.json.rawValue {
            let json = try JSONEncoder().encode(["removed": name])
            print(String(decoding: json, as: UTF8.self))
        } else if agents.targets.count > 1 {
            print("Removed intercept \(name) from \(removed) of \(agents.targets.count) replicas.")
        } else {
            print("Removed intercept \(name).")
        }
    }
}
