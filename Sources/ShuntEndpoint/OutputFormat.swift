/// How `shunt intercept` and `shunt list` print: for a person, or one JSON object a line.
public enum OutputFormat: String, Sendable, Hashable, CaseIterable {
    case text
    case json
}
