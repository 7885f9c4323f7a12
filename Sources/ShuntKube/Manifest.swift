import Yams

/// The Kubernetes objects of a multi-document YAML stream, in order. The items of a `kind: List`
/// (what `kubectl get -o yaml` prints) count as objects too. Writing the stream back keeps every
/// document, the order of keys and the quoting of scalars; YAML comments are not kept.
public struct Manifest {
    public private(set) var documents: [Node]
    private var locations: [Location]

    private struct Location {
        var document: Int
        var item: Int?
    }

    public init(yaml: String) throws {
        var parsed: [Node] = []
        do {
            var stream = try compose_all(yaml: yaml)
            while let document = stream.next() { parsed.append(document) }
            if let error = stream.error { throw error }
        } catch {
            throw InjectionError(.invalidYAML, "the input is not YAML: \(error)")
        }
        documents = parsed
        locations = []
        for (index, document) in documents.enumerated() {
            if document.text("kind") == "List", let items = document.value("items")?.sequence {
                locations += items.indices.map { Location(document: index, item: $0) }
            } else if document.mapping != nil {
                locations.append(Location(document: index, item: nil))
            }
        }
    }

    public init(objects: [Node]) {
        documents = objects
        locations = objects.indices.map { Location(document: $0, item: nil) }
    }

    /// The objects: every mapping document, and the items of each List.
    public var objects: [KubeObject] {
        locations.indices.map { KubeObject(node: self[$0]) }
    }

    public subscript(index: Int) -> Node {
        get {
            let location = locations[index]
            guard let item = location.item else { return documents[location.document] }
            return documents[location.document].value("items")!.items[item]
        }
        set {
            let location = locations[index]
            guard let item = location.item else {
                documents[location.document] = newValue
                return
            }
            documents[location.document].edit("items") { items in
                guard case .sequence(var sequence)? = items else { return }
                sequence[item] = newValue
                items = .sequence(sequence)
            }
        }
    }

    public var count: Int { locations.count }

    /// The stream as YAML, documents separated by `---`.
    public func yaml() throws -> String {
        try serialize(nodes: documents, explicitStart: true)
    }
}

/// One object's identity: kind, name, namespace.
public struct KubeObject {
    public let node: Node

    public var kind: String { node.text("kind") ?? "" }
    public var name: String { node.value(["metadata", "name"])?.scalar?.string ?? "" }
    public var namespace: String? { node.value(["metadata", "namespace"])?.scalar?.string }

    /// `deployment/orders`, as kubectl names it.
    public var reference: String { "\(kind.lowercased())/\(name)" }

    /// The kinds whose pods come from `spec.template`.
    public static let workloadKinds: Set<String> = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"]

    public var isWorkload: Bool { Self.workloadKinds.contains(kind) }
    public var isService: Bool { kind == "Service" }
}
