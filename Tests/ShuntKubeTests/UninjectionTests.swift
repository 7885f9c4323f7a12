import Foundation
import ShuntKube
import Testing
import Yams

/// Uninject's refusals: nothing injected, a record it cannot read, an object changed too much.
@Suite struct UninjectionTests {
    func injected(_ file: String) throws -> String {
        try Injection.inject(yaml: Fixtures.text(file), options: InjectionOptions()).yaml
    }

    @Test func inputWithoutTheAnnotationIsRefused() throws {
        let failure = injectionError { _ = try Uninjection.uninject(yaml: Fixtures.text("plain.yaml")) }
        #expect(failure?.code == .notInjected)
    }

    @Test func uninjectTwiceIsRefusedTheSecondTime() throws {
        let once = try Uninjection.uninject(yaml: injected("plain.yaml")).yaml
        #expect(injectionError { _ = try Uninjection.uninject(yaml: once) }?.code == .notInjected)
    }

    @Test func eachObjectIsRestoredOnItsOwn() throws {
        var manifest = try Manifest(yaml: injected("plain.yaml"))
        let deploymentOnly = Manifest(objects: [manifest[0]])
        let restored = try Uninjection.uninject(yaml: deploymentOnly.yaml())
        #expect(restored.restored == ["deployment/orders"])
        #expect(try documents(restored.yaml) == [Fixtures.manifest("plain.yaml")[0]])
        _ = try Uninjection.uninject(&manifest)
        #expect(manifest.documents == (try Fixtures.manifest("plain.yaml").documents))
    }

    @Test func aRecordThatIsNotJSONIsRefused() throws {
        let yaml = try injected("plain.yaml").replacingOccurrences(of: #"'{"container""#, with: #"'{"container" oops"#)
        #expect(injectionError { _ = try Uninjection.uninject(yaml: yaml) }?.code == .malformedObject)
    }

    @Test func aRecordOfAnotherVersionIsRefused() throws {
        let yaml = try injected("plain.yaml").replacingOccurrences(of: #""version":1"#, with: #""version":2"#)
        let failure = injectionError { _ = try Uninjection.uninject(yaml: yaml) }
        #expect(failure?.code == .malformedObject)
        #expect(failure?.message.contains("version 2") == true)
    }

    @Test func aServiceWhosePortsChangedIsRefused() throws {
        let yaml = try injected("plain.yaml").replacingOccurrences(of: "  - port: 80\n", with: "  - port: 81\n")
        let failure = injectionError { _ = try Uninjection.uninject(yaml: yaml) }
        #expect(failure?.code == .changedSinceInjection)
        #expect(failure?.message.contains("it was 9090") == true)
    }

    @Test func aWorkloadWhoseAgentWasRemovedByHandIsRefused() throws {
        let yaml = try injected("plain.yaml").replacingOccurrences(of: "- name: shunt-agent\n", with: "- name: renamed\n")
        #expect(injectionError { _ = try Uninjection.uninject(yaml: yaml) }?.code == .changedSinceInjection)
    }

    @Test func theAnnotationOnAnotherKindIsRefused() {
        let yaml = "kind: ConfigMap\nmetadata:\n  name: x\n  annotations: {shunt.dev/injected: '{}'}\n"
        #expect(injectionError { _ = try Uninjection.uninject(yaml: yaml) }?.code == .malformedObject)
    }
}
