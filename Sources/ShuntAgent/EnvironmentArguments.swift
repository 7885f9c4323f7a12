/// Every `shunt-agent` option can also come from the environment, as containers are configured:
/// `--tunnel-listen` from `SHUNT_TUNNEL_LISTEN`, and so on. The command line wins; a repeatable
/// option takes a comma-separated list (`SHUNT_LISTEN=0.0.0.0:8080,0.0.0.0:8081`). An empty
/// variable counts as unset.
public enum EnvironmentArguments {
    public struct Option: Sendable, Hashable {
        public var name: String
        public var repeatable: Bool
        public init(_ name: String, repeatable: Bool = false) {
            self.name = name
            self.repeatable = repeatable
        }
        /// `SHUNT_TUNNEL_LISTEN` for `tunnel-listen`.
        public var variable: String {
            "SHUNT_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
        }
    }

    /// `arguments` (without the program name) with the options the environment gives and the
    /// command line does not appended, in the order of `options`.
    public static func merge(arguments: [String], environment: [String: String], options: [Option]) -> [String] {
        var merged = arguments
        // After `--` everything is positional: options from the environment go before it.
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        let given = arguments[..<end]
        var added: [String] = []
        for option in options {
            let flag = "--" + option.name
            guard !given.contains(where: { $0 == flag || $0.hasPrefix(flag + "=") }) else { continue }
            guard let value = environment[option.variable], !value.isEmpty else { continue }
            let values = option.repeatable ? value.split(separator: ",").map { String($0).trimmingSpaces } : [value]
            for value in values where !value.isEmpty { added.append(flag + "=" + value) }
        }
        merged.insert(contentsOf: added, at: end)
        return merged
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
