import ArgumentParser
import Foundation
import NIOPosix
import ShuntEndpoint
import ShuntMatch

/// `shunt list`: the intercepts on a service's agents (every replica's, found with kubectl), or on
/// the one agent --agent names; everyone's.
struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the intercepts on a service: who holds them, their rules, and how many requests they took.",
        discussion: """
            Without --agent, the agents of every replica of SERVICE are found with kubectl (-n NS, \
            --context) and asked through `kubectl port-forward`; an intercept is one row, its requests \
            summed over the replicas, and REPLICAS says how many of them hold it.
            """)

    @Argument(help: "The service whose agents to ask (not needed with --agent).")
    var service: String?

    @OptionGroup var agentOptions: AgentOptions

    @OptionGroup var kubernetes: KubernetesOptions

    @Option(help: ArgumentHelp("text, or json.", valueName: "FORMAT"))
    var output = "text"

    func validate() throws {
        guard OutputFormat(rawValue: output) != nil else { throw ValidationError("--output must be text or json, not \(output)") }
    }

    func run() async throws {
        let agents = try await AgentTargets.connect(service: service, agentOptions: agentOptions, kubernetes: kubernetes, for: "list")
        var perReplica: [[InterceptCalls.Intercept]] = []
        for target in agents.targets {
            do {
                perReplica.append(try await target.client.list())
            } catch {
                throw await agents.fail("list", target, error)
            }
        }
        await agents.close()
        let merged = Self.merge(perReplica)
        if output == OutputFormat.json.rawValue {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let json = try encoder.encode(InterceptCalls.ListResult(intercepts: merged.map(\.intercept)))
            print(String(decoding: json, as: UTF8.self))
            return
        }
        guard !merged.isEmpty else {
            print("No intercepts: every request reaches the in-cluster app.")
            return
        }
        let replicas = agentOptions.agent == nil
        var header = ["NAME", "OWNER", "PORT", "RULE", "SINCE", "REQUESTS"]
        if replicas { header.append("REPLICAS") }
        let rows = [header] + merged.map { entry in
            let intercept = entry.intercept
            var row = [intercept.name, intercept.owner, "\(intercept.port)", intercept.rule.description, intercept.since,
                       intercept.requests.map(String.init) ?? "-"]
            if replicas { row.append("\(entry.replicas)/\(perReplica.count)") }
            return row
        }
        print(Self.table(rows), terminator: "")
    }

    /// One entry per intercept name over all replicas, in first-seen order: the earliest `since`,
    /// the requests summed (unknown if no replica knows), and how many replicas hold it.
    static func merge(_ perReplica: [[InterceptCalls.Intercept]]) -> [(intercept: InterceptCalls.Intercept, replicas: Int)] {
        var order: [String] = []
        var merged: [String: (intercept: InterceptCalls.Intercept, replicas: Int)] = [:]
        for intercepts in perReplica {
            for intercept in intercepts {
                guard var entry = merged[intercept.name] else {
                    order.append(intercept.name)
                    merged[intercept.name] = (intercept, 1)
                    continue
                }
                entry.replicas += 1
                if let more = intercept.requests { entry.intercept.requests = (entry.intercept.requests ?? 0) + more }
                if intercept.since < entry.intercept.since { entry.intercept.since = intercept.since }
                merged[intercept.name] = entry
            }
        }
        return order.compactMap { merged[$0] }
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
