import Yams

/// Small, explicit edits of a YAML tree: read a key, set or remove one while keeping the order of
/// the others (a round trip compares mappings pair by pair, in order).
extension Node {
    /// A string scalar that reads back as a string (`"8080"` is quoted, `orders` is not).
    static func text(_ value: String) -> Node { .scalar(value.represented()) }

    static func number(_ value: Int) -> Node { Node(String(value)) }

    static func map(_ pairs: [(String, Node)]) -> Node { Node(pairs.map { (Node($0.0), $0.1) }) }

    static func list(_ items: [Node]) -> Node { Node(items) }

    func value(_ key: String) -> Node? { mapping?[key] }

    func value(_ path: [String]) -> Node? {
        var node: Node? = self
        for key in path { node = node?.value(key) }
        return node
    }

    /// The key's value as text, when it is a scalar.
    func text(_ key: String) -> String? { value(key)?.scalar?.string }

    /// Sets `key` (appended when new, replaced in place otherwise), or removes it when `value` is nil.
    /// Has no effect on a node that is not a mapping.
    mutating func set(_ key: String, _ value: Node?) {
        guard case .mapping(var mapping) = self else { return }
        let keyNode = Node(key)
        if let value {
            mapping[keyNode] = value
        } else if let index = mapping.index(forKey: keyNode) {
            var pairs = Array(mapping)
            pairs.remove(at: index)
            mapping = Node.Mapping(pairs.map { ($0.key, $0.value) }, mapping.tag, mapping.style, mapping.mark)
        }
        self = .mapping(mapping)
    }

    /// Edits the value at `key` in place; `body` sees nil when the key is absent and may create it.
    mutating func edit<T>(_ key: String, _ body: (inout Node?) throws -> T) rethrows -> T {
        var child = value(key)
        let result = try body(&child)
        set(key, child)
        return result
    }

    /// The items of a sequence (none for anything else).
    var items: [Node] { sequence.map(Array.init) ?? [] }

    /// The decimal value of an integer scalar written in decimal.
    var decimal: Int? {
        guard let scalar, tag.rawValue == Tag.Name.int.rawValue else { return nil }
        return Int(scalar.string)
    }
}

extension Node {
    /// Sets the value at `path`, creating empty mappings on the way where keys are missing, or
    /// removes the last key when `value` is nil.
    mutating func replace(_ path: [String], with value: Node?) {
        guard let first = path.first else { return }
        guard path.count > 1 else {
            set(first, value)
            return
        }
        edit(first) { child in
            var node = child ?? .map([])
            node.replace(Array(path.dropFirst()), with: value)
            child = node
        }
    }
}
