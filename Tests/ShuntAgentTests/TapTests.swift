import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntMatch
import ShuntSession
import ShuntTestSupport
import ShuntWire
import ShuntWireTools
import Testing

/// What a tap delivered, in order, for a test to wait on.
final class TapRecords: Sendable {
    private let records = NIOLockedValueBox<[TapCall.Record]>([])

    func append(_ record: TapCall.Record) { records.withLockedValue { $0.append(record) } }
    var all: [TapCall.Record] { records.withLockedValue { $0 } }

    /// The text of each frame record, with its session.
    var frames: [(session: String, text: String)] {
        all.compactMap { record in
            guard case .frame(let session, let text?, _) = record else { return nil }
            return (session, text)
        }
    }

    /// Polls until `condition` holds (true), or gives up after `seconds` (false).
    func wait(seconds: Double = 10, until condition: ([TapCall.Record]) -> Bool) async throws -> Bool {
        let end = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < end {
            if condition(all) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition(all)
    }
}

extension [TapCall.Record] {
    func hasFrame(_ prefix: String, containing part: String = "") -> Bool {
        contains { record in
            guard case .frame(_, let text?, _) = record else { return false }
            return text.hasPrefix(prefix) && (part.isEmpty || text.contains(part))
        }
    }
}

/// `shunt-wire tap` against a real agent on 127.0.0.1: an operator watches a developer's session.
@Suite struct TapTests {
    typealias World = AgentLoopbackTests.World

    static func tap(_ world: World, as name: String = "ops", _ request: TapCall.Request = TapCall.Request(),
                    into records: TapRecords) async throws -> AgentTap {
        try await AgentTap.open(endpoint: try world.certs.developer(name), host: "127.0.0.1", port: world.agent.tunnelPort,
                                request: request, group: world.group, deadline: .seconds(10)) { records.append($0) }
    }

    @Test(.timeLimit(.minutes(1))) func anOperatorSeesTheFramesOfARequestThroughAnInterceptWithoutTheirPayload() async throws {
        let world = try await World.start { $0.operators = ["ops"] }
        let local = try await NamedHTTPServer(name: "alice", group: world.group)
        let alice = try await world.laptop("alice", serving: local)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let records = TapRecords()
        let tap = try await Self.tap(world, into: records)
        #expect(tap.opened.session.hasPrefix("ops#"))
        let aliceID = try #require(tap.opened.sessions.first { $0.hasPrefix("alice#") })
        #expect(tap.opened.sessions.contains(tap.opened.session))

        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /a HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "alice GET /a 0")
        // Alice's session opened its first stream (2) for the request, sent its head, and got the
        // response back ending with FIN.
        let seen = try await records.wait { records in
            records.hasFrame("< STREAM_OPEN stream=2 ", containing: "kind=HTTP")
                && records.hasFrame("< DATA stream=2 ") && records.hasFrame("> DATA stream=2 flags=FIN")
        }
        #expect(seen, "\(records.frames.map(\.text))")
        let frames = records.frames
        #expect(frames.allSatisfy { $0.session == aliceID }, "only alice's session: the tapper's own is never tapped")
        #expect(!frames.contains { $0.text.contains("data=") }, "no payload unless asked")
        // Each line is the text form `shunt-wire encode` reads (the session follows as a comment).
        for record in records.all {
            #expect(throws: Never.self) { try WireTextParser.parse(record.printed(as: .text)) }
        }

