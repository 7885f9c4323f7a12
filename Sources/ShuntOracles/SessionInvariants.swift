import NIOCore
import ShuntSession
import ShuntWire

/// The properties one `SessionStateMachine` must keep whatever its peer and its owner do. The libFuzzer
/// target `FuzzSession` (`Fuzz/`) runs generated programs through `check`, and the unit tests replay
/// `Fuzz/FailCases/FuzzSession-*` through it, so a finding stays fixed.
///
/// # Program format
///
/// Octet 0 is the **setup**:
///
/// | bits | meaning |
/// |---|---|
/// | 0 | role of the machine under test: 0 server (the peer opens odd ids), 1 client |
/// | 1–2 | local configuration: 0 default, 1 small (1 KiB stream / 4 KiB session windows, 4 streams, tight abuse budgets: 8 RESETs, 5 PINGs, 5 empty frames, 6 stream errors, 10 glitches per 1 s, 16 queued control frames), 2 zero windows (0 / 0, 1 stream, DEFLATE offered, the small budgets), 3 large (2^31-1 windows, 1000 streams, 64 KiB frames) |
/// | 3–4 | the peer's settings in the automatic HELLO (and HELLO op presets 0–3): 0 defaults, 1 small (100 / 300 windows, 2 streams, 256 metadata), 2 zero windows and 0 streams (DEFLATE accepted), 3 huge (2^31-1 windows and streams, 16 MiB frames, DEFLATE accepted) |
/// | 5–6 | 0 and 2: the peer's HELLO is fed first; 1: HELLO first and the machine's RTT probe is answered (so windows may grow); 3: no HELLO (the program must send one) |
/// | 7 | a diligent owner: after every step it consumes all delivered data and releases every peer stream that ended |
///
/// Then operations until the input ends: an opcode octet (`Op`, taken modulo the number of ops) and
/// its operand octets; operands past the end read as 0. Every peer frame is encoded with
/// `FrameEncoder` and reaches the machine through a `FrameDecoder` with the machine's own limits, as
/// in `SessionHandler`: a frame the decoder refuses becomes `receiveMalformed`.
///
/// Operand conventions. `t` selects a stream: below 0xF0 the (t mod n)-th stream opened so far by
/// either side (the next peer id if none); 0xF0 the next idle peer id, 0xF1 the next idle local id,
/// 0xF2 stream 0, 0xF3 2^31-1, 0xF4–0xFF the stream opened last. `z` is a size: below 16 one of
/// 0, 1, 2, 7, 100, 1000, 1023, 1024, 1025, 4096, 16383, 16384, 16385, 32768, 65536, 65537, else
/// (z-16)·97+3. `c` is an error code: the octet itself below 0xF0, else 0x80000000 | c. `r` is a
/// text: bits 0–1 pick a character (`a`, `é`, `€`, `😀`), bits 2–6 a count, bit 7 a leading `a`.
/// `d` is a time step in ms: below 16 one of 0, 1, 10, 50, 100, 124, 126, 250, 500, 999, 1000,
/// 1001, 2999, 3000, 10000, 30000, else (d-16)·25.
///
/// | op | operands | what happens |
/// |---|---|---|
/// | 0x00 HELLO | v s | peer HELLO; v mod 5: versions 1..1, 1..2, 2..3 (mismatch), 0..1, 2..1 (both BAD_HELLO); s mod 8: settings 0–3 as the setup presets, 4 MAX_FRAME_SIZE 100 (SETTINGS_ERROR), 5 a repeated id, 6 id 0 (BAD_HELLO), 7 64 unknown settings |
/// | 0x01 STREAM_OPEN | m k f | peer opens a stream; m mod 5: the next id, one skipped, this side's parity, the last id again, 2^31-1; k kind; f bit 0 FIN, bits 1–3 metadata entries, bit 4 an invalid key (BAD_METADATA), bit 5 metadata beyond the machine's limit |
/// | 0x02 DATA | t z f | peer DATA of size z on t; f bit 0 FIN, bit 1 COMPRESSED |
/// | 0x03 DATA_AT_WINDOW | t d f | peer DATA of (what the peer was granted on t, stream and session) + (d as Int8) octets |
/// | 0x04 RESET | t c r | peer RESET |
/// | 0x05 RAPID_RESET | n f | n+1 times: the peer opens the next stream and resets it (f bit 1: RESET t=last stream n+1 times instead); f bit 0: the owner releases each one |
/// | 0x06 WINDOW_UPDATE | t i | i mod 9: 1, 1000, 65535, exactly up to 2^31-1, one past 2^31-1, 2^31-1, 0 (ZERO_WINDOW_INCREMENT), reserved bit set, 4096 |
/// | 0x07 PING | a o | a mod 3: request with opaque o, ACK of the machine's last PING, unsolicited ACK |
/// | 0x08 PING_FLOOD | n | n+1 PING requests |
/// | 0x09 GOAWAY | l c r | l mod 6: last id = the machine's newest stream, 0, 2^31-1, the previous GOAWAY's + 2, the newest - 2, reserved bit set |
/// | 0x0A MAX_STREAMS | v | v mod 6: credit+1, +50, -1, 2^31-1, reserved bit set, unchanged |
/// | 0x0B EXTENSION | y f z | a frame of type 0x80 | y with flags f and z octets |
/// | 0x0C RAW | n octets… | the next n input octets go to the machine's decoder as they are |
/// | 0x0D EMPTY_FLOOD | t n | n+1 empty DATA frames without FIN |
/// | 0x0E TICK | d | time advances by d, then `tick(now:)` |
/// | 0x0F OPEN | k f | local `openStream`; f bit 0 FIN, bits 1–3 metadata entries, bit 4 metadata of 300 octets |
/// | 0x10 SEND | t z f | local `send` of z octets (a pattern the oracle checks on the wire); f bit 0 FIN, bit 1 as one compressed unit (it must leave whole, in one COMPRESSED frame, and only if the peer accepts DEFLATE) |
/// | 0x11 CONSUME | t z | local `consumed` of min(z, delivered and not yet consumed); z = 0xFF: all |
/// | 0x12 LOCAL_RESET | t c r | local `reset` |
/// | 0x13 RELEASE | t | local `release` |
/// | 0x14 LOCAL_GOAWAY | c g r | local `goAway`; g bit 0 graceful |
/// | 0x15 DRAIN | k | the peer reads up to k frames (k = 0: all) |
/// | 0x16 ECHO | – | the peer reads all frames and answers every PING it finds |
/// | 0x17 CLOSE | m | m bit 0: the decoder's `finish()` (a cut frame is TRUNCATED_FRAME), else `transportClosed` |
///
/// When the program ends the peer reads every remaining frame and the final checks run.
///
/// # Invariants, after every step
///
/// - Windows and credits stay within 0…2^31-1; the machine's send windows equal the peer's grants
///   (its HELLO plus the WINDOW_UPDATEs fed) minus the DATA it emitted; its receive credits are at
///   least what the peer was told (initial windows plus emitted WINDOW_UPDATEs minus DATA fed) and
///   at most the configured window caps; their sum is bounded by `maxReceiveBuffer` plus one initial
///   window per stream.
/// - Queued octets per stream are exactly what the owner wrote minus what went out, and at most
///   `streamSendBuffer` - 1 + the largest single write; the control queue at most
///   `maxQueuedControlFrames` + 2; `streamCount` equals the streams the oracle knows are not yet
///   forgotten, and never exceeds the peer stream limit plus the local streams alive.
/// - Every outbound frame decodes, with the peer's limits, back to itself; the first is HELLO and
///   only HELLO or GOAWAY precede the peer's HELLO; DATA stays within both windows, `maxDataFrameSize`
///   and the peer's MAX_FRAME_SIZE, carries exactly the owner's octets in order, follows its
///   STREAM_OPEN, never follows FIN or RESET, and is never empty without FIN; at most one RESET per
///   stream; PING ACKs answer PINGs the peer sent; MAX_STREAMS and GOAWAY last ids never go the wrong
///   way; no WINDOW_UPDATE grants past 2^31-1.
/// - Events: `.ready` once and with the peer's settings, data and opens exactly as fed, nothing for a
///   stream after its `.reset`/`.closed` (or after the owner reset it), nothing at all after
///   `.ended`; a stream that was not writable reports `.writable` as soon as it is again.
/// - After `.ended` the machine only hands out what it had queued then (no DATA), a locally detected
///   error leaves a GOAWAY with its code, and `isEnded`/`isReady`/`isClosing` agree with the events.
/// - Liveness: after `nextOutboundFrame()` returns nil, `hasOutboundFrames` is false, no stream has
///   data with both windows open or a FIN due, and every RESET the owner asked for went out; after
///   `tick(now:)` the next deadline is in the future.
/// - Exact outcomes of abuse on purpose: DATA beyond a window and a WINDOW_UPDATE past 2^31-1 end
///   with FLOW_CONTROL_ERROR (and DATA within what the peer was granted never does); RESET, PING,
///   empty DATA, stream-error and glitch budgets end with ENHANCE_YOUR_CALM exactly when a token
///   bucket of the configured size is exceeded (spec §8); the first frame not HELLO, a second
///   HELLO, a frame on an idle stream, a wrong STREAM_OPEN id, a lowered MAX_STREAMS or a raised
///   GOAWAY end with PROTOCOL_ERROR; a stream beyond the credit with STREAM_LIMIT_ERROR; a
///   malformed frame with its decoder code; a silent peer with TIMEOUT; a peer GOAWAY with its code;
///   the owner's abortive `goAway` with its code; disjoint versions with VERSION_MISMATCH.
public enum SessionInvariants {
    /// What went wrong, precisely enough to debug from the log.
    public struct Violation: Error, CustomStringConvertible {
        public var description: String
    }

