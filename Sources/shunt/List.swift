import ArgumentParser
import Foundation
import NIOPosix
import ShuntEndpoint
import ShuntMatch

/// `shunt list`: the intercepts an agent holds, everyone's.
struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the intercepts on a service: who holds them, their rules, and how many requests they took.")

    @OptionGroup var agentOptions: AgentOptions

    @Option(help: ArgumentHelp("text, or json.", valueName: "FORMAT"))
    var output = "text"

    func validate() throws {
        guard OutputFormat(rawValue: output) != nil else { throw ValidationError("--output must be text or json, not \(output)") }
    }

    func run() async throws {
        let client = try await agentOptions.connect(group: .singleton, for: "list")
        let intercepts: [InterceptCalls.Intercept]
        do {
            intercepts = try await client.list()
        } catch let failure as InterceptCalls.Failure {
            await client.close()
            throw CommandFailure.exit("list", failure.message)
        } catch {
            await client.close()
            throw CommandFailure.exit("list", "\(error)")
        }
        await client.close()
        if output == OutputFormat.json.rawValue {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let json = try encoder.encode(InterceptCalls.ListResult(intercepts: intercepts))
            print(String(decoding: json, as: UTF8.self))
            return
        }
        guard !intercepts.isEmpty else {
            print("No intercepts: every request reaches the in-cluster app.")
            return
        }
        let rows = [["NAME", "OWNER", "PORT", "RULE", "SINCE", "REQUESTS"]] + intercepts.map { intercept in
            [intercept.name, intercept.owner, "\(intercept.port)", intercept.rule.description, intercept.since,
             intercept.requests.map(String.init) ?? "-"]
        }
        print(Self.table(rows), terminator: "")
    }

    /// Columns padded to their widest cell; the last one is not padded.
    static func table(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
        }.joined()
    }
}
