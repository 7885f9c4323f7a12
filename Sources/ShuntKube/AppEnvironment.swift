import Yams

/// The app container's environment, handed to the agent under a prefix so that the agent can
/// report exactly the app's variables to laptops (`shunt-agent --env-prefix`, `shunt intercept
/// --env-file`): each `env` entry renamed PREFIX+NAME with the same value or source, each `envFrom`
/// source with PREFIX before its own prefix. Variables only known at run time (a ConfigMap's keys,
/// the Downward API) thus reach the agent the way they reach the app.
struct AppEnvironment {
    var variables: [Node] = []
    var sources: [Node] = []

    var isEmpty: Bool { variables.isEmpty && sources.isEmpty }

    init(app: Node, prefix: String) {
        let appName = app.text("name") ?? ""
        let entries = app.value("env")?.items ?? []
        let names = Set(entries.compactMap { $0.text("name") })
        for entry in entries {
            guard let name = entry.text("name") else { continue }
            var copy = entry
            copy.set("name", .text(prefix + name))
            if let value = entry.value("value")?.scalar?.string, value.contains("$(") {
                copy.set("value", .text(Self.prefixingReferences(value, to: names, prefix: prefix)))
            }
            // A resource reference without a container means "this container": keep it the app's.
            copy.edit("valueFrom") { source in
                source?.edit("resourceFieldRef") { reference in
                    if reference != nil && reference?.value("containerName") == nil {
                        reference?.set("containerName", .text(appName))
                    }
                }
            }
            variables.append(copy)
        }
        for source in app.value("envFrom")?.items ?? [] {
            var copy = source
            copy.set("prefix", .text(prefix + (source.text("prefix") ?? "")))
            sources.append(copy)
        }
    }

    /// `$(NAME)` becomes `$(PREFIXNAME)` for the app's own variables; `$$(NAME)` is an escape and
    /// stays as written (Kubernetes' expansion rules).
    static func prefixingReferences(_ value: String, to names: Set<String>, prefix: String) -> String {
        var result = ""
        var rest = Substring(value)
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.hasPrefix("$") {
                result += "$$"
                rest = after.dropFirst()
            } else if after.hasPrefix("("), let close = after.firstIndex(of: ")") {
                let name = String(after[after.index(after: after.startIndex)..<close])
                result += names.contains(name) ? "$(\(prefix)\(name))" : "$(\(name))"
                rest = after[after.index(after: close)...]
            } else {
                result += "$"
                rest = after
            }
        }
        return result + rest
    }
}