    /// What a program did, for tests.
    public struct Outcome: Sendable {
        public var becameReady: Bool
        public var ended: Bool
        public var endError: SessionError?
        /// The exact expectations (named) that the program triggered and the machine met.
        public var expectationsMet: [String]
        public var operations: Int
        public var framesToMachine: Int
        public var framesFromMachine: Int
        /// COMPRESSED DATA frames the machine sent (each one whole unit its owner wrote).
        public var compressedFramesFromMachine = 0

        /// The code the session ended with (NO_ERROR for a clean end), nil while it runs.
        public var endCode: ErrorCode? { ended ? (endError?.code ?? .noError) : nil }
    }

    /// Runs the program `input` against one fresh `SessionStateMachine`, checking every invariant.
    public static func check(_ input: [UInt8]) throws(Violation) {
        _ = try run(input)
    }

    /// As `check`, and says what happened.
    public static func run(_ input: [UInt8]) throws(Violation) -> Outcome {
        guard let setup = input.first else {
            return Outcome(becameReady: false, ended: false, endError: nil, expectationsMet: [], operations: 0,
                           framesToMachine: 0, framesFromMachine: 0)
        }
        var harness = SessionHarness(setup: setup, program: input)
        try harness.run()
        return harness.outcome
    }

    /// The operations of a program (see the table above).
    public enum Op: UInt8, CaseIterable, Sendable {
        case hello = 0x00, streamOpen, data, dataAtWindow, reset, rapidReset, windowUpdate, ping, pingFlood
        case goAway, maxStreams, extensionFrame, raw, emptyFlood, tick, open, send, consume, localReset
        case release, localGoAway, drain, echo, close
    }

    /// Builds the setup octet.
    public static func setup(client: Bool = false, config: UInt8 = 0, peer: UInt8 = 0, hello: UInt8 = 0,
                             diligent: Bool = false) -> UInt8 {
        (client ? 1 : 0) | (config & 3) << 1 | (peer & 3) << 3 | (hello & 3) << 5 | (diligent ? 0x80 : 0)
    }

    /// A program under construction, for tests.
    public struct Program: Sendable {
        public var bytes: [UInt8]

        public init(setup: UInt8) {
            bytes = [setup]
        }

        public mutating func add(_ op: Op, _ operands: UInt8...) {
            bytes.append(op.rawValue)
            bytes += operands
        }
    }
}

// MARK: - The harness

/// A token bucket as spec §8 describes it: each event adds `period`, time drains `limit` per unit;
/// over budget when the level passes `limit × period`.
struct Bucket {
    let limit: Int64
    let period: Int64
    var level: Int64 = 0
    var last: Int64

    init(_ limit: Int, _ period: TimeAmount, start: Int64) {
        self.limit = Int64(limit)
        self.period = period.nanoseconds
        self.last = start
    }

    /// Counts one event at `time`; true when that exceeds the budget.
    mutating func count(at time: Int64) -> Bool {
        let elapsed = max(0, time - last)
        last = time
        let drained = elapsed.multipliedReportingOverflow(by: limit)
        level = drained.overflow ? 0 : max(0, level - drained.partialValue)
        level += period
        return level > limit * period
    }
}

/// What the oracle knows of one stream.
struct StreamModel {
    let id: UInt32
    let openedByPeer: Bool
    /// `.reset` or `.closed` was reported, or the owner reset it: no event may follow.
    var terminal = false
    /// The owner called `release` (peer streams).
    var released = false
    /// Machine → peer.
    var sendWindow: Int
    var ownerBytes = 0
    var emittedBytes = 0
    var ownerFin = false
    var finEmitted = false
    var maxWrite = 0
    /// Compressed units the owner wrote and not yet emitted: where each starts in the owner's
    /// octets, and its size. Each must leave whole, in one COMPRESSED DATA frame.
    var compressedUnits: [(offset: Int, size: Int)] = []
    var openEmitted: Bool
    var resetEmitted = false
    var blocked = false
    /// Peer → machine: what the peer was told it may still send.
    var peerCredit: Int
    var peerFin = false
    var unconsumed = 0

    /// Not yet forgotten by the machine.
    var live: Bool { openedByPeer ? !(released && terminal) : !terminal }
}

struct Expectation {
    var end: (code: ErrorCode, origin: SessionError.Origin, prefix: String?, name: String)?
    var mustEnd = false
    var notEnd: [(code: ErrorCode, prefix: String?, name: String)] = []

    mutating func expectEnd(_ code: ErrorCode, _ origin: SessionError.Origin = .local, _ prefix: String? = nil, _ name: String) {
        if end == nil { end = (code, origin, prefix, name) }
    }

    mutating func forbid(_ code: ErrorCode, _ prefix: String? = nil, _ name: String) {
        notEnd.append((code, prefix, name))
    }
}

struct SessionHarness {
    typealias Violation = SessionInvariants.Violation
    static let maxWindow = Int(WireLimits.maxWindow)

    let program: [UInt8]
    var cursor = 1
    let role: SessionRole
    let config: SessionConfiguration
    let peerPreset: Int
    let helloMode: Int
    let diligent: Bool
    var machine: SessionStateMachine
    var decoder: FrameDecoder
    var now: NIODeadline
    let start: NIODeadline

    // Phase, as the events told it.
    var ready = false
    var ended = false
    var endError: SessionError? = nil
    var stepEnd: SessionError?? = nil
    var postEndQueue = 0
    var goAwayCodesAfterEnd: [ErrorCode] = []
    var peerSettings = PeerSettings()
    var peerLimits = FrameDecoder.Limits()
    var feeding: Frame? = nil
    var fedHello: Hello? = nil

    // Streams.
    var streams: [UInt32: StreamModel] = [:]
    var order: [UInt32] = []
    /// Streams the machine must still hold (`StreamModel.live`).
    var live: Set<UInt32> = []
    /// Streams the diligent owner should look at after this step.
    var attention: [UInt32] = []
    var resetDue: Set<UInt32> = []
    /// Peer frames fed plus machine frames read: bounded, so that every program runs in bounded time.
    var work = 0
    static let maxWork = 60_000
    var stepData: Set<UInt32> = []
    var localOpened = 0
    var localCredit = 0
    var pendingOpens: [Frame] = []
    var peerOpened = 0
    var peerCreditSeen: Int
    var releasedCount = 0
    var refusedCount = 0
    var resetIDs: Set<UInt32> = []

    // Windows: what the machine may send, and what the peer believes it may send.
    var sendSession = 0
    var peerSession: Int

    // Liveness and shutdown.
    var lastFed: NIODeadline
    var goAwayFedLast: UInt32? = nil
    var goAwayEmittedLast: UInt32? = nil
    var localGoAway = false
    var pendingPongs: [UInt64: Int] = [:]
    var machinePings: [UInt64] = []
    var helloEmitted = false
    var maxStreamsEmitted = 0

    // Budgets: `lower` counts what the machine must count, `upper` what it may count.
    var resetLower: Bucket
    var resetUpper: Bucket
    var pingBucket: Bucket
    var emptyLower: Bucket
    var emptyUpper: Bucket
    var streamErrorBucket: Bucket
    var glitchLower: Bucket
    var glitchUpper: Bucket

    var met: [String] = []
    var operations = 0
    var framesIn = 0
    var framesOut = 0
    var compressedFramesOut = 0
    var opName = "setup"

    init(setup: UInt8, program: [UInt8]) {
        self.program = program
        role = setup & 1 == 0 ? .server : .client
        config = Self.configuration(role: role, preset: Int(setup >> 1) & 3)
        peerPreset = Int(setup >> 3) & 3
        helloMode = Int(setup >> 5) & 3
        diligent = setup & 0x80 != 0
        start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        now = start
        lastFed = start
        machine = SessionStateMachine(configuration: config, now: start)
        decoder = FrameDecoder(limits: config.settings.decoderLimits)
        peerCreditSeen = Int(config.settings.initialMaxStreams)
        peerSession = Int(config.settings.initialSessionWindow)
        let t = Int64(start.uptimeNanoseconds)
        let abuse = config.abuse
        resetLower = Bucket(abuse.resetsReceived, abuse.resetsPeriod, start: t)
        resetUpper = resetLower
        pingBucket = Bucket(abuse.pingsReceived, abuse.pingsPeriod, start: t)
        emptyLower = Bucket(abuse.emptyFrames, abuse.emptyFramesPeriod, start: t)
        emptyUpper = emptyLower
        streamErrorBucket = Bucket(abuse.streamErrorsCaused, abuse.streamErrorsPeriod, start: t)
        glitchLower = Bucket(abuse.glitches, abuse.glitchesPeriod, start: t)
        glitchUpper = glitchLower
    }

