import NIOConcurrencyHelpers
import ShuntEndpoint
import ShuntMatch

/// One intercept on every replica's agent: the same rule (the same header value) registered on
/// each, so that a request is routed to the laptop whichever pod the Service sends it to.
/// With `--agent` there is one replica.
final class ReplicaSessions: Sendable {
    let sessions: [InterceptSession]

    init(_ sessions: [InterceptSession]) {
        self.sessions = sessions
    }

    /// Starts each in turn; when one fails, the ones started are removed again and the failure thrown.
    func start() async throws {
        for (index, session) in sessions.enumerated() {
            do {
                try await session.start()
            } catch {
                for started in sessions[..<index] {
                    started.stop()
                    try? await started.serve()
                }
                throw error
            }
        }
    }

    /// The app's environment, as the first replica's agent reports it.
    func agentInfo() async throws -> InterceptCalls.AgentInfo {
        try await sessions[0].agentInfo()
    }

    /// Serves until `stop`. When one replica's agent refuses a re-registration, every replica stops
    /// and that failure is thrown.
    func serve() async throws {
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        await withTaskGroup(of: Void.self) { group in
            for session in sessions {
                group.addTask {
                    do {
                        try await session.serve()
                    } catch {
                        failure.withLockedValue { $0 = $0 ?? error }
                        self.stop()
                    }
                }
            }
        }
        if let error = failure.withLockedValue({ $0 }) { throw error }
    }

    func stop() {
        for session in sessions { session.stop() }
    }
}
