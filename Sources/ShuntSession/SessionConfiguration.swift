import NIOCore
import ShuntWire

/// Which end of the TLS connection this side is (spec §1): the laptop is the client, the agent the server.
public enum SessionRole: Sendable, Hashable {
    case client
    case server

    /// The id of this side's first stream: odd for the client, even for the server (spec §5.1).
    var firstStreamID: UInt32 { self == .client ? 1 : 2 }
}

/// Abuse budgets (spec §8). Every one is finite; exceeding one ends the session with ENHANCE_YOUR_CALM.
public struct AbuseLimits: Hashable, Sendable {
    /// RESET frames received (Rapid Reset, CVE-2023-44487; CVE-2019-9514).
    public var resetsReceived = 200
    public var resetsPeriod = TimeAmount.seconds(30)
    /// Streams this side reset because of the peer's errors (MadeYouReset, CVE-2025-8671).
    public var streamErrorsCaused = 200
    public var streamErrorsPeriod = TimeAmount.seconds(30)
    /// PINGs without ACK received (CVE-2019-9512).
    public var pingsReceived = 100
    public var pingsPeriod = TimeAmount.seconds(10)
    /// DATA frames with length 0 and no FIN (CVE-2019-9518).
    public var emptyFrames = 100
    public var emptyFramesPeriod = TimeAmount.seconds(10)
    /// Extension frames, unsolicited PING ACKs, frames on closed streams (CVE-2019-9513).
    public var glitches = 1_000
    public var glitchesPeriod = TimeAmount.seconds(30)
    /// Control frames queued for a peer that does not read (CVE-2019-9517).
    public var maxQueuedControlFrames = 10_000

    public init() {}
}

/// Everything a session needs to know about itself. Each field is a named limit with a default.
public struct SessionConfiguration: Hashable, Sendable {
    public var role: SessionRole
    /// Protocol versions this side speaks.
    public var versions: ClosedRange<UInt16> = WireLimits.protocolVersion...WireLimits.protocolVersion
    /// What this side advertises in its HELLO: the limits it enforces as a receiver.
    public var settings = PeerSettings()
    /// Send a PING after this long without receiving anything (spec §7.1).
    public var pingInterval = TimeAmount.seconds(1)
    /// A peer silent for this long is dead (spec §7.1; default 3 s).
    public var deathBound = TimeAmount.seconds(3)
    /// How long a graceful GOAWAY waits for open streams before resetting them (spec §7.2).
    public var drainDeadline = TimeAmount.seconds(10)
    /// Receive-window growth caps (spec §6.3).
    public var maxStreamWindow: UInt32 = 16 << 20
    public var maxSessionWindow: UInt32 = 64 << 20
    /// The most all streams of a session may buffer together on this side: the sum of their receive
    /// window targets. A stream's window grows only while the sum stays within it (spec §6.2), so a
    /// session holds at most `max(maxReceiveBuffer, streams × INITIAL_STREAM_WINDOW)` of unread data.
    public var maxReceiveBuffer = 64 << 20
    /// Octets a stream may queue for sending beyond what the window lets out; above it the stream is not writable.
    public var streamSendBuffer = 64 * 1024
    /// Largest DATA payload this side sends in one frame, so PING and RESET never wait behind bulk data.
    public var maxDataFrameSize = 16_384
    /// Streams `SessionHandler.openStream` queues while the peer's stream credit is used up (spec §5.4);
    /// beyond it an open fails with `noStreamCredit`.
    public var maxPendingOpens = 1_024
    public var abuse = AbuseLimits()

    public init(role: SessionRole) {
        self.role = role
        // Shunt can always decompress (spec §12); whether it compresses is up to each stream's owner.
        settings.compression = 1
    }

    /// This side's HELLO.
    public var hello: Hello {
        Hello(minVersion: versions.lowerBound, maxVersion: versions.upperBound, settings: settings.helloSettings)
    }
}
