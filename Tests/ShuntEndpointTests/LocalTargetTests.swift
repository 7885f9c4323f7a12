import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import ShuntEndpoint
import ShuntTestSupport
import Testing

/// The laptop reaches the developer's service at 127.0.0.1 or at ::1, whichever it listens on, and
/// follows it when it moves from one to the other.
@Suite(.timeLimit(.minutes(1))) struct LocalTargetTests {
    @Test(.enabled(if: ReservedPort.hasIPv6Loopback)) func theTargetFollowsTheServiceFromOneLoopbackToTheOther() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let response = Array("HTTP/1.1 204 No Content\r\n\r\n".utf8)
        // The service on [::1]:P, and 127.0.0.1:P held where nothing listens.
        var found: (LocalHTTPServer, ReservedPort)?
        for _ in 0..<10 where found == nil {
            let server = try await LocalHTTPServer(group: group, response: response, host: "::1")
            if let reserved = try? ReservedPort(port: server.port) { found = (server, reserved) } else { await server.stop() }
        }
        var (onIPv6, held): (LocalHTTPServer, ReservedPort?) = try #require(found)
        let port = onIPv6.port
        let moves = NIOLockedValueBox<[String]>([])
        let target = LocalTarget(port: port) { from, to in
            moves.withLockedValue { $0.append("\(LocalTarget.text(from)) -> \(LocalTarget.text(to))") }
        }
        let connect = { () async throws -> Channel in
            try await loop.flatSubmit { target.connect(on: loop) { ClientBootstrap(group: loop).connect(to: $0) } }.get()
        }
        #expect(target.text == "127.0.0.1:\(port)")

        for _ in 0..<2 { try await connect().close() }
        #expect(moves.withLockedValue { $0 } == ["127.0.0.1:\(port) -> [::1]:\(port)"], "said once")
        #expect(target.text == "[::1]:\(port)")

        // The service is started again on 127.0.0.1 alone: the target moves back.
        await onIPv6.stop()
        held = nil
        let onIPv4 = try await LocalHTTPServer(group: group, response: response, host: "127.0.0.1", port: port)
        try await connect().close()
        #expect(moves.withLockedValue { $0 } == ["127.0.0.1:\(port) -> [::1]:\(port)", "[::1]:\(port) -> 127.0.0.1:\(port)"])
        #expect(target.text == "127.0.0.1:\(port)")

        // Neither answers: the refusal is the address in use's, and the target stays.
        await onIPv4.stop()
        let gone = try ReservedPort(port: port)
        await #expect { try await connect() } throws: { LocalTarget.isRefused($0) }
        #expect(target.text == "127.0.0.1:\(port)")
        #expect(moves.withLockedValue { $0 }.count == 2)
        withExtendedLifetime((held, gone)) {}
        try await group.shutdownGracefully()
    }
}
