import NIOCore
import NIOPosix
import ShuntSession
import ShuntTestSupport
import ShuntWire
import Testing

/// Spec §11: a control call is one CONTROL stream, request body and FIN, response body and FIN.
@Suite struct ControlCallTests {
    static let upperCaseServer: SessionHandler.StreamInitializer = { stream in
        ControlCall.serve(stream) { call, body in
            stream.eventLoop.makeSucceededFuture(ByteBuffer(string: "\(call):" + String(buffer: body).uppercased()))
        }
    }

    @Test func aCallCarriesItsNameAndBodyAndGetsTheAnswer() async throws {
        let sessions = try await LoopbackSessions.start(serverStreams: Self.upperCaseServer)
        let loop = sessions.client.channel.eventLoop
        let handler = sessions.client.handler
        let answer = try await ControlCall.perform("intercept.list", body: ByteBuffer(string: "{\"x\":1}"), on: handler, eventLoop: loop).awaited()
        #expect(String(buffer: answer) == "intercept.list:{\"X\":1}")
        try await sessions.shutdown()
    }

    /// A request of exactly 1 MiB is served; one octet more resets the stream with ENHANCE_YOUR_CALM.
    @Test func aBodyOverOneMebibyteIsRefused() async throws {
        let sessions = try await LoopbackSessions.start(serverStreams: { stream in
            ControlCall.serve(stream) { _, body in stream.eventLoop.makeSucceededFuture(ByteBuffer(string: "\(body.readableBytes)")) }
        })
        let loop = sessions.client.channel.eventLoop
        let handler = sessions.client.handler
        let limit = ControlCall.maxBodySize
        let fits = try await ControlCall.perform("x", body: ByteBuffer(repeating: 0x20, count: limit), on: handler, eventLoop: loop).awaited()
        #expect(String(buffer: fits) == "\(limit)")
        await #expect {
            try await ControlCall.perform("x", body: ByteBuffer(repeating: 0x20, count: limit + 1), on: handler, eventLoop: loop).awaited()
        } throws: { error in
            (error as? StreamResetError)?.code == .enhanceYourCalm
        }
        try await sessions.shutdown()
    }

    @Test func anAnswerOverTheCallersLimitFails() async throws {
        let sessions = try await LoopbackSessions.start(serverStreams: { stream in
            ControlCall.serve(stream) { _, _ in stream.eventLoop.makeSucceededFuture(ByteBuffer(repeating: 1, count: 2_000)) }
        })
        let loop = sessions.client.channel.eventLoop
        await #expect(throws: ControlCallError.bodyTooLarge(limit: 1_000)) {
            try await ControlCall.perform("x", body: ByteBuffer(), on: sessions.client.handler, eventLoop: loop, maxResponse: 1_000).awaited()
        }
        try await sessions.shutdown()
    }
}
