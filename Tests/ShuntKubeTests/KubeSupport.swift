import Foundation
import ShuntKube
import Testing
import Yams

/// The fixtures: real-world shapes of workloads and Services, each with the options it needs.
enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func text(_ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    static func manifest(_ name: String) throws -> Manifest {
        try Manifest(yaml: text(name))
    }

    static func options(_ change: (inout InjectionOptions) -> Void = { _ in }) -> InjectionOptions {
        var options = InjectionOptions()
        change(&options)
        return options
    }

    /// Every fixture with the options that make it injectable.
    static let all: [(String, InjectionOptions)] = [
        ("plain.yaml", options()),
        ("named-ports.yaml", options()),
        ("named-ports.yaml", options { $0.ports = ["http"] }),
        ("multi-container.yaml", options()),
        ("multi-container.yaml", options { $0.container = "payments" }),
        ("several-ports.yaml", options { $0.service = "gateway" }),
        ("several-ports.yaml", options { $0.service = "gateway-metrics"; $0.edgePort = 9100 }),
        ("several-ports.yaml", options { $0.service = "gateway"; $0.ports = ["80", "admin"] }),
        ("env-refs.yaml", options()),
        ("statefulset.yaml", options()),
        ("list.yaml", options()),
    ]

    static var allFiles: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()) ?? []
    }
}

/// Parsed documents, for comparing trees (key order and scalar types count; quoting style does not).
func documents(_ yaml: String) throws -> [Node] {
    Array(try compose_all(yaml: yaml))
}

func object(_ manifest: Manifest, _ reference: String) throws -> Node {
    let index = try #require(manifest.objects.firstIndex { $0.reference == reference }, "\(reference) in the output")
    return manifest[index]
}

func container(_ workload: Node, _ name: String) throws -> Node {
    let containers = workload["spec"]?["template"]?["spec"]?["containers"]?.sequence.map(Array.init) ?? []
    return try #require(containers.first { $0["name"]?.string == name }, "container \(name)")
}

func arguments(_ agent: Node) -> [String] {
    agent["args"]?.sequence?.compactMap(\.string) ?? []
}

/// The InjectionError `body` throws, or a failed expectation.
func injectionError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> InjectionError? {
    do {
        try body()
        Issue.record("expected an InjectionError", sourceLocation: sourceLocation)
        return nil
    } catch let error as InjectionError {
        return error
    } catch {
        Issue.record("expected an InjectionError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
