import ArgumentParser
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
        print("Removed intercept \(name).")
    }
}