        await tap.stop()
        #expect(try await tap.ended.awaited() == .stopped)
        for _ in 0..<500 where !world.log.contains("tap ended") { try await Task.sleep(for: .milliseconds(10)) }
        #expect(world.log.contains("tap ended"))
        await caller.close()
        await alice.close()
        await local.stop()
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(1))) func twoTapsNeverSeeEachOthersSessions() async throws {
        let world = try await World.start { $0.operators = ["ops"] }
        let local = try await NamedHTTPServer(name: "alice", group: world.group)
        let alice = try await world.laptop("alice", serving: local)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let first = TapRecords()
        let second = TapRecords()
        let firstTap = try await Self.tap(world, into: first)
        let secondTap = try await Self.tap(world, into: second)
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /a HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "alice GET /a 0")
        #expect(try await first.wait { $0.hasFrame("> DATA stream=2 flags=FIN") })
        #expect(try await second.wait { $0.hasFrame("> DATA stream=2 flags=FIN") })
        // Each tap's records travel on a tapping session: were those tapped, each tap's records
        // would make records for the other, forever.
        // The first tap saw the second's session open and ask, until its tap began; never a record
        // the agent sent it. The second never saw the first's session at all.
        let secondSession = first.frames.filter { $0.session == secondTap.opened.session }
        #expect(secondSession.contains { $0.text.hasPrefix("> STREAM_OPEN stream=1 ") && $0.text.contains("meta:call=\"tap\"") })
        #expect(!secondSession.contains { $0.text.hasPrefix("< DATA ") }, "\(secondSession)")
        #expect(second.frames.allSatisfy { $0.session.hasPrefix("alice#") }, "\(second.frames.prefix(5))")
        await firstTap.stop()
        await secondTap.stop()
        await caller.close()
        await alice.close()
        await local.stop()
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(1))) func aTapFiltersBySessionAndByStream() async throws {
        let world = try await World.start { $0.operators = ["ops"] }
        let aliceLocal = try await NamedHTTPServer(name: "alice", group: world.group)
        let bobLocal = try await NamedHTTPServer(name: "bob", group: world.group)
        let alice = try await world.laptop("alice", serving: aliceLocal)
        let bob = try await world.laptop("bob", serving: bobLocal)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        _ = try await bob.register("orders-bob", rule: try RuleFlags(httpHeader: ["x-dev=bob"]).spec())
        let byPeer = TapRecords()
        let byStream = TapRecords()
        let peerTap = try await Self.tap(world, TapCall.Request(session: "alice"), into: byPeer)
        let aliceID = try #require(peerTap.opened.sessions.first { $0.hasPrefix("alice#") })
        // Alice's second stream: her session's agent-opened streams are 2, 4, … (spec §5.1).
        let streamTap = try await Self.tap(world, TapCall.Request(session: aliceID, stream: 4), into: byStream)

        for (developer, path) in [("alice", "/1"), ("bob", "/2"), ("alice", "/3")] {
            let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
            #expect(try await caller.send("GET \(path) HTTP/1.1\r\nHost: o\r\nx-dev: \(developer)\r\n\r\n").body == "\(developer) GET \(path) 0")
            await caller.close()
        }
        #expect(try await byPeer.wait { $0.hasFrame("> DATA stream=4 flags=FIN") })
        #expect(try await byStream.wait { $0.hasFrame("> DATA stream=4 flags=FIN") })
        #expect(byPeer.frames.allSatisfy { $0.session == aliceID }, "bob's session is filtered out")
        #expect(byPeer.all.hasFrame("< STREAM_OPEN stream=2 ") && byPeer.all.hasFrame("< STREAM_OPEN stream=4 "))
        #expect(byStream.frames.allSatisfy { $0.session == aliceID && $0.text.contains(" stream=4 ") }, "\(byStream.frames)")
        #expect(byStream.all.hasFrame("< STREAM_OPEN stream=4 "))

        await peerTap.stop()
        await streamTap.stop()
        await alice.close()
        await bob.close()
        await aliceLocal.stop()
        await bobLocal.stop()
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(1))) func aCertificateTheAgentDoesNotListAsAnOperatorIsRefusedWithUnauthorized() async throws {
        let world = try await World.start { $0.operators = ["ops"] }
        do {
            let tap = try await Self.tap(world, as: "alice", into: TapRecords())
            Issue.record("alice's tap was accepted: \(tap.opened)")
            await tap.stop()
        } catch let failure as AgentProbe.Failure {
            #expect(failure.stage == "tap")
            #expect(failure.message.contains("UNAUTHORIZED"), "\(failure)")
            #expect(failure.message.contains("\"alice\" is not an operator"), "\(failure)")
            #expect(failure.message.contains("--operator"), "\(failure)")
        }
        #expect(world.log.contains("control call refused"))
        try await world.stop()
    }

    @Test(.timeLimit(.minutes(1))) func aTapBeyondTheMostTapsIsRefused() async throws {
        let world = try await World.start {
            $0.operators = ["ops"]
            $0.maxTaps = 1
        }
        let first = try await Self.tap(world, into: TapRecords())
        do {
            let second = try await Self.tap(world, into: TapRecords())
            Issue.record("a second tap was accepted")
            await second.stop()
        } catch let failure as AgentProbe.Failure {
            #expect(failure.message.contains("LIMIT_EXCEEDED"), "\(failure)")
        }
        await first.stop()
        try await world.stop()
    }

    /// A tapper that stops reading holds the agent to its window and the tap's queue limit: the rest
    /// is dropped, the developer's traffic goes on, and the tapper learns how many records it missed.
    @Test(.timeLimit(.minutes(1))) func aSlowTapperIsBoundedAndToldHowManyRecordsWereDropped() async throws {
        let limit = 16 << 10
        let world = try await World.start {
            $0.operators = ["ops"]
            $0.tapQueueLimit = limit
        }
        let local = try await NamedHTTPServer(name: "alice", group: world.group)
        let alice = try await world.laptop("alice", serving: local)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let records = TapRecords()
        let tap = try await Self.tap(world, TapCall.Request(session: "alice", payload: TapCall.maxPayload, format: .json), into: records)
        try await tap.setReading(false)

        // 1 MiB of body: about 64 DATA records of more than 8 KiB each, twice what the tap
        // stream's window, the session's send buffer and the queue hold together.
        let body = 1 << 20
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        let response = try await caller.start("POST /big HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\ncontent-length: \(body)\r\n\r\n", method: .post)
        for _ in 0..<(body / (64 << 10)) {
            try await caller.channel.writeAndFlush(ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 << 10))
        }
        #expect(try await response.awaited("the answer", within: .minutes(1)).body == "alice POST /big \(body)", "the developer's traffic does not wait for the tapper")

        try await tap.setReading(true)
        // The drop count is told before the next record that fits: make one.
        #expect(try await caller.send("GET /after HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "alice GET /after 0")
        let told = try await records.wait { $0.contains { if case .dropped = $0 { true } else { false } } }
        #expect(told)
        let all = records.all
        let report = try #require(all.firstIndex { if case .dropped = $0 { true } else { false } })
        guard case .dropped(let dropped) = all[report] else { return }
        #expect(dropped > 0)
        // Before the gap the tapper got at most what its stream's window let through, what the
        // session buffers for the stream (its send buffer and one write), and what the queue held.
        let before = all[..<report].reduce(0) { total, record in
            guard case .frame(_, _, let line) = record else { return total }
            return total + line.utf8.count + 1
        }
        let bound = Int(WireLimits.defaultInitialStreamWindow) + SessionConfiguration(role: .server).streamSendBuffer + (16 << 10) + limit
        #expect(before <= bound, "\(before) octets before the gap")

        await tap.stop()
        await caller.close()
        await alice.close()
        await local.stop()
        try await world.stop()
    }
}

