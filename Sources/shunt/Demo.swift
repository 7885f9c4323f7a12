import ArgumentParser
import NIOCore
import ShuntWire

/// `shunt demo`: the embedded-default main job (`LiveDemo`); `shunt demo wire` shows, with the real
/// codec, what one personal intercept looks like on the wire.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an intercept end to end on this machine: no cluster needed.",
        discussion: """
            Starts, in one process on 127.0.0.1, an in-cluster "orders" service, a shunt-agent in front of it,             a developer's build of orders and the tunnel between them; creates a personal, a path-limited and             a global intercept; sends requests with and without the header; and prints which side answered             each. Exits 0 only if every request went where it should.
            """,
        subcommands: [Live.self, WireTrace.self],
        defaultSubcommand: Live.self
    )

    struct Live: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "live", abstract: "The intercept demo (the default).")

        func run() async throws {
            guard try await LiveDemo.run() else { throw ExitCode.failure }
        }
    }
}

/// `shunt demo wire`: one personal intercept as it crosses the wire, encoded and decoded in pieces.
struct WireTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wire",
        abstract: "Show a personal intercept as it crosses the Shunt wire, frame by frame.",
        discussion: """
            Encodes a scripted session between a laptop and an agent (HELLO exchange, registering an \
            intercept, one intercepted HTTP request and its response, flow control, a ping, a graceful \
            GOAWAY), decodes both directions again in 7-octet pieces as a receiver would, and prints each \
            frame with its offset. Exits 0 only if every frame decodes to exactly what was sent.
            """
    )

    @Option(name: .long, help: "Split the byte streams into pieces of this many octets when decoding.")
    var chunk: Int = 7

    enum Side: String { case laptop, agent }

    func run() throws {
        guard chunk > 0 else { throw ValidationError("--chunk must be at least 1") }
        print("Shunt demo: one personal intercept of service \"orders\", as it crosses the wire (protocol \(WireLimits.alpn)).")
        print("")

        let laptopHello = Hello(settings: [Setting(.compression, 1), Setting(.initialStreamWindow, 1 << 20)])
        let agentHello = Hello(settings: [Setting(.initialMaxStreams, 256)])
        let script: [(Side, Frame)] = [
            (.laptop, Frame(streamID: .session, payload: .hello(laptopHello))),
            (.agent, Frame(streamID: .session, payload: .hello(agentHello))),
            (.laptop, Frame(streamID: StreamID(1), payload: .streamOpen(kind: .control, metadata: StreamMetadata([("call", "intercept.register")])))),
            (.laptop, .data(StreamID(1), ByteBuffer(string: #"{"name":"orders-alice","rule":{"headers":[{"name":"x-shunt-intercept","value":"k3v9q2"}]}}"#), fin: true)),
            (.agent, .data(StreamID(1), ByteBuffer(string: #"{"ok":true,"result":{"name":"orders-alice","owner":"alice","since":"2026-11-24T09:00:00Z"}}"#), fin: true)),
            (.agent, Frame(streamID: StreamID(2), payload: .streamOpen(kind: .http, metadata: StreamMetadata([("intercept", "orders-alice"), ("client", "10.0.3.7:51234"), ("port", "8080"), ("request-id", "r-000001")])))),
            (.agent, .data(StreamID(2), ByteBuffer(string: "GET /orders/42 HTTP/1.1\r\nhost: orders\r\nx-shunt-intercept: k3v9q2\r\n\r\n"), fin: true)),
            (.laptop, .data(StreamID(2), ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 27\r\n\r\n{\"id\":42,\"from\":\"laptop\"}\n"), fin: true)),
            (.laptop, Frame(streamID: .session, payload: .windowUpdate(increment: 65_536))),
            (.agent, Frame(streamID: .session, payload: .maxStreams(257))),
            (.agent, Frame(streamID: .session, payload: .ping(opaque: 0x5348_554E_5400_0001))),
            (.laptop, Frame(streamID: .session, payload: .ping(opaque: 0x5348_554E_5400_0001, ack: true))),
            (.agent, .goAway(lastStreamID: StreamID(1), .noError, debug: "agent shutting down")),
        ]

        switch Hello.negotiateVersion(local: laptopHello, peer: agentHello) {
        case .success(let version): print("negotiated version \(version)\n")
        case .failure(let mismatch): throw ValidationError("\(mismatch)")
        }

        var ok = true
        for side in [Side.laptop, Side.agent] {
            let sent = script.filter { $0.0 == side }.map(\.1)
            var wire = ByteBuffer()
            FrameEncoder.writePreface(into: &wire)
            for frame in sent { FrameEncoder.encodeWhole(frame, into: &wire) }
            print("\(side.rawValue) → \(side == .laptop ? "agent" : "laptop"): \(wire.readableBytes) octets, \(sent.count) frames")

            var decoder = FrameDecoder(expectsPreface: true)
            var received: [Frame] = []
            do {
                while wire.readableBytes > 0 {
                    decoder.append(wire.readSlice(length: min(chunk, wire.readableBytes))!)
                    while true {
                        let offset = decoder.offset
                        guard let frame = try decoder.next() else { break }
                        print("  @\(offset.formatted(width: 4))  \(frame)")
                        received.append(frame)
                    }
                }
                try decoder.finish()
            } catch {
                print("  decoding failed: \(error)")
                ok = false
            }
            if received != sent {
                print("  MISMATCH: decoded \(received.count) frames that differ from the \(sent.count) sent")
                ok = false
            }
            print()
        }
        print(ok ? "every frame arrived exactly as sent" : "FAILED: the wire did not carry the frames intact")
        if !ok { throw ExitCode.failure }
    }
}

extension Int {
    fileprivate func formatted(width: Int) -> String {
        let text = String(self)
        return String(repeating: " ", count: Swift.max(0, width - text.count)) + text
    }
}
