import ArgumentParser
import Foundation
import NIOPosix
import ShuntEndpoint
import ShuntMatch

/// `shunt leave NAME`: remove one of your intercepts (say, one a crashed `shunt intercept` left).
struct Leave: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove one of your intercepts; its requests go back to the in-cluster app.",
        discussion: "Only the developer who made an intercept can remove it; `shunt list` shows the owners.")

    @Argument(help: "The intercept's name, as `shunt list` shows it.")
    var name: String

    @OptionGroup var agentOptions: AgentOptions

    @Option(help: ArgumentHelp("text, or json (`{\"removed\": NAME}`; a refusal is still said on standard error, exit status 1).", valueName: "FORMAT"))
    var output = "text"

    func validate() throws {
        guard OutputFormat(rawValue: output) != nil else { throw ValidationError("--output must be text or json, not \(output)") }
    }

    func run() async throws {
        let client = try await agentOptions.connect(group: .singleton, for: "leave")
        do {
            try await client.remove(name: name)
        } catch let failure as InterceptCalls.Failure {
            await client.close()
            throw CommandFailure.exit("leave", failure.message)
        } catch {
            await client.close()
            throw CommandFailure.exit("leave", "\(error)")
        }
        await client.close()
        if output == OutputFormat.json.rawValue {
            let json = try JSONEncoder().encode(["removed": name])
            print(String(decoding: json, as: UTF8.self))
        } else {
            print("Removed intercept \(name).")
        }
    }
}
