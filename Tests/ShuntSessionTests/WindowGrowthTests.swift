import NIOCore
import ShuntSession
import ShuntWire
import Testing

/// A long fat path simulated in virtual time: one stream must fill 1 Gbit/s at 20 ms RTT (spec §6.3),
/// where a fixed 256 KiB window would cap it near 100 Mbit/s.
@Suite struct WindowGrowthTests {
    struct InFlight { var at: NIODeadline; var frame: Frame }

    /// Bytes delivered to the receiver in the last second of `seconds` of bulk transfer.
    func simulate(rate bitsPerSecond: Int, rtt: TimeAmount, seconds: Int, grow: Bool) -> Int {
        simulateWithCredit(rate: bitsPerSecond, rtt: rtt, seconds: seconds, grow: grow).delivered
    }

    /// Also returns the most credit the receiver ever granted the stream (what it may have to buffer).
    func simulateWithCredit(rate bitsPerSecond: Int, rtt: TimeAmount, seconds: Int, grow: Bool,
                            receiveBuffer: Int? = nil) -> (delivered: Int, maxCredit: Int) {
        var client = SessionConfiguration(role: .client)
        var server = SessionConfiguration(role: .server)
        if let receiveBuffer { server.maxReceiveBuffer = receiveBuffer }
        var maxCredit = 0
        if !grow {
            server.maxStreamWindow = server.settings.initialStreamWindow
            server.maxSessionWindow = server.settings.initialSessionWindow
        }
        client.deathBound = .seconds(60)
        server.deathBound = .seconds(60)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var now = start
        var sender = SessionStateMachine(configuration: client, now: now)
        var receiver = SessionStateMachine(configuration: server, now: now)
        var toReceiver: [InFlight] = []
        var toSender: [InFlight] = []
        var head = 0, backHead = 0
        let oneWay = TimeAmount.nanoseconds(rtt.nanoseconds / 2)
        let step = TimeAmount.microseconds(50)
        let bytesPerStep = bitsPerSecond / 8 / 20_000
        var linkCredit = 0
        var stream: StreamID? = nil
        var deliveredLastSecond = 0
        let lastSecond = start + .seconds(Int64(seconds - 1))
        let chunk = ByteBuffer(repeating: 0x5A, count: 65_536)

        while now < start + .seconds(Int64(seconds)) {
            now = now + step
            sender.tick(now: now)
            receiver.tick(now: now)
            if stream == nil, sender.isReady { stream = try? sender.openStream(kind: .tcp) }
            if let id = stream {
                while sender.isWritable(id) { try? sender.send(id, chunk) }
            }
            // The sender's link: serialisation at `rate`, then the one-way delay.
            linkCredit = min(linkCredit + bytesPerStep, 2 * bytesPerStep + 16_384)
            while linkCredit > 0, let frame = sender.nextOutboundFrame() {
                linkCredit -= 12 + frame.payloadLength
                toReceiver.append(InFlight(at: now + oneWay, frame: frame))
            }
            while head < toReceiver.count, toReceiver[head].at <= now {
                receiver.receive(toReceiver[head].frame, now: now)
                head += 1
            }
            while let event = receiver.nextEvent() {
                if case .data(let id, let bytes, _, _) = event {
                    if now >= lastSecond { deliveredLastSecond += bytes.readableBytes }
                    receiver.consumed(id, octets: bytes.readableBytes, now: now)  // a fast local app
                }
            }
            if let id = stream, let credit = receiver.receiveCredit(id) { maxCredit = max(maxCredit, credit) }
            while let frame = receiver.nextOutboundFrame() { toSender.append(InFlight(at: now + oneWay, frame: frame)) }
            while backHead < toSender.count, toSender[backHead].at <= now {
                sender.receive(toSender[backHead].frame, now: now)
                backHead += 1
            }
            while sender.nextEvent() != nil {}
        }
        return (deliveredLastSecond, maxCredit)
    }

    @Test func oneStreamFillsOneGigabitAtTwentyMillisecondsRoundTrip() {
        let delivered = simulate(rate: 1_000_000_000, rtt: .milliseconds(20), seconds: 3, grow: true)
        // ≥ 90 % of 125 MB/s in the third second.
        #expect(delivered >= 112_500_000, "delivered \(delivered) octets in the last second")
    }

    @Test func growthStopsAtTheReceiveBufferCap() {
        // 1 MiB for all streams together: the one stream's window may grow 256 KiB → 512 KiB → 1 MiB, no further.
        let capped = simulateWithCredit(rate: 1_000_000_000, rtt: .milliseconds(20), seconds: 3, grow: true, receiveBuffer: 1 << 20)
        #expect(capped.maxCredit == 1 << 20, "the window target reached \(capped.maxCredit)")
        // 1 MiB per 20 ms is about 52 MB/s: more than the fixed window allows, far less than the link.
        #expect(capped.delivered > 30_000_000 && capped.delivered < 60_000_000, "delivered \(capped.delivered)")
        let free = simulateWithCredit(rate: 1_000_000_000, rtt: .milliseconds(20), seconds: 3, grow: true)
        #expect(free.maxCredit > 1 << 20)
    }

    @Test func withoutGrowthTheSameStreamIsCappedByItsWindow() {
        let delivered = simulate(rate: 1_000_000_000, rtt: .milliseconds(20), seconds: 3, grow: false)
        // 256 KiB per 20 ms is about 13 MB/s: the control that shows the path is really long and fat.
        #expect(delivered < 20_000_000, "delivered \(delivered) octets in the last second")
    }
}
