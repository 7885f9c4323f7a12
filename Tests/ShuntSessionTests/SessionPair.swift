import NIOCore
import ShuntSession
import ShuntWire

/// Two session state machines wired back to back through the real encoder and decoder, with a
/// hand-driven clock: the deterministic test bed for the session.
struct SessionPair {
    var client: SessionStateMachine
    var server: SessionStateMachine
    var clientEvents: [SessionEvent] = []
    var serverEvents: [SessionEvent] = []
    var now: NIODeadline
    var clientDecoder: FrameDecoder
    var serverDecoder: FrameDecoder
    /// Frames each side put on the wire, in order.
    var clientSent: [Frame] = []
    var serverSent: [Frame] = []

    init(client: SessionConfiguration = SessionConfiguration(role: .client),
         server: SessionConfiguration = SessionConfiguration(role: .server),
         handshake: Bool = true) {
        now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        self.client = SessionStateMachine(configuration: client, now: now)
        self.server = SessionStateMachine(configuration: server, now: now)
        clientDecoder = FrameDecoder(limits: client.settings.decoderLimits)
        serverDecoder = FrameDecoder(limits: server.settings.decoderLimits)
        if handshake { pump() }
    }

    /// Moves frames both ways until neither side has anything to send; collects events.
    mutating func pump(maxRounds: Int = 10_000) {
        for _ in 0..<maxRounds {
            let a = transfer(fromClient: true)
            let b = transfer(fromClient: false)
            drainEvents()
            if !a && !b { return }
        }
    }

    /// One side's outbound frames, encoded and decoded by the other side. True if anything moved.
    mutating func transfer(fromClient: Bool) -> Bool {
        var moved = false
        while let frame = fromClient ? client.nextOutboundFrame() : server.nextOutboundFrame() {
            moved = true
            if fromClient { clientSent.append(frame) } else { serverSent.append(frame) }
            deliver(FrameEncoder.bytes(of: frame), toServer: fromClient)
        }
        return moved
    }

    /// Raw bytes to one side, as if the peer had written them (for crafting abuse).
    mutating func deliver(_ bytes: ByteBuffer, toServer: Bool) {
        if toServer {
            serverDecoder.append(bytes)
            do {
                while let frame = try serverDecoder.next() { server.receive(frame, now: now) }
            } catch { server.receiveMalformed(error) }
        } else {
            clientDecoder.append(bytes)
            do {
                while let frame = try clientDecoder.next() { client.receive(frame, now: now) }
            } catch { client.receiveMalformed(error) }
        }
    }

    /// A frame to the server as if the client had sent it, bypassing the client's state machine.
    mutating func injectToServer(_ frame: Frame) {
        deliver(FrameEncoder.bytes(of: frame), toServer: true)
        drainEvents()
    }

    mutating func injectToClient(_ frame: Frame) {
        deliver(FrameEncoder.bytes(of: frame), toServer: false)
        drainEvents()
    }

    mutating func drainEvents() {
        while let event = client.nextEvent() { clientEvents.append(event) }
        while let event = server.nextEvent() { serverEvents.append(event) }
    }

    mutating func advance(_ amount: TimeAmount) {
        now = now + amount
        client.tick(now: now)
        server.tick(now: now)
        drainEvents()
    }

    /// Outbound frames of one side without delivering them (the peer "does not read").
    mutating func takeOutbound(fromClient: Bool) -> [Frame] {
        var frames: [Frame] = []
        while let frame = fromClient ? client.nextOutboundFrame() : server.nextOutboundFrame() { frames.append(frame) }
        return frames
    }

    /// The error a side's session ended with, if it ended.
    static func endError(_ events: [SessionEvent]) -> SessionError?? {
        for event in events { if case .ended(let error) = event { return .some(error) } }
        return .none
    }

    /// Data delivered on a stream, concatenated, and whether FIN came.
    static func received(_ events: [SessionEvent], on stream: StreamID) -> (bytes: [UInt8], fin: Bool) {
        var bytes: [UInt8] = []
        var fin = false
        for case .data(let id, let data, let f, _) in events where id == stream {
            bytes += data.readableBytesView
            fin = fin || f
        }
        return (bytes, fin)
    }
}

extension SessionEvent {
    var endedCode: ErrorCode? {
        if case .ended(let error) = self { return error?.code ?? .noError }
        return nil
    }
}

func endCode(_ events: [SessionEvent]) -> ErrorCode? {
    events.lazy.compactMap(\.endedCode).first
}

func endMessage(_ events: [SessionEvent]) -> String? {
    for case .ended(let error) in events { return error?.message }
    return nil
}
