import Foundation
@testable import ShuntEndpoint
import Testing

/// The status file `shunt status` reads: requests are counted at once, but written at most once a
/// second; any other change is written at once, with the counts so far.
@Suite struct InterceptStatusWriterTests {
    static func status() -> InterceptStatus {
        InterceptStatus(pid: getpid(), name: "orders-alice", service: "orders", agent: "127.0.0.1:1", local: "127.0.0.1:2",
                        rule: "x-dev=alice", header: "x-dev: alice", identity: "alice", state: .connected, since: "2026-11-27T08:00:00Z")
    }

    static func onDisk(_ folder: URL) throws -> InterceptStatus {
        let data = try #require(FileManager.default.contents(atPath: InterceptStatus.file(pid: getpid(), in: folder).path))
        return try JSONDecoder().decode(InterceptStatus.self, from: data)
    }

    @Test func requestsAreCountedAtOnceAndWrittenWithTheNextChange() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-status-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = InterceptStatusWriter(Self.status(), folder: folder)
        #expect(try Self.onDisk(folder) == Self.status(), "written when made")

        let line = RequestLogLine(start: Date(), method: "GET", path: "/", status: 200, duration: .milliseconds(1), bytesIn: 10, bytesOut: 20)
        for _ in 0..<3 { writer.observe(.request(line)) }
        #expect(writer.status.requests == 3)
        #expect(try Self.onDisk(folder).requests == 0, "counts alone wait for the second to pass")

        writer.observe(.localUnreachable("nothing listens on 127.0.0.1:2"))
        let written = try Self.onDisk(folder)
        #expect(written.requests == 3)
        #expect(written.trouble == "nothing listens on 127.0.0.1:2")
        #expect(written.state == .connected)

        writer.observe(.tunnelLost(reason: "the agent went away", retryIn: .seconds(1)))
        #expect(try Self.onDisk(folder).state == .reconnecting)
        writer.remove()
        #expect(!FileManager.default.fileExists(atPath: InterceptStatus.file(pid: getpid(), in: folder).path))
    }
}
