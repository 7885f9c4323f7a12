import Foundation
import ShuntKube
import Testing
import Yams

/// Inject then uninject gives back the original objects, field for field, for every fixture and
/// every way of injecting it; the YAML written in between parses back to the same trees.
@Suite struct InjectRoundTripTests {
    @Test(arguments: Fixtures.all.indices)
    func injectThenUninjectRestoresEveryObject(_ case: Int) throws {
        let (file, options) = Fixtures.all[`case`]
        let original = try Fixtures.text(file)
        let injected = try Injection.inject(yaml: original, options: options)
        #expect(try documents(injected.yaml) != documents(original), "\(file): inject changed nothing")
        let restored = try Uninjection.uninject(yaml: injected.yaml)
        #expect(try documents(restored.yaml) == documents(original), "\(file) with \(options)")
        #expect(restored.restored.sorted() == [injected.summary.workload, injected.summary.service].sorted())
    }

    @Test(arguments: Fixtures.all.indices)
    func theInjectedStreamWritesAndReadsBackUnchanged(_ case: Int) throws {
        let (file, options) = Fixtures.all[`case`]
        var manifest = try Fixtures.manifest(file)
        _ = try Injection.inject(&manifest, options: options)
        let written = try manifest.yaml()
        #expect(try documents(written) == manifest.documents)
        #expect(try Manifest(yaml: written).yaml() == written)
    }

    @Test func everyFixtureFileIsCoveredByTheRoundTrip() {
        let covered = Set(Fixtures.all.map(\.0))
        #expect(Set(Fixtures.allFiles) == covered)
        #expect(Fixtures.allFiles.count >= 6)
    }

    @Test func objectsThatAreNotTheWorkloadOrItsServicePassThroughUntouched() throws {
        let original = try Fixtures.manifest("named-ports.yaml")
        var manifest = original
        _ = try Injection.inject(&manifest, options: InjectionOptions())
        #expect(try object(manifest, "configmap/web-config") == object(original, "configmap/web-config"))

        let gateway = try Fixtures.manifest("several-ports.yaml")
        var injected = gateway
        _ = try Injection.inject(&injected, options: Fixtures.options { $0.service = "gateway" })
        #expect(try object(injected, "service/gateway-metrics") == object(gateway, "service/gateway-metrics"))
    }

    @Test func aListStaysAList() throws {
        var manifest = try Fixtures.manifest("list.yaml")
        _ = try Injection.inject(&manifest, options: InjectionOptions())
        let written = try documents(manifest.yaml())
        #expect(written.count == 1)
        #expect(written[0]["kind"]?.string == "List")
        #expect(written[0]["items"]?.sequence?.count == 2)
    }

    @Test func uninjectAfterAnEditElsewhereKeepsTheEdit() throws {
        var manifest = try Fixtures.manifest("plain.yaml")
        _ = try Injection.inject(&manifest, options: InjectionOptions())
        var edited = try manifest.yaml().replacingOccurrences(of: "replicas: 2", with: "replicas: 5")
        edited = try Uninjection.uninject(yaml: edited).yaml
        let expected = try Fixtures.text("plain.yaml").replacingOccurrences(of: "replicas: 2", with: "replicas: 5")
        #expect(try documents(edited) == documents(expected))
    }
}

/// `deploy/kubernetes/orders-injected.yaml` is what `shunt inject` writes for `orders.yaml`.
@Suite struct DeployExampleTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../deploy/kubernetes").standardized

    @Test func theCommittedInjectedExampleIsWhatInjectWrites() throws {
        let original = try String(contentsOf: Self.folder.appendingPathComponent("orders.yaml"), encoding: .utf8)
        let committed = try String(contentsOf: Self.folder.appendingPathComponent("orders-injected.yaml"), encoding: .utf8)
        #expect(try documents(Injection.inject(yaml: original, options: InjectionOptions()).yaml) == documents(committed),
                "regenerate: shunt inject deploy/kubernetes/orders.yaml > deploy/kubernetes/orders-injected.yaml")
        #expect(try documents(Uninjection.uninject(yaml: committed).yaml) == documents(original))
    }
}
