import Foundation
import ShuntOracles
import ShuntWire
import Testing

/// Replays `Fuzz/FailCases/FuzzSession-*` through the fuzz target's own oracle, and shows on
/// hand-made programs that the oracle's exact expectations for abuse do fire.
@Suite struct FuzzSessionFailCaseTests {
    typealias Op = SessionInvariants.Op

    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/FailCases")

    static let cases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.hasPrefix("FuzzSession-") }
        .sorted()

    @Test func thereAreFailCasesToReplay() {
        #expect(Self.cases.count >= 3, "too few FuzzSession-* files in \(Self.folder.path)")
    }

    @Test(arguments: cases)
    func aFailCaseKeepsTheSessionInvariants(_ name: String) throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        #expect(throws: Never.self) { try SessionInvariants.check(Array(data)) }
    }

    func run(_ program: SessionInvariants.Program) throws -> SessionInvariants.Outcome {
        try SessionInvariants.run(program.bytes)
    }

    // MARK: Compressed sends

    /// With a peer that accepts DEFLATE, compressed units leave whole, each in one COMPRESSED frame,
    /// between plain writes that may be cut (the oracle checks every frame against the units).
    @Test func compressedUnitsLeaveWholeBetweenPlainWrites() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(peer: 3, diligent: true))
        program.add(.open, 1, 0)
        program.add(.send, 0xF4, 9, 2)    // 4096 octets, one compressed unit
        program.add(.send, 0xF4, 7, 0)    // 1023 plain octets
        program.add(.send, 0xF4, 10, 2)   // 16,383 octets: a unit just within one frame
        program.add(.send, 0xF4, 200, 2)  // (200-16)·97+3 = 17,851 octets: more than a frame, refused
        program.add(.send, 0xF4, 5, 3)    // 1000 octets, compressed, and FIN
        program.add(.drain, 0)
        let outcome = try run(program)
        #expect(outcome.compressedFramesFromMachine == 3)
        #expect(!outcome.ended)
    }

    /// A peer that did not accept DEFLATE: a compressed send is refused (the oracle checks the
    /// refusal is `compressionNotNegotiated`), and nothing compressed leaves.
    @Test func aCompressedSendWithoutNegotiationIsRefused() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(peer: 0, diligent: true))
        program.add(.open, 1, 0)
        program.add(.send, 0xF4, 9, 2)
        program.add(.send, 0xF4, 9, 1)
        program.add(.drain, 0)
        let outcome = try run(program)
        #expect(outcome.compressedFramesFromMachine == 0)
    }

    // MARK: The oracle sees each abuse end the session with the spec's code

    @Test func aResetFloodEndsWithEnhanceYourCalm() throws {
        // The small configuration allows 8 RESETs per second; the peer opens and resets 20 streams at once.
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(config: 1, diligent: true))
        program.add(.rapidReset, 19, 1)
        let outcome = try run(program)
        #expect(outcome.endCode == .enhanceYourCalm)
        #expect(outcome.endError?.message.hasPrefix("too many RESET frames") == true)
        #expect(outcome.expectationsMet.contains("ENHANCE_YOUR_CALM for a RESET flood"))
    }

    @Test func resetsSpreadOverTimeStayWithinTheBudget() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(config: 1, diligent: true))
        for _ in 0..<5 {
            program.add(.rapidReset, 3, 1)  // 4 RESETs
            program.add(.ping, 0, 1)        // the peer stays alive
            program.add(.drain, 0)
            program.add(.tick, 8)           // 500 ms: the bucket drains 4 (and the 1 s death bound is kept)
        }
        let outcome = try run(program)
        #expect(outcome.endCode == nil)
        #expect(outcome.framesToMachine > 40)
    }

    @Test func aPingFloodEndsWithEnhanceYourCalm() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup())
        program.add(.pingFlood, 120)
        let outcome = try run(program)
        #expect(outcome.endCode == .enhanceYourCalm)
        #expect(outcome.expectationsMet.contains("ENHANCE_YOUR_CALM for a PING flood"))
    }

    @Test func anEmptyFrameFloodEndsWithEnhanceYourCalm() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(config: 1))
        program.add(.streamOpen, 0, 1, 0)
        program.add(.emptyFlood, 0, 9)
        let outcome = try run(program)
        #expect(outcome.endCode == .enhanceYourCalm)
        #expect(outcome.expectationsMet.contains("ENHANCE_YOUR_CALM for an empty-frame flood"))
    }

    @Test func streamErrorsProvokedByThePeerEndWithEnhanceYourCalm() throws {
        // MadeYouReset: each stream is opened with FIN, then gets DATA (STREAM_CLOSED); the small
        // configuration allows 6 such stream errors per second, and the owner releases every stream.
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(config: 1, diligent: true))
        for _ in 0..<7 {
            program.add(.streamOpen, 0, 1, 1)
            program.add(.data, 0xF4, 1, 0)
        }
        let outcome = try run(program)
        #expect(outcome.endCode == .enhanceYourCalm)
        #expect(outcome.expectationsMet == ["ENHANCE_YOUR_CALM for too many stream errors"])
    }

    @Test func dataBeyondTheStreamWindowEndsWithFlowControlError() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(config: 1))
        program.add(.streamOpen, 0, 1, 0)
        program.add(.dataAtWindow, 0, 0, 0)  // exactly the window: accepted
        program.add(.drain, 0)
        program.add(.dataAtWindow, 0, 1, 0)  // one octet more: nothing was consumed, so beyond it
        let outcome = try run(program)
        #expect(outcome.endCode == .flowControlError)
        #expect(outcome.expectationsMet.contains("FLOW_CONTROL_ERROR for DATA beyond the stream window"))
    }

    @Test func aWindowPastTwoToThe31EndsWithFlowControlError() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup())
        program.add(.windowUpdate, 0xF2, 3)  // the session window exactly to 2^31-1
        program.add(.windowUpdate, 0xF2, 0)  // and one more
        let outcome = try run(program)
        #expect(outcome.endCode == .flowControlError)
        #expect(outcome.expectationsMet == ["FLOW_CONTROL_ERROR for a session window past 2^31-1"])
    }

    @Test func aStreamBeyondTheCreditEndsWithStreamLimitError() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(config: 1))  // 4 streams
        for _ in 0..<5 { program.add(.streamOpen, 0, 1, 0) }
        let outcome = try run(program)
        #expect(outcome.endCode == .streamLimitError)
        #expect(outcome.expectationsMet.contains("STREAM_LIMIT_ERROR for a stream beyond the credit"))
    }

    @Test func aFirstFrameOtherThanHelloEndsWithProtocolError() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(hello: 3))
        program.add(.ping, 0, 1)
        let outcome = try run(program)
        #expect(outcome.endCode == .protocolError)
        #expect(!outcome.becameReady)
        #expect(outcome.expectationsMet.contains("PROTOCOL_ERROR for a first frame other than HELLO"))
    }

    @Test func aSilentPeerEndsWithTimeout() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup())
        program.add(.tick, 12)  // 2999 ms: still alive
        program.add(.tick, 1)   // 3000 ms
        let outcome = try run(program)
        #expect(outcome.endCode == .timeout)
        #expect(outcome.expectationsMet == ["TIMEOUT for a silent peer"])
    }

    @Test func disjointVersionsEndWithVersionMismatch() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(hello: 3))
        program.add(.hello, 2, 0)
        let outcome = try run(program)
        #expect(outcome.endCode == .versionMismatch)
    }

    // MARK: Well-behaved programs end well

    @Test func aCleanExchangeKeepsEveryInvariantAndGoesOn() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(hello: 1, diligent: true))
        program.add(.streamOpen, 0, 2, 0x04)
        program.add(.data, 0, 5, 1)
        program.add(.send, 0, 9, 1)
        program.add(.drain, 0)
        program.add(.open, 3, 0)
        program.add(.send, 1, 13, 1)  // 32768 octets: two DATA frames of 16384
        program.add(.drain, 0)
        program.add(.data, 1, 4, 1)
        let outcome = try run(program)
        #expect(outcome.becameReady)
        #expect(outcome.endCode == nil)
        // HELLO, the RTT PING, DATA+FIN on stream 1, STREAM_OPEN 2 and two DATA frames on it.
        #expect(outcome.framesFromMachine == 6)
    }

    @Test func aGracefulGoAwayEndsCleanly() throws {
        var program = SessionInvariants.Program(setup: SessionInvariants.setup(client: true, hello: 1, diligent: true))
        program.add(.open, 3, 0x02)
        program.add(.send, 0, 5, 1)
        program.add(.localGoAway, 0, 1, 0)
        program.add(.echo)
        program.add(.data, 0, 4, 1)
        let outcome = try run(program)
        #expect(outcome.endCode == .noError)
        #expect(outcome.endError == nil)
    }
}
