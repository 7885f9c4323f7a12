import Foundation
import NIOConcurrencyHelpers
@testable import ShuntEndpoint
import Testing

/// The status file `shunt status` reads: requests are counted at once, but written at most once a
/// second (counts that changed in between are written when the second has passed); any other change
/// is written at once, with the counts so far; never on the caller's thread.
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
        // An hour between count-only writes: the test does not depend on how fast it runs.
        let writer = InterceptStatusWriter(Self.status(), folder: folder, countInterval: .seconds(3_600))
        writer.settle()
        #expect(try Self.onDisk(folder) == Self.status(), "written when made")

        let line = RequestLogLine(start: Date(), method: "GET", path: "/", status: 200, duration: .milliseconds(1), bytesIn: 10, bytesOut: 20)
        for _ in 0..<3 { writer.observe(.request(line)) }
        // A request the local service could not be reached for was not served: it is not counted.
        var unserved = line
        unserved.status = nil
        unserved.failure = "local service unreachable"
        writer.observe(.request(unserved))
        #expect(writer.status.requests == 3)
        writer.settle()
        #expect(try Self.onDisk(folder).requests == 0, "counts alone wait for the interval to pass")

        writer.observe(.localUnreachable("nothing listens on 127.0.0.1:2"))
        writer.settle()
        let written = try Self.onDisk(folder)
        #expect(written.requests == 3)
        #expect(written.trouble == "nothing listens on 127.0.0.1:2")
        #expect(written.state == .connected)

        // The service answers on ::1 instead: the status says where requests go now.
        writer.observe(.localMoved(from: "127.0.0.1:2", to: "[::1]:2"))
        writer.settle()
        #expect(try Self.onDisk(folder).local == "[::1]:2")
        #expect(try Self.onDisk(folder).trouble == nil)

        writer.observe(.tunnelLost(reason: "the agent went away", retryIn: .seconds(1)))
        writer.settle()
        #expect(try Self.onDisk(folder).state == .reconnecting)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["intercept-\(getpid()).json"], "no temporary file is left")
        writer.remove()
        #expect(!FileManager.default.fileExists(atPath: InterceptStatus.file(pid: getpid(), in: folder).path))
    }

    /// Once the interval has passed, a request's count is written by itself.
    @Test func countsAreWrittenOnceTheIntervalHasPassed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-status-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = InterceptStatusWriter(Self.status(), folder: folder, countInterval: .zero)
        let line = RequestLogLine(start: Date(), method: "GET", path: "/", status: 200, duration: .milliseconds(1), bytesIn: 10, bytesOut: 20)
        for count in 1...3 {
            writer.observe(.request(line))
            writer.settle()
            #expect(try Self.onDisk(folder).requests == count)
        }
        writer.remove()
    }

    /// Counts that changed too soon after a write are written once the interval has passed, with no
    /// other event to carry them (the last requests of a burst), by one write however many came.
    @Test func theLastCountsOfABurstAreWrittenWhenTheIntervalHasPassed() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-status-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let stored = NIOLockedValueBox([Int]())
        // A second, as in use: ample for three calls in a row on a loaded machine.
        let writer = InterceptStatusWriter(Self.status(), folder: folder, countInterval: .seconds(1), store: { data, _ in
            if let status = try? JSONDecoder().decode(InterceptStatus.self, from: data) { stored.withLockedValue { $0.append(status.requests) } }
        })
        let line = RequestLogLine(start: Date(), method: "GET", path: "/", status: 200, duration: .milliseconds(1), bytesIn: 10, bytesOut: 20)
        for _ in 0..<3 { writer.observe(.request(line)) }  // within the second after the first write
        let since = ContinuousClock.now
        while stored.withLockedValue({ $0.last }) != 3 && ContinuousClock.now - since < .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(stored.withLockedValue { $0 } == [0, 3], "the first write, then one for the three counts")
        // The next count, once the interval has passed since that write, goes at once: the wait is
        // the interval itself, not a synchronisation (`settle` is).
        try await Task.sleep(for: .milliseconds(1_050))
        writer.observe(.request(line))
        writer.settle()
        #expect(stored.withLockedValue { $0 } == [0, 3, 4])
        writer.remove()
    }

    /// A file that takes its time to write holds up neither the caller (the event loop) nor the
    /// status it reads; the files are written in order, on another thread.
    @Test func aSlowFileHoldsUpNeitherTheCallerNorTheStatus() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-status-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let storing = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let caller = pthread_self()
        let seen = NIOLockedValueBox((stored: [InterceptStatus](), onCaller: false, heldPastTimeout: false))
        let writer = InterceptStatusWriter(Self.status(), folder: folder, store: { data, _ in
            let first = seen.withLockedValue { state in
                if pthread_equal(pthread_self(), caller) != 0 { state.onCaller = true }
                if let status = try? JSONDecoder().decode(InterceptStatus.self, from: data) { state.stored.append(status) }
                return state.stored.count == 1
            }
            if first {
                storing.signal()
                if release.wait(timeout: .now() + 20) == .timedOut { seen.withLockedValue { $0.heldPastTimeout = true } }
            }
        })
        #expect(storing.wait(timeout: .now() + 20) == .success, "the first file is being written")
        // The store is stuck in the first file: none of this may wait for it.
        writer.observe(.localUnreachable("nothing listens on 127.0.0.1:2"))
        writer.observe(.tunnelLost(reason: "the agent went away", retryIn: .seconds(1)))
        #expect(writer.status.state == .reconnecting)
        release.signal()
        writer.settle()
        let state = seen.withLockedValue { $0 }
        #expect(!state.heldPastTimeout, "the caller waited for the file")
        #expect(!state.onCaller)
        #expect(state.stored.map(\.state) == [.connected, .connected, .reconnecting])
        #expect(state.stored.map(\.trouble) == [nil, "nothing listens on 127.0.0.1:2", "the agent went away"])
    }

    /// `remove` comes after the writes queued before it, and no write after it brings the file back.
    @Test func aRemovedFileStaysRemoved() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-status-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = InterceptStatusWriter(Self.status(), folder: folder)
        writer.observe(.localUnreachable("nothing listens on 127.0.0.1:2"))
        writer.remove()
        let path = InterceptStatus.file(pid: getpid(), in: folder).path
        #expect(!FileManager.default.fileExists(atPath: path))
        writer.observe(.tunnelLost(reason: "the agent went away", retryIn: .seconds(1)))
        writer.settle()
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