@Suite struct TapQueueTests {
    @Test func aRecordThatFitsExactlyAtTheLimitIsQueuedAndTheNextIsDroppedAndCounted() {
        // Lines of 9 octets and a newline: 10 each.
        var queue = TapQueue(limit: 30)
        #expect(push(&queue, "123456789"))
        #expect(push(&queue, "123456789"))
        #expect(push(&queue, "123456789"))
        #expect(queue.queuedOctets == 30)
        #expect(!push(&queue, "1"))
        #expect(!push(&queue, "1"))
        #expect(queue.droppedTotal == 2)
        #expect(queue.unreported == 2)
        // Draining makes room; the next record is preceded by the count of those dropped.
        let taken = take(&queue, maxOctets: 20)
        #expect(taken.map { String(buffer: $0) } == "123456789\n123456789\n")
        #expect(push(&queue, "abc"))
        #expect(queue.unreported == 0)
        var rest = ""
        while let buffer = queue.take(maxOctets: 1 << 10) { rest += String(buffer: buffer) }
        #expect(rest == "123456789\n" + TapCall.droppedLine(2) + "\nabc\n")
        #expect(queue.queuedOctets == 0)
        #expect(queue.isEmpty)
    }

    @Test func aRecordLargerThanTheWholeQueueIsDropped() {
        var queue = TapQueue(limit: 8)
        #expect(!push(&queue, "123456789"))
        #expect(push(&queue, "1234567"))
        #expect(queue.droppedTotal == 1)
    }

    @Test func theCountOfDroppedRecordsIsToldEvenWhenOnlyTheRecordFits() {
        var queue = TapQueue(limit: 10)
        #expect(push(&queue, "123456789"))
        #expect(!push(&queue, "a"))
        _ = queue.take(maxOctets: 100)
        // The record fits exactly; its report goes before it, beyond the limit by at most one report.
        #expect(push(&queue, "123456789"))
        #expect(queue.queuedOctets == 10 + TapCall.droppedLine(1).utf8.count + 1)
        #expect(queue.queuedOctets <= queue.limit + TapQueue.maxReport)
        #expect(take(&queue, maxOctets: 100).map { String(buffer: $0) } == TapCall.droppedLine(1) + "\n123456789\n")
    }

    @Test func takeReturnsAtLeastOneLineAndWholeLinesOnly() {
        var queue = TapQueue(limit: 100)
        queue.push("aaaa")
        queue.push("bbbb")
        #expect(take(&queue, maxOctets: 1).map { String(buffer: $0) } == "aaaa\n")
        #expect(take(&queue, maxOctets: 9).map { String(buffer: $0) } == "bbbb\n")
        #expect(take(&queue, maxOctets: 9) == nil)
    }

    private func push(_ queue: inout TapQueue, _ line: String) -> Bool { queue.push(line) }
    private func take(_ queue: inout TapQueue, maxOctets: Int) -> ByteBuffer? { queue.take(maxOctets: maxOctets) }
}