    static func configuration(role: SessionRole, preset: Int) -> SessionConfiguration {
        var config = SessionConfiguration(role: role)
        config.settings.compression = 0  // preset 2 offers it
        var small = AbuseLimits()
        small.resetsReceived = 8
        small.resetsPeriod = .seconds(1)
        small.streamErrorsCaused = 6
        small.streamErrorsPeriod = .seconds(1)
        small.pingsReceived = 5
        small.pingsPeriod = .seconds(1)
        small.emptyFrames = 5
        small.emptyFramesPeriod = .seconds(1)
        small.glitches = 10
        small.glitchesPeriod = .seconds(1)
        small.maxQueuedControlFrames = 16
        switch preset {
        case 1:
            config.settings.initialStreamWindow = 1024
            config.settings.initialSessionWindow = 4096
            config.settings.initialMaxStreams = 4
            config.settings.maxMetadataSize = 256
            config.streamSendBuffer = 2048
            config.maxDataFrameSize = 512
            config.maxStreamWindow = 8192
            config.maxSessionWindow = 32768
            config.maxReceiveBuffer = 12288
            config.pingInterval = .milliseconds(200)
            config.deathBound = .seconds(1)
            config.drainDeadline = .seconds(2)
            config.abuse = small
        case 2:
            config.settings.initialStreamWindow = 0
            config.settings.initialSessionWindow = 0
            config.settings.initialMaxStreams = 1
            config.settings.compression = 1
            config.streamSendBuffer = 1000
            config.maxDataFrameSize = 100
            config.abuse = small
        case 3:
            config.settings.initialStreamWindow = WireLimits.maxWindow
            config.settings.initialSessionWindow = WireLimits.maxWindow
            config.settings.initialMaxStreams = 1000
            config.settings.maxFrameSize = 65536
            config.settings.maxMetadataSize = 65535
            config.maxDataFrameSize = 65536
            config.streamSendBuffer = 256 * 1024
            config.abuse.maxQueuedControlFrames = 64
        default:
            break
        }
        return config
    }

    static func peerSettings(_ preset: Int) -> [Setting] {
        let max = WireLimits.maxWindow
        switch preset {
        case 1:
            return [Setting(.maxFrameSize, 16_384), Setting(.initialStreamWindow, 100), Setting(.initialSessionWindow, 300),
                    Setting(.initialMaxStreams, 2), Setting(.maxMetadataSize, 256)]
        case 2:
            return [Setting(.initialStreamWindow, 0), Setting(.initialSessionWindow, 0), Setting(.initialMaxStreams, 0),
                    Setting(.compression, 1)]
        case 3:
            return [Setting(.maxFrameSize, WireLimits.maxMaxFrameSize), Setting(.initialStreamWindow, max),
                    Setting(.initialSessionWindow, max), Setting(.initialMaxStreams, max),
                    Setting(.compression, 1), Setting(SettingID(rawValue: 0x8001), 7)]
        case 4:
            return [Setting(.maxFrameSize, 100)]
        case 5:
            return [Setting(.initialMaxStreams, 5), Setting(.initialMaxStreams, 6)]
        case 6:
            return [Setting(SettingID(rawValue: 0), 1)]
        case 7:
            return (0..<64).map { Setting(SettingID(rawValue: 0x8000 + UInt16($0)), UInt32($0)) }
        default:
            return []
        }
    }

    var outcome: SessionInvariants.Outcome {
        var outcome = SessionInvariants.Outcome(becameReady: peerSettingsKnown, ended: ended,
                                                endError: endError, expectationsMet: met, operations: operations,
                                                framesToMachine: framesIn, framesFromMachine: framesOut)
        outcome.compressedFramesFromMachine = compressedFramesOut
        return outcome
    }

    var peerSettingsKnown = false

    // MARK: Reading the program

    var atEnd: Bool { cursor >= program.count }

    mutating func byte() -> UInt8 {
        guard cursor < program.count else { return 0 }
        defer { cursor += 1 }
        return program[cursor]
    }

    static let sizes = [0, 1, 2, 7, 100, 1000, 1023, 1024, 1025, 4096, 16383, 16384, 16385, 32768, 65536, 65537]
    static func size(_ z: UInt8) -> Int { z < 16 ? sizes[Int(z)] : (Int(z) - 16) * 97 + 3 }

    static let steps = [0, 1, 10, 50, 100, 124, 126, 250, 500, 999, 1000, 1001, 2999, 3000, 10000, 30000]
    static func milliseconds(_ d: UInt8) -> Int64 { Int64(d < 16 ? steps[Int(d)] : (Int(d) - 16) * 25) }

    static func code(_ c: UInt8) -> ErrorCode {
        ErrorCode(rawValue: c < 0xF0 ? UInt32(c) : 0x8000_0000 | UInt32(c))
    }

    static func text(_ r: UInt8, scale: Int) -> String {
        let characters = ["a", "é", "€", "😀"]
        let count = Int(r >> 2 & 0x1F) * scale
        return (r & 0x80 != 0 ? "a" : "") + String(repeating: characters[Int(r & 3)], count: count)
    }

    static func pattern(_ id: UInt32, _ offset: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: offset ^ (offset >> 8) ^ (offset >> 16) &+ Int(id) &* 7)
    }

    var localFirst: UInt32 { role == .client ? 1 : 2 }
    var peerFirst: UInt32 { role == .client ? 2 : 1 }
    var nextLocalID: UInt32 { UInt32(truncatingIfNeeded: Int(localFirst) + 2 * localOpened) }
    var nextPeerID: UInt32 { UInt32(truncatingIfNeeded: Int(peerFirst) + 2 * peerOpened) }

    func isLocalParity(_ id: UInt32) -> Bool { (id & 1 == 1) == (role == .client) }

    func isIdle(_ id: UInt32) -> Bool {
        isLocalParity(id) ? Int(id) >= Int(localFirst) + 2 * localOpened : Int(id) >= Int(peerFirst) + 2 * peerOpened
    }

    mutating func selectStream(_ t: UInt8) -> UInt32 {
        switch t {
        case 0xF0: return nextPeerID
        case 0xF1: return nextLocalID
        case 0xF2: return 0
        case 0xF3: return WireLimits.maxWindow
        case 0xF4...0xFF: return order.last ?? nextPeerID
        default: return order.isEmpty ? nextPeerID : order[Int(t) % order.count]
        }
    }

    func metadata(_ f: UInt8, oversize: Int?) -> StreamMetadata {
        if let oversize {
            return StreamMetadata(bytesEntries: [("big", Array(repeating: 0x61, count: oversize))])
        }
        let entries = Int(f >> 1) & 7
        if f & 0x10 != 0 {
            var bytes = ByteBuffer()
            bytes.writeInteger(UInt8(3))
            bytes.writeString("Bad")
            bytes.writeInteger(UInt16(0))
            return StreamMetadata(unchecked: bytes)
        }
        return StreamMetadata((0..<entries).map { (key: "k\($0)", value: String(repeating: "v", count: $0 * 3)) })
    }

    func violation(_ text: String) -> Violation {
        Violation(description: "op \(operations) (\(opName)) at +\((now - start).nanoseconds / 1_000_000) ms, \(role): \(text)")
    }

    // MARK: Running

    mutating func run() throws(Violation) {
        if helloMode != 3 {
            opName = "automatic HELLO"
            try deliver(Frame(streamID: .session, payload: .hello(Hello(settings: Self.peerSettings(peerPreset)))))
            if helloMode == 1 { try echo() }
            try checkInvariants()
        }
        let opCount = UInt8(SessionInvariants.Op.allCases.count)
        while !atEnd && work < Self.maxWork {
            operations += 1
            let op = SessionInvariants.Op(rawValue: byte() % opCount)!
            opName = "\(op)"
            try perform(op)
            try checkInvariants()
        }
        opName = "final drain"
        try drain(limit: 0)
        try checkInvariants()
    }

    mutating func perform(_ op: SessionInvariants.Op) throws(Violation) {
        switch op {
        case .hello:
            let v = byte() % 5
            let s = Int(byte() % 8)
            let versions: [(UInt16, UInt16)] = [(1, 1), (1, 2), (2, 3), (0, 1), (2, 1)]
            let (low, high) = versions[Int(v)]
            try deliver(Frame(streamID: .session, payload: .hello(Hello(minVersion: low, maxVersion: high, settings: Self.peerSettings(s)))))
        case .streamOpen:
            let m = byte() % 5
            let kind = StreamKind(rawValue: byte())
            let f = byte()
            let ids: [UInt32] = [nextPeerID, nextPeerID &+ 2, nextLocalID, nextPeerID >= 3 ? nextPeerID - 2 : peerFirst,
                                 WireLimits.maxWindow]
            let oversize = f & 0x20 != 0 ? Int(config.settings.maxMetadataSize) : nil
            try deliver(Frame(streamID: StreamID(ids[Int(m)]),
                              payload: .streamOpen(kind: kind, metadata: metadata(f, oversize: oversize), fin: f & 1 != 0)))
        case .data:
            let id = selectStream(byte())
            let size = Self.size(byte())
            let f = byte()
            try deliver(.data(StreamID(id), ByteBuffer(repeating: 0x44, count: size), fin: f & 1 != 0, compressed: f & 2 != 0))
        case .dataAtWindow:
            let id = selectStream(byte())
            let delta = Int(Int8(bitPattern: byte()))
            let f = byte()
            var granted = peerSession
            if let model = streams[id] { granted = min(granted, model.peerCredit) }
            // Past the decoder's MAX_FRAME_SIZE is FRAME_TOO_LARGE whatever the size: stop one beyond it.
            let size = min(max(0, granted + delta), Int(config.settings.maxFrameSize) + 1)
            try deliver(.data(StreamID(id), ByteBuffer(repeating: 0x57, count: size), fin: f & 1 != 0, compressed: f & 2 != 0))
        case .reset:
            let id = selectStream(byte())
            let code = Self.code(byte())
            let reason = Self.text(byte(), scale: 3)
            try deliver(.reset(StreamID(id), code, reason: reason))
        case .rapidReset:
            let n = Int(byte()) + 1
            let f = byte()
            let same = order.last ?? nextPeerID
            for _ in 0..<n {
                if f & 2 != 0 {
                    try deliver(.reset(StreamID(same), .cancel))
                } else {
                    let id = nextPeerID
                    try deliver(Frame(streamID: StreamID(id), payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
                    try deliver(.reset(StreamID(id), .cancel))
                    if f & 1 != 0 { try local { $0.machine.release(StreamID(id)); $0.released(id) } }
                }
                if ended || work >= Self.maxWork { break }
            }
        case .windowUpdate:
            let id = selectStream(byte())
            let i = byte() % 9
            let current = id == 0 ? sendSession : (streams[id]?.sendWindow ?? 0)
            let room = Self.maxWindow - current
            let increments: [UInt32] = [1, 1000, 65535, UInt32(clamping: max(1, room)), UInt32(clamping: min(Self.maxWindow, room + 1)),
                                        WireLimits.maxWindow, 0, 0x8000_0001, 4096]
            try deliver(Frame(streamID: StreamID(id), payload: .windowUpdate(increment: increments[Int(i)])))
        case .ping:
            let a = byte() % 3
            let o = UInt64(byte())
            switch a {
            case 0: try deliver(Frame(streamID: .session, payload: .ping(opaque: o)))
            case 1: try deliver(Frame(streamID: .session, payload: .ping(opaque: machinePings.last ?? 0, ack: true)))
            default: try deliver(Frame(streamID: .session, payload: .ping(opaque: 0xDEAD_0000 | o, ack: true)))
            }
        case .pingFlood:
            let n = Int(byte()) + 1
            for index in 0..<n {
                try deliver(Frame(streamID: .session, payload: .ping(opaque: UInt64(index))))
                if ended || work >= Self.maxWork { break }
            }
        case .goAway:
            let l = byte() % 6
            let code = Self.code(byte())
            let debug = Self.text(byte(), scale: 12)
            let odd = role == .client
            let newest = order.last(where: { ($0 & 1 == 1) == odd }) ?? 0
            let lasts: [UInt32] = [newest, 0, WireLimits.maxWindow, (goAwayFedLast ?? newest) &+ 2, newest >= 2 ? newest - 2 : 0,
                                   0x8000_0000 | newest]
            try deliver(.goAway(lastStreamID: StreamID(lasts[Int(l)]), code, debug: debug))
        case .maxStreams:
            let v = byte() % 6
            let values: [UInt32] = [UInt32(clamping: min(Self.maxWindow, localCredit + 1)), UInt32(clamping: min(Self.maxWindow, localCredit + 50)),
                                    UInt32(clamping: max(0, localCredit - 1)), WireLimits.maxWindow, 0x8000_0000 | UInt32(clamping: localCredit),
                                    UInt32(clamping: localCredit)]
            try deliver(Frame(streamID: .session, payload: .maxStreams(values[Int(v)])))
        case .extensionFrame:
            let type = FrameType(rawValue: 0x80 | byte())
            let flags = byte()
            let size = Self.size(byte())
            try deliver(Frame(streamID: .session, payload: .extension(type: type, flags: flags, payload: ByteBuffer(repeating: 0x45, count: size))))
        case .raw:
            let n = Int(byte())
            var bytes = ByteBuffer()
            for _ in 0..<n where !atEnd { bytes.writeInteger(byte()) }
            try deliverBytes(bytes)
        case .emptyFlood:
            let id = selectStream(byte())
            let n = Int(byte()) + 1
            for _ in 0..<n {
                try deliver(.data(StreamID(id), ByteBuffer()))
                if ended || work >= Self.maxWork { break }
            }
        case .tick:
            now = now + .milliseconds(Self.milliseconds(byte()))
            try tick()
        case .open:
            let kind = StreamKind(rawValue: byte())
            let f = byte()
            try open(kind: kind, metadata: metadata(f & 0x0E, oversize: f & 0x10 != 0 ? 300 : nil), fin: f & 1 != 0)
        case .send:
            let id = selectStream(byte())
            let size = Self.size(byte())
            let flags = byte()
            try send(id, size: size, fin: flags & 1 != 0, compressed: flags & 2 != 0)
        case .consume:
            let id = selectStream(byte())
            let z = byte()
            let available = streams[id]?.unconsumed ?? 0
            let octets = z == 0xFF ? available : min(Self.size(z), available)
            try local { $0.consume(id, octets) }
        case .localReset:
            let id = selectStream(byte())
            let code = Self.code(byte())
            let reason = Self.text(byte(), scale: 3)
            try local { harness in
                let wasOpen = harness.streams[id].map { !$0.terminal } ?? false
                harness.machine.reset(StreamID(id), code: code, reason: reason)
                if wasOpen && !harness.ended { harness.localResetDone(id) }
            }
        case .release:
            let id = selectStream(byte())
            try local { $0.machine.release(StreamID(id)); $0.released(id) }
        case .localGoAway:
            let code = Self.code(byte())
            let graceful = byte() & 1 != 0
            let debug = Self.text(byte(), scale: 12)
            try localGoAway(code: code, graceful: graceful, debug: debug)
        case .drain:
            try drain(limit: Int(byte()))
        case .echo:
            try echo()
        case .close:
            if byte() & 1 != 0 {
                var expectation = Expectation()
                expectation.mustEnd = !ended
                var failure: FrameDecodingError? = nil
                do throws(FrameDecodingError) { try decoder.finish() } catch { failure = error }
                if let failure {
                    if !ended, let code = failure.code { expectation.expectEnd(code, .local, nil, "malformed: \(failure.malformation.rawValue)") }
                    try step(expectation) { $0.machine.receiveMalformed(failure) }
                } else {
                    try step(expectation) { $0.machine.transportClosed("the input ended") }
                }
            } else {
                var expectation = Expectation()
                expectation.mustEnd = !ended
                try step(expectation) { $0.machine.transportClosed("the connection closed") }
            }
        }
    }

    // MARK: Steps

    /// Runs one call into the machine, then its events, the owner's reactions and the expectation.
    mutating func step(_ expectation: Expectation, _ body: (inout SessionHarness) throws(Violation) -> Void) throws(Violation) {
        stepEnd = nil
        try body(&self)
        try drainEvents()
        try verify(expectation)
        try ownerReacts()
    }

    mutating func local(_ body: (inout SessionHarness) throws(Violation) -> Void) throws(Violation) {
        try step(Expectation(), body)
    }

    mutating func verify(_ expectation: Expectation) throws(Violation) {
        if let end = expectation.end {
            guard let ended = stepEnd else {
                throw violation("expected the session to end with \(end.code) (\(end.name)), but it goes on")
            }
            guard let error = ended, error.code == end.code, error.origin == end.origin,
                  end.prefix.map({ error.message.hasPrefix($0) }) ?? true
            else {
                throw violation("expected the session to end with \(end.code) from \(end.origin) (\(end.name)), but it ended with \(String(describing: ended))")
            }
            met.append(end.name)
        } else if expectation.mustEnd && stepEnd == nil {
            throw violation("expected the session to end, but it goes on")
        }
        if let ended = stepEnd, let error = ended {
            for forbidden in expectation.notEnd where error.code == forbidden.code && (forbidden.prefix.map { error.message.hasPrefix($0) } ?? true) {
                throw violation("the session ended with \(error), which \(forbidden.name) rules out")
            }
        }
    }

    /// A diligent owner consumes what was delivered and releases the peer streams that ended.
    mutating func ownerReacts() throws(Violation) {
        guard diligent else {
            attention.removeAll()
            return
        }
        for _ in 0..<4 {
            guard !attention.isEmpty, !ended else { break }
            let ids = Set(attention).sorted()
            attention.removeAll()
            for id in ids {
                guard let model = streams[id], model.live else { continue }
                if model.unconsumed > 0 {
                    consume(id, model.unconsumed)
                }
                if model.openedByPeer && model.terminal && !model.released {
                    machine.release(StreamID(id))
                    released(id)
                }
            }
            try drainEvents()
        }
        attention.removeAll()
    }

    mutating func consume(_ id: UInt32, _ octets: Int) {
        machine.consumed(StreamID(id), octets: octets, now: now)
        if streams[id] != nil { streams[id]!.unconsumed -= min(octets, streams[id]!.unconsumed) }
    }

    /// The owner released `id`: model what the machine does (spec §5.4).
    mutating func released(_ id: UInt32) {
        guard var model = streams[id], model.openedByPeer, !model.released, !ended else { return }
        model.released = true
        releasedCount += 1
        if !model.terminal {
            // Both directions done but our FIN still queued: the machine releases it once the FIN is out.
            let deferred = model.ownerFin && !model.finEmitted && model.peerFin
            if !deferred {
                model.terminal = true
                resetDue.insert(id)
            }
        }
        update(model)
    }

    mutating func localResetDone(_ id: UInt32) {
        guard var model = streams[id], !model.terminal else { return }
        model.terminal = true
        resetDue.insert(id)
        update(model)
    }

    mutating func markTerminal(_ id: UInt32) {
        guard var model = streams[id], !model.terminal else { return }
        model.terminal = true
        update(model)
        attention.append(id)
    }

    mutating func update(_ model: StreamModel) {
        streams[model.id] = model
        if model.live { live.insert(model.id) } else { live.remove(model.id) }
    }

    mutating func addStream(_ model: StreamModel) {
        order.append(model.id)
        update(model)
    }

    // MARK: Events

    mutating func drainEvents() throws(Violation) {
        for _ in 0..<1_000_000 {
            guard let event = machine.nextEvent() else { return }
            if ended { throw violation("event \(event) after .ended") }
            try handle(event)
        }
        throw violation("more than a million events in one step")
    }

    mutating func liveStream(_ id: StreamID, for event: SessionEvent) throws(Violation) -> StreamModel {
        guard let model = streams[id.rawValue] else { throw violation("\(event) for a stream never opened") }
        guard !model.terminal else { throw violation("\(event) after the stream was reset, closed or reset by its owner") }
        return model
    }

    mutating func handle(_ event: SessionEvent) throws(Violation) {
        switch event {
        case .ready(let version, let peer):
            guard !ready, let frame = feeding, case .hello(let hello) = frame.payload else {
                throw violation(".ready without a HELLO being fed, or twice")
            }
            let expected = min(config.versions.upperBound, hello.maxVersion)
            guard version == expected, peer == PeerSettings(hello) else {
                throw violation(".ready(\(version), \(peer)) does not match the HELLO \(hello)")
            }
            ready = true
            peerSettingsKnown = true
            peerSettings = peer
            peerLimits = peer.decoderLimits
            sendSession = Int(peer.initialSessionWindow)
            localCredit = Int(peer.initialMaxStreams)
        case .streamOpened(let id, let kind, let metadata, let fin):
            guard let frame = feeding, frame.streamID == id, case .streamOpen(kind, metadata, fin) = frame.payload else {
                throw violation("\(event) does not match the frame fed: \(String(describing: feeding))")
            }
            guard streams[id.rawValue] == nil else { throw violation("\(event) for a stream opened before") }
            var model = StreamModel(id: id.rawValue, openedByPeer: true, sendWindow: Int(peerSettings.initialStreamWindow),
                                    openEmitted: true, peerCredit: Int(config.settings.initialStreamWindow))
            model.peerFin = fin
            addStream(model)
            attention.append(id.rawValue)
        case .data(let id, let bytes, let fin, let compressed):
            var model = try liveStream(id, for: event)
            guard let frame = feeding, frame.streamID == id, case .data(let fed, fin, compressed) = frame.payload, fed == bytes else {
                throw violation("\(event) does not match the frame fed: \(String(describing: feeding))")
            }
            guard !model.peerFin else { throw violation("\(event) after the peer's FIN") }
            guard bytes.readableBytes > 0 || fin else { throw violation("an empty .data event without FIN") }
            model.unconsumed += bytes.readableBytes
            model.peerFin = fin
            streams[id.rawValue] = model
            stepData.insert(id.rawValue)
            attention.append(id.rawValue)
        case .writable(let id):
            var model = try liveStream(id, for: event)
            guard model.blocked else { throw violation("\(event) for a stream that was never full") }
            guard machine.isWritable(id) else { throw violation("\(event), but isWritable is false") }
            model.blocked = false
            streams[id.rawValue] = model
        case .reset(let id, let code, _, let byPeer):
            _ = try liveStream(id, for: event)
            if byPeer, let frame = feeding, frame.streamID == id, case .reset(let fed, _) = frame.payload, fed != code {
                throw violation("\(event) does not carry the code fed, \(fed)")
            }
            markTerminal(id.rawValue)
        case .closed(let id):
            let model = try liveStream(id, for: event)
            guard model.peerFin && model.finEmitted else {
                throw violation("\(event) before both FINs (peer FIN \(model.peerFin), own FIN sent \(model.finEmitted))")
            }
            markTerminal(id.rawValue)
        case .streamCreditAvailable:
            var credit = localCredit
            if let frame = feeding, case .maxStreams(let maximum) = frame.payload { credit = Int(maximum) }
            guard localOpened < credit else {
                throw violation(".streamCreditAvailable with \(localOpened) streams opened of \(localCredit)")
            }
        case .goAwayReceived(let last, let code, _):
            guard let frame = feeding, case .goAway(last, code, _) = frame.payload else {
                throw violation("\(event) does not match the frame fed: \(String(describing: feeding))")
            }
        case .roundTrip:
            guard let frame = feeding, case .ping(_, ack: true) = frame.payload else {
                throw violation("\(event) without a PING ACK being fed")
            }
        case .ended(let error):
            ended = true
            endError = error
            stepEnd = .some(error)
            postEndQueue = machine.queuedControlFrames
            for id in live {
                streams[id]!.terminal = true
                streams[id]!.released = true
            }
            live.removeAll()
            resetDue.removeAll()
        }
    }

    // MARK: Frames from the peer

    mutating func deliver(_ frame: Frame) throws(Violation) {
        try deliverBytes(FrameEncoder.bytes(of: frame))
    }

    mutating func deliverBytes(_ bytes: ByteBuffer) throws(Violation) {
        decoder.append(bytes)
        for _ in 0..<100_000 {
            let frame: Frame?
            do {
                frame = try decoder.next()
            } catch {
                var expectation = Expectation()
                if !ended, let code = error.code { expectation.expectEnd(code, .local, nil, "malformed: \(error.malformation.rawValue)") }
                expectation.mustEnd = !ended
                try step(expectation) { $0.machine.receiveMalformed(error) }
                return
            }
            guard let frame else { return }
            try feed(frame)
        }
    }

    mutating func feed(_ frame: Frame) throws(Violation) {
        framesIn += 1
        work += 1
        stepData.removeAll()
        let wasEnded = ended
        var expectation = Expectation()
        var context = FeedContext()
        if !wasEnded { predict(frame, &expectation, &context) }
        feeding = frame
        stepEnd = nil
        machine.receive(frame, now: now)
        try drainEvents()
        feeding = nil
        if !wasEnded {
            lastFed = now
            try verify(expectation)
            try apply(frame, context)
        }
        try ownerReacts()
        try checkInvariants(focus: frame.streamID.rawValue)
    }

    /// What the oracle knew just before a frame was fed.
    struct FeedContext {
        var idle = false
        var open = false
        var openRemote = false
        var expectData = false
        var expectStreamError = false
        var validOpen = false
        var localAbove: [UInt32] = []
    }

    mutating func predict(_ frame: Frame, _ expectation: inout Expectation, _ context: inout FeedContext) {
        let id = frame.streamID.rawValue
        let t = Int64(now.uptimeNanoseconds)
        guard ready else {
            switch frame.payload {
            case .hello(let hello):
                if min(config.versions.upperBound, hello.maxVersion) < max(config.versions.lowerBound, hello.minVersion) {
                    expectation.expectEnd(.versionMismatch, .local, "version mismatch", "VERSION_MISMATCH for disjoint versions")
                }
            case .goAway(_, let code, _):
                expectation.expectEnd(code, .peer, nil, "the peer's GOAWAY before HELLO ends the session")
            default:
                expectation.expectEnd(.protocolError, .local, "the first frame was", "PROTOCOL_ERROR for a first frame other than HELLO")
            }
            return
        }
        let model = streams[id]
        context.idle = id != 0 && isIdle(id)
        context.open = model.map { !$0.terminal } ?? false
        context.openRemote = context.open && !(model?.peerFin ?? true)
        switch frame.payload {
        case .hello:
            expectation.expectEnd(.protocolError, .local, "a second HELLO", "PROTOCOL_ERROR for a second HELLO")
        case .data(let bytes, let fin, let compressed):
            let length = bytes.readableBytes
            if context.idle {
                return expectation.expectEnd(.protocolError, .local, "DATA on stream", "PROTOCOL_ERROR for DATA on an idle stream")
            }
            if length > machine.sessionReceiveCredit {
                return expectation.expectEnd(.flowControlError, .local, "DATA of", "FLOW_CONTROL_ERROR for DATA beyond the session window")
            }
            if length <= peerSession && (!context.openRemote || length <= model!.peerCredit) {
                expectation.forbid(.flowControlError, nil, "DATA within what the peer was granted")
            }
            if compressed && !config.settings.acceptsDeflate {
                return expectation.expectEnd(.compressionError, .local, "COMPRESSED", "COMPRESSION_ERROR for COMPRESSED DATA without negotiation")
            }
            // Whether the machine surely goes on past the empty-frame budget.
            var certain = true
            if length == 0 && !fin {
                let lower = context.open ? emptyLower.count(at: t) : false
                let upper = emptyUpper.count(at: t)
                if lower {
                    return expectation.expectEnd(.enhanceYourCalm, .local, "too many empty DATA", "ENHANCE_YOUR_CALM for an empty-frame flood")
                }
                if upper { certain = false } else { expectation.forbid(.enhanceYourCalm, "too many empty DATA", "the empty-frame budget") }
            }
            guard context.open else { return }
            if model!.peerFin {
                let over = streamErrorBucket.count(at: t)
                guard certain else { return }
                if over {
                    return expectation.expectEnd(.enhanceYourCalm, .local, "too many stream errors", "ENHANCE_YOUR_CALM for too many stream errors")
                }
                expectation.forbid(.enhanceYourCalm, "too many stream errors", "the stream-error budget")
                context.expectStreamError = true
                return
            }
            guard certain else { return }
            if length > (machine.receiveCredit(frame.streamID) ?? Int.max) {
                return expectation.expectEnd(.flowControlError, .local, "DATA of", "FLOW_CONTROL_ERROR for DATA beyond the stream window")
            }
            if compressed && length == 0 {
                // An empty compressed unit is a stream error COMPRESSION_ERROR (spec §12).
                let over = streamErrorBucket.count(at: t)
                if over {
                    return expectation.expectEnd(.enhanceYourCalm, .local, "too many stream errors", "ENHANCE_YOUR_CALM for too many stream errors")
                }
                expectation.forbid(.enhanceYourCalm, "too many stream errors", "the stream-error budget")
                context.expectStreamError = true
                return
            }
            context.expectData = length > 0 || fin
        case .streamOpen:
            if isLocalParity(id) {
                return expectation.expectEnd(.protocolError, .local, "the peer opened stream", "PROTOCOL_ERROR for STREAM_OPEN of this side's parity")
            }
            if id != nextPeerID {
                return expectation.expectEnd(.protocolError, .local, "the peer opened stream", "PROTOCOL_ERROR for a skipped or reused stream id")
            }
            context.validOpen = true
            let k = peerOpened + 1
            let upperCredit = min(Self.maxWindow, Int(config.settings.initialMaxStreams) + releasedCount + refusedCount)
            if k > upperCredit {
                return expectation.expectEnd(.streamLimitError, .local, nil, "STREAM_LIMIT_ERROR for a stream beyond the credit")
            }
            if k <= peerCreditSeen { expectation.forbid(.streamLimitError, nil, "a stream within the credit granted") }
        case .reset:
            if context.idle {
                return expectation.expectEnd(.protocolError, .local, "RESET on stream", "PROTOCOL_ERROR for RESET on an idle stream")
            }
            // The RESET budget counts RESETs of live streams the peer opened; RESETs of closed
            // streams count as glitches (spec §8). The model does not always know which streams the
            // machine still holds: the lower bounds count what surely counts, the upper ones what may.
            let peerOpened = !isLocalParity(id)
            let lower = context.open && peerOpened ? resetLower.count(at: t) : false
            let upper = peerOpened ? resetUpper.count(at: t) : false
            let glitchMaybe = glitchUpper.count(at: t)
            if lower {
                return expectation.expectEnd(.enhanceYourCalm, .local, "too many RESET frames", "ENHANCE_YOUR_CALM for a RESET flood")
            }
            if !upper { expectation.forbid(.enhanceYourCalm, "too many RESET frames", "the RESET budget") }
            if !glitchMaybe { expectation.forbid(.enhanceYourCalm, "too many odd frames", "the glitch budget") }
        case .windowUpdate(let increment):
            if id == 0 {
                if sendSession + Int(increment) > Self.maxWindow {
                    return expectation.expectEnd(.flowControlError, .local, "WINDOW_UPDATE of", "FLOW_CONTROL_ERROR for a session window past 2^31-1")
                }
                return expectation.forbid(.flowControlError, nil, "a WINDOW_UPDATE within 2^31-1")
            }
            if context.idle {
                return expectation.expectEnd(.protocolError, .local, "WINDOW_UPDATE on stream", "PROTOCOL_ERROR for WINDOW_UPDATE on an idle stream")
            }
            if context.open && model!.sendWindow + Int(increment) > Self.maxWindow {
                return expectation.expectEnd(.flowControlError, .local, "WINDOW_UPDATE of", "FLOW_CONTROL_ERROR for a stream window past 2^31-1")
            }
            expectation.forbid(.flowControlError, nil, "a WINDOW_UPDATE within 2^31-1 or on a closed stream")
        case .ping(_, let ack):
            if ack {
                if glitchUpper.count(at: t) == false {
                    expectation.forbid(.enhanceYourCalm, "too many odd frames", "the glitch budget")
                }
            } else if pingBucket.count(at: t) {
                expectation.expectEnd(.enhanceYourCalm, .local, "too many PING frames", "ENHANCE_YOUR_CALM for a PING flood")
            } else {
                expectation.forbid(.enhanceYourCalm, "too many PING frames", "the PING budget")
            }
        case .goAway(let last, let code, _):
            if let previous = goAwayFedLast, last.rawValue > previous {
                return expectation.expectEnd(.protocolError, .local, "GOAWAY raised", "PROTOCOL_ERROR for a GOAWAY that raises its last stream id")
            }
            if code != .noError {
                return expectation.expectEnd(code, .peer, nil, "the peer's GOAWAY with an error ends the session with its code")
            }
            context.localAbove = streams.values.filter { !$0.openedByPeer && !$0.terminal && $0.id > last.rawValue }.map(\.id)
        case .maxStreams(let maximum):
            if Int(maximum) < localCredit {
                return expectation.expectEnd(.protocolError, .local, "MAX_STREAMS lowered", "PROTOCOL_ERROR for a lowered MAX_STREAMS")
            }
            expectation.forbid(.protocolError, nil, "MAX_STREAMS that does not lower the credit")
        case .extension:
            let lower = glitchLower.count(at: t)
            let upper = glitchUpper.count(at: t)
            if lower {
                return expectation.expectEnd(.enhanceYourCalm, .local, "too many odd frames", "ENHANCE_YOUR_CALM for an extension-frame flood")
            }
            if !upper { expectation.forbid(.enhanceYourCalm, "too many odd frames", "the glitch budget") }
        }
    }

    mutating func apply(_ frame: Frame, _ context: FeedContext) throws(Violation) {
        let id = frame.streamID.rawValue
        if !ready && !ended, case .hello = frame.payload, fedHello == nil {
            throw violation("a HELLO with overlapping versions did not make the session ready")
        }
        if case .hello(let hello) = frame.payload, fedHello == nil { fedHello = hello }
        guard ready || ended else { return }
        switch frame.payload {
        case .data(let bytes, _, _):
            guard !context.idle, !ended else { return }
            peerSession -= bytes.readableBytes
            if context.openRemote { streams[id]!.peerCredit -= bytes.readableBytes }
            if context.expectData && !stepSawData(id) {
                throw violation("DATA accepted on stream \(id) but no .data event")
            }
            if context.expectStreamError && !(streams[id]?.terminal ?? true) {
                throw violation("DATA after the peer's FIN on stream \(id) did not reset it (STREAM_CLOSED)")
            }
            if context.expectStreamError { resetDue.insert(id) }
        case .streamOpen:
            guard context.validOpen else { return }
            peerOpened += 1
            if !ended && streams[id] == nil {
                guard localGoAway else { throw violation("STREAM_OPEN \(id) was refused without a GOAWAY from this side") }
                refusedCount += 1
            }
        case .reset(let code, _):
            if context.open && !ended && !(streams[id]?.terminal ?? true) {
                throw violation("RESET \(code) on open stream \(id) did not end it")
            }
        case .windowUpdate(let increment):
            guard !ended else { return }
            if id == 0 {
                sendSession += Int(increment)
            } else if context.open {
                streams[id]!.sendWindow += Int(increment)
            }
        case .ping(let opaque, let ack):
            if !ack && !ended { pendingPongs[opaque, default: 0] += 1 }
        case .goAway(let last, _, _):
            guard !ended else { return }
            goAwayFedLast = last.rawValue
            for above in context.localAbove where !(streams[above]?.terminal ?? true) {
                throw violation("the peer's GOAWAY(last \(last)) did not refuse local stream \(above)")
            }
        case .maxStreams(let maximum):
            if !ended { localCredit = Int(maximum) }
        case .hello, .extension:
            break
        }
    }

    /// Whether the last frame fed produced a `.data` event on `id`.
    func stepSawData(_ id: UInt32) -> Bool { stepData.contains(id) }

    // MARK: Local intents

    mutating func open(kind: StreamKind, metadata: StreamMetadata, fin: Bool) throws(Violation) {
        let closing = isClosingModel
        let wasReady = ready && !ended
        let expectedID = nextLocalID
        let allowed = wasReady && !closing && localOpened < localCredit
        var result: Result<StreamID, StreamOperationError> = .failure(.notReady)
        try local { harness in
            do throws(StreamOperationError) {
                let id = try harness.machine.openStream(kind: kind, metadata: metadata, fin: fin)
                result = .success(id)
                // Known before the events of this step (the machine may end at once and report it reset).
                harness.localOpened += 1
                var model = StreamModel(id: id.rawValue, openedByPeer: false, sendWindow: Int(harness.peerSettings.initialStreamWindow),
                                        openEmitted: false, peerCredit: Int(harness.config.settings.initialStreamWindow))
                model.ownerFin = fin
                model.finEmitted = fin  // it rides on the STREAM_OPEN, queued now
                harness.addStream(model)
                harness.pendingOpens.append(Frame(streamID: id, payload: .streamOpen(kind: kind, metadata: metadata, fin: fin)))
            } catch {
                result = .failure(error)
            }
        }
        switch result {
        case .success(let id):
            guard allowed else {
                throw violation("openStream succeeded while not ready, closing or without credit (\(localOpened - 1) of \(localCredit))")
            }
            guard id.rawValue == expectedID else { throw violation("openStream returned \(id), expected \(expectedID)") }
            guard metadata.bytes.readableBytes <= Int(peerSettings.maxMetadataSize) else {
                throw violation("openStream accepted metadata beyond the peer's limit")
            }
        case .failure(.notReady):
            guard !ready && !ended else { throw violation("openStream: notReady while ready or ended") }
        case .failure(.sessionClosing):
            guard closing else { throw violation("openStream: sessionClosing while not closing") }
        case .failure(.noStreamCredit):
            guard localOpened >= localCredit else { throw violation("openStream: noStreamCredit with \(localOpened) of \(localCredit)") }
        case .failure(.metadataTooLarge):
            guard metadata.bytes.readableBytes > Int(peerSettings.maxMetadataSize) else {
                throw violation("openStream: metadataTooLarge for \(metadata.bytes.readableBytes) octets")
            }
        case .failure(let error):
            throw violation("openStream failed with \(error)")
        }
    }

    var isClosingModel: Bool { ended || localGoAway || goAwayFedLast != nil }

    mutating func send(_ id: UInt32, size: Int, fin: Bool, compressed: Bool = false) throws(Violation) {
        let model = streams[id]
        let offset = model?.ownerBytes ?? 0
        let bytes = ByteBuffer(bytes: (0..<size).map { Self.pattern(id, offset + $0) })
        var failure: StreamOperationError? = nil
        let queuedBefore = machine.queuedBytes(StreamID(id))
        try local { harness in
            do throws(StreamOperationError) {
                try harness.machine.send(StreamID(id), bytes, fin: fin, compressed: compressed)
            } catch {
                failure = error
            }
        }
        let unitFits = size >= 1 && size <= machine.maxCompressedUnit
        if let failure {
            if case .sendBufferFull = failure, queuedBefore < config.streamSendBuffer {
                throw violation("send: sendBufferFull with \(queuedBefore) octets queued")
            }
            if case .compressionNotNegotiated = failure, peerSettings.acceptsDeflate {
                throw violation("send: compression refused although the peer accepts DEFLATE")
            }
            if case .compressedUnitSize = failure, unitFits {
                throw violation("send: a compressed unit of \(size) octets refused, within 1…\(machine.maxCompressedUnit)")
            }
            return
        }
        if compressed && !(peerSettings.acceptsDeflate && unitFits) {
            throw violation("send: a compressed unit of \(size) octets accepted (peer accepts DEFLATE: \(peerSettings.acceptsDeflate), limit \(machine.maxCompressedUnit))")
        }
        guard var model, !model.terminal, !model.ownerFin else {
            throw violation("send accepted on a stream that is unknown, ended or finished by its owner")
        }
        if compressed { model.compressedUnits.append((offset: model.ownerBytes, size: size)) }
        model.ownerBytes += size
        model.maxWrite = max(model.maxWrite, size)
        model.ownerFin = fin
        if machine.queuedBytes(StreamID(id)) >= config.streamSendBuffer { model.blocked = true }
        streams[id] = model
    }

    mutating func localGoAway(code: ErrorCode, graceful: Bool, debug: String) throws(Violation) {
        var expectation = Expectation()
        if !ended {
            if graceful && code == .noError && ready {
                localGoAway = true
            } else {
                expectation.expectEnd(code, .local, nil, "the owner's abortive goAway ends the session with its code")
            }
        }
        try step(expectation) { $0.machine.goAway(code: code, debug: debug, graceful: graceful, now: $0.now) }
    }

    mutating func tick() throws(Violation) {
        var expectation = Expectation()
        if !ended {
            if now - lastFed >= config.deathBound {
                expectation.expectEnd(.timeout, .transport, nil, "TIMEOUT for a silent peer")
            } else {
                expectation.forbid(.timeout, nil, "a peer heard from within the death bound")
            }
        }
        try step(expectation) { $0.machine.tick(now: $0.now) }
        if !ended {
            guard let deadline = machine.nextDeadline, deadline > now else {
                throw violation("after tick(now:) the next deadline \(String(describing: machine.nextDeadline)) is not in the future")
            }
        } else if machine.nextDeadline != nil {
            throw violation("an ended session still has a deadline")
        }
    }

    // MARK: Frames from the machine

    /// The peer reads up to `limit` frames (0: until there are none).
    mutating func drain(limit: Int) throws(Violation) {
        let bound = limit == 0 ? 200_000 : limit
        for _ in 0..<bound {
            stepEnd = nil
            guard let frame = machine.nextOutboundFrame() else {
                try drainEvents()
                try checkDry()
                return
            }
            work += 1
            try peerReads(frame)
            try drainEvents()
            try ownerReacts()
            try checkInvariants(focus: frame.streamID.rawValue)
        }
    }

    /// The peer reads everything and answers every PING request.
    mutating func echo() throws(Violation) {
        let before = machinePings.count
        try drain(limit: 0)
        for opaque in machinePings[before...] {
            try deliver(Frame(streamID: .session, payload: .ping(opaque: opaque, ack: true)))
        }
    }

    /// Nothing more came out: nothing may be stuck.
    mutating func checkDry() throws(Violation) {
        guard !machine.hasOutboundFrames else { throw violation("nextOutboundFrame() is nil but hasOutboundFrames is true") }
        if ended {
            guard machine.queuedControlFrames == 0 else { throw violation("frames left queued after the end") }
            // A locally detected error, or our own death-bound TIMEOUT, leaves a GOAWAY with its code.
            if let error = endError, error.origin == .local || (error.origin == .transport && error.code == .timeout),
               !goAwayCodesAfterEnd.contains(error.code) {
                throw violation("the session ended with \(error) but sent no GOAWAY with that code")
            }
            return
        }
        guard ready else { return }
        if let id = resetDue.min() { throw violation("stream \(id) was reset locally but no RESET went out") }
        for id in live.sorted() {
            guard let model = streams[id], !model.terminal else { continue }
            let waiting = model.ownerBytes - model.emittedBytes
            if waiting > 0 && model.sendWindow > 0 && sendSession > 0 {
                throw violation("stream \(id) has \(waiting) octets queued, window \(model.sendWindow) and session window \(sendSession), but nothing was sent")
            }
            if waiting == 0 && model.ownerFin && !model.finEmitted {
                throw violation("stream \(id) has only its FIN left (it needs no window), but it was not sent")
            }
        }
    }

    mutating func peerReads(_ frame: Frame) throws(Violation) {
        framesOut += 1
        // The frame decodes, with the peer's limits, back to itself.
        var check = FrameDecoder(limits: peerLimits)
        check.append(FrameEncoder.bytes(of: frame))
        do {
            guard let back = try check.next(), back == frame, check.bufferedBytes == 0 else {
                throw violation("outbound frame does not decode back to itself: \(frame)")
            }
        } catch {
            throw violation("outbound frame does not decode with the peer's limits (\(error)): \(frame)")
        }
        if ended {
            postEndQueue -= 1
            guard postEndQueue >= 0 else { throw violation("frame \(frame.type) after the end was not queued before it") }
            switch frame.payload {
            case .goAway(_, let code, _): goAwayCodesAfterEnd.append(code)
            case .hello: break
            case .reset:
                // A clean end (drain done or at its deadline) still sends the RESETs it queued (spec §7.2).
                guard endError == nil, frame.streamID.rawValue != 0 else { throw violation("RESET after an end with \(String(describing: endError))") }
            default: throw violation("\(frame.type) after the end")
            }
        }
        if !helloEmitted {
            guard case .hello(let hello) = frame.payload else { throw violation("the first frame is \(frame.type), not HELLO") }
            guard hello == config.hello else { throw violation("HELLO \(hello) is not the configured \(config.hello)") }
            helloEmitted = true
            return
        }
        if !peerSettingsKnown {
            guard case .goAway = frame.payload else { throw violation("\(frame.type) before the peer's HELLO") }
        }
        let id = frame.streamID.rawValue
        switch frame.payload {
        case .hello:
            throw violation("a second HELLO")
        case .data(let bytes, let fin, let compressed):
            guard var model = streams[id] else { throw violation("DATA on stream \(id), which was never opened") }
            guard !model.terminal, !model.resetEmitted else { throw violation("DATA on stream \(id) after it was reset or closed") }
            guard !model.finEmitted else { throw violation("DATA on stream \(id) after its FIN") }
            guard model.openEmitted else { throw violation("DATA on stream \(id) before its STREAM_OPEN") }
            let length = bytes.readableBytes
            if let unit = model.compressedUnits.first, unit.offset == model.emittedBytes, length > 0 {
                guard compressed, length == unit.size else {
                    throw violation("a compressed unit of \(unit.size) octets on stream \(id) left as \(compressed ? "COMPRESSED" : "plain") DATA of \(length)")
                }
                model.compressedUnits.removeFirst()
                compressedFramesOut += 1
            } else {
                guard !compressed else { throw violation("COMPRESSED DATA on stream \(id) that is not one whole unit the owner wrote") }
                if let next = model.compressedUnits.first, model.emittedBytes + length > next.offset {
                    throw violation("DATA on stream \(id) runs into a compressed unit")
                }
            }
            guard length > 0 || fin else { throw violation("an empty DATA frame without FIN on stream \(id)") }
            guard length <= config.maxDataFrameSize, length <= Int(peerSettings.maxFrameSize) else {
                throw violation("DATA of \(length) octets exceeds maxDataFrameSize or the peer's MAX_FRAME_SIZE")
            }
            guard length <= sendSession, length <= model.sendWindow else {
                throw violation("DATA of \(length) octets on stream \(id) beyond the windows (stream \(model.sendWindow), session \(sendSession))")
            }
            guard model.emittedBytes + length <= model.ownerBytes else {
                throw violation("DATA on stream \(id) carries more than the owner wrote")
            }
            for (index, octet) in bytes.readableBytesView.enumerated() where octet != Self.pattern(id, model.emittedBytes + index) {
                throw violation("DATA on stream \(id) carries octet \(octet) at offset \(model.emittedBytes + index), not what the owner wrote")
            }
            model.emittedBytes += length
            model.sendWindow -= length
            sendSession -= length
            if fin {
                guard model.ownerFin, model.emittedBytes == model.ownerBytes else {
                    throw violation("FIN on stream \(id) before the owner finished or before all its data")
                }
                model.finEmitted = true
            }
            streams[id] = model
        case .streamOpen(_, _, let fin):
            guard !pendingOpens.isEmpty, pendingOpens.removeFirst() == frame else {
                throw violation("STREAM_OPEN \(frame) is not the next stream the owner opened")
            }
            streams[id]?.openEmitted = true
            if fin { streams[id]?.finEmitted = true }
        case .reset:
            guard !isIdle(id) else { throw violation("RESET on idle stream \(id)") }
            guard !resetIDs.contains(id) else { throw violation("a second RESET on stream \(id)") }
            resetIDs.insert(id)
            if let model = streams[id], !model.openedByPeer, !model.openEmitted {
                throw violation("RESET on stream \(id) before its STREAM_OPEN")
            }
            streams[id]?.resetEmitted = true
            resetDue.remove(id)
        case .windowUpdate(let increment):
            if id == 0 {
                peerSession += Int(increment)
                let cap = max(Int(config.maxSessionWindow), Int(config.settings.initialSessionWindow))
                guard peerSession <= cap else { throw violation("session WINDOW_UPDATE grants \(peerSession), beyond \(cap)") }
            } else {
                guard !isIdle(id) else { throw violation("WINDOW_UPDATE on idle stream \(id)") }
                guard !resetIDs.contains(id) else { throw violation("WINDOW_UPDATE on stream \(id) after its RESET") }
                if var model = streams[id] {
                    model.peerCredit += Int(increment)
                    let cap = max(Int(config.maxStreamWindow), Int(config.settings.initialStreamWindow))
                    guard model.peerCredit <= cap else { throw violation("WINDOW_UPDATE grants stream \(id) \(model.peerCredit), beyond \(cap)") }
                    streams[id] = model
                }
            }
        case .ping(let opaque, let ack):
            if ack {
                guard let count = pendingPongs[opaque], count > 0 else { throw violation("PING ACK \(opaque) answers no PING of the peer") }
                pendingPongs[opaque] = count - 1
            } else {
                machinePings.append(opaque)
            }
        case .goAway(let last, _, _):
            if let previous = goAwayEmittedLast, last.rawValue > previous {
                throw violation("GOAWAY raised its last stream id from \(previous) to \(last)")
            }
            goAwayEmittedLast = last.rawValue
        case .maxStreams(let maximum):
            let upper = min(Self.maxWindow, Int(config.settings.initialMaxStreams) + releasedCount + refusedCount)
            guard Int(maximum) >= maxStreamsEmitted, Int(maximum) <= upper else {
                throw violation("MAX_STREAMS \(maximum): the previous was \(maxStreamsEmitted), at most \(upper) streams were released")
            }
            maxStreamsEmitted = Int(maximum)
            peerCreditSeen = max(peerCreditSeen, Int(maximum))
        case .extension:
            throw violation("an extension frame")
        }
    }

    // MARK: Invariants

    func checkInvariants(focus: UInt32? = nil) throws(Violation) {
        guard machine.isEnded == ended else { throw violation("isEnded is \(machine.isEnded), the events say \(ended)") }
        guard machine.isReady == (ready && !ended) else { throw violation("isReady is \(machine.isReady)") }
        if ready && !ended {
            guard machine.isClosing == isClosingModel else { throw violation("isClosing is \(machine.isClosing), expected \(isClosingModel)") }
        }
        let maxWindow = Self.maxWindow
        let control = machine.queuedControlFrames
        guard control <= config.abuse.maxQueuedControlFrames + 2 else {
            throw violation("\(control) control frames queued (limit \(config.abuse.maxQueuedControlFrames))")
        }
        if ended {
            guard control <= postEndQueue else { throw violation("frames were queued after the end") }
            guard machine.streamCount == 0 else { throw violation("an ended session keeps \(machine.streamCount) streams") }
            return
        }
        guard (0...maxWindow).contains(machine.sessionSendWindow) else { throw violation("session send window \(machine.sessionSendWindow)") }
        let receive = machine.sessionReceiveCredit
        let sessionCap = max(Int(config.maxSessionWindow), Int(config.settings.initialSessionWindow))
        guard (0...min(maxWindow, sessionCap)).contains(receive) else { throw violation("session receive credit \(receive), cap \(sessionCap)") }
        if ready {
            guard machine.sessionSendWindow == sendSession else {
                throw violation("session send window \(machine.sessionSendWindow), but the peer granted \(sendSession)")
            }
            guard receive >= peerSession else {
                throw violation("session receive credit \(receive) is below what the peer was granted, \(peerSession)")
            }
        }
        guard machine.streamCount == live.count else {
            throw violation("streamCount is \(machine.streamCount), but \(live.count) streams are not yet forgotten")
        }
        if let focus {
            if let model = streams[focus], model.live { try checkStream(model) }
            return
        }
        var credits = 0
        var remoteOpen = 0
        var localLive = 0
        for id in live {
            let model = streams[id]!
            try checkStream(model)
            if !model.openedByPeer { localLive += 1 }
            if !model.terminal && !model.peerFin {
                remoteOpen += 1
                credits += machine.receiveCredit(StreamID(model.id)) ?? 0
            }
        }
        guard machine.streamCount <= Int(config.settings.initialMaxStreams) + localLive else {
            throw violation("\(machine.streamCount) streams exceed the peer's limit \(config.settings.initialMaxStreams) plus \(localLive) local ones")
        }
        let bound = config.maxReceiveBuffer + remoteOpen * Int(config.settings.initialStreamWindow)
        guard credits <= bound else { throw violation("the streams' receive credits add up to \(credits), beyond \(bound)") }
    }

    func checkStream(_ model: StreamModel) throws(Violation) {
        let id = StreamID(model.id)
        let maxWindow = Self.maxWindow
        let queued = machine.queuedBytes(id)
        if let window = machine.sendWindow(id) {
            guard (0...maxWindow).contains(window) else { throw violation("stream \(id) send window \(window)") }
            if !model.terminal && ready {
                guard window == model.sendWindow else {
                    throw violation("stream \(id) send window \(window), but the peer granted \(model.sendWindow)")
                }
            }
        }
        if let credit = machine.receiveCredit(id) {
            let cap = max(Int(config.maxStreamWindow), Int(config.settings.initialStreamWindow))
            guard (0...min(maxWindow, cap)).contains(credit) else { throw violation("stream \(id) receive credit \(credit), cap \(cap)") }
            if !model.terminal && !model.peerFin {
                guard credit >= model.peerCredit else {
                    throw violation("stream \(id) receive credit \(credit) is below what the peer was granted, \(model.peerCredit)")
                }
                guard credit + model.unconsumed <= cap else {
                    throw violation("stream \(id): credit \(credit) plus \(model.unconsumed) undelivered octets exceed the window cap \(cap)")
                }
            }
        }
        if model.terminal {
            guard queued == 0 else { throw violation("stream \(id) keeps \(queued) octets queued after it ended") }
        } else {
            guard queued == model.ownerBytes - model.emittedBytes else {
                throw violation("stream \(id) has \(queued) octets queued, but the owner wrote \(model.ownerBytes) and \(model.emittedBytes) went out")
            }
            guard queued <= max(0, config.streamSendBuffer - 1 + model.maxWrite) else {
                throw violation("stream \(id) queues \(queued) octets, more than the send buffer plus one write")
            }
            if model.blocked && !model.ownerFin && queued < config.streamSendBuffer {
                throw violation("stream \(id) can take writes again (\(queued) queued) but no .writable came")
            }
        }
    }
}
