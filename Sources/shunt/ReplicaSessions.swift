import NIOConcurrencyHelpers
import ShuntEndpoint
import ShuntKube
import ShuntMatch

/// One intercept on every replica's agent: the same rule (the same header value) registered on
/// each, so that a request is routed to the laptop whichever pod the Service sends it to.
/// Replicas are keyed by pod name (one key for `--agent`); each may own its kubectl port-forward,
/// stopped when its session ends. Replicas can join and leave while serving (`add`, `remove`).
final class ReplicaSessions: Sendable {
    struct Replica: Sendable {
        var session: InterceptSession
        var forward: PortForward?
    }

    private let replicas: NIOLockedValueBox<[String: Replica]>
    private let initial: [String]
    private let joined: AsyncStream<Replica>
    private let join: AsyncStream<Replica>.Continuation
    private let stopping = NIOLockedValueBox(false)

    /// `replicas` in order: the first one answers `agentInfo`.
    init(_ replicas: [(key: String, replica: Replica)]) {
        self.replicas = NIOLockedValueBox(Dictionary(replicas.map { ($0.key, $0.replica) }) { first, _ in first })
        initial = replicas.map(\.key)
        (joined, join) = AsyncStream.makeStream(of: Replica.self)
        // Served from the start, so that a stop before or during `start` still removes them.
        for (_, replica) in replicas { join.yield(replica) }
    }

    var keys: Set<String> { Set(replicas.withLockedValue { $0.keys }) }

    /// Replicas whose kubectl port-forward has ended (kubectl exits when its connection to the API
    /// server or the pod drops): their sessions can only retry a dead local port.
    var keysWithEndedForwards: [String] {
        // Stopping ends every port-forward: none of them is to be opened again.
        guard !isStopping else { return [] }
        return replicas.withLockedValue { current in
            current.filter { $0.value.forward.map { !$0.isRunning } ?? false }.map(\.key).sorted()
        }
    }

    private var first: Replica? {
        let current = replicas.withLockedValue { $0 }
        return initial.compactMap { current[$0] }.first ?? current.values.first
    }

    /// Starts each in turn; when one fails, the ones started are removed again and the failure thrown.
    func start() async throws {
        let sessions = initial.compactMap { key in replicas.withLockedValue { $0[key] } }
        for replica in sessions {
            do {
                try await replica.session.start()
            } catch {
                // Serving a stopped session removes its intercept if it has one.
                stop()
                try? await serve()
                throw error
            }
        }
    }

    /// A replica that appeared: registers the intercept on it and serves it with the others.
    func add(_ key: String, _ replica: Replica) async throws {
        try await replica.session.start()
        let accepted = replicas.withLockedValue { current in
            guard !stopping.withLockedValue({ $0 }) else { return false }
            current[key] = replica
            return true
        }
        if accepted {
            join.yield(replica)
        } else {
            replica.session.stop()
            try? await replica.session.serve()
            replica.forward?.stop()
        }
    }

    /// A replica that went away: its intercept is removed (best effort) and its port-forward stopped.
    func remove(_ key: String) {
        replicas.withLockedValue { $0.removeValue(forKey: key) }?.session.stop()
    }

    /// `stop` was called: replicas are no longer added or replaced.
    var isStopping: Bool { stopping.withLockedValue { $0 } }

    /// The app's environment, as the first replica's agent reports it.
    func agentInfo() async throws -> InterceptCalls.AgentInfo {
        guard let first else { throw InterceptClientError.sessionEnded(agent: "-", reason: "no replica") }
        return try await first.session.agentInfo()
    }

    /// Serves until `stop`. When one replica's agent refuses a re-registration, every replica stops
    /// and that failure is thrown.
    func serve() async throws {
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        await withTaskGroup(of: Void.self) { group in
            for await replica in joined {
                group.addTask {
                    do {
                        try await replica.session.serve()
                    } catch {
                        failure.withLockedValue { $0 = $0 ?? error }
                        self.stop()
                    }
                    replica.forward?.stop()
                }
            }
        }
        if let error = failure.withLockedValue({ $0 }) { throw error }
    }

    func stop() {
        let current = replicas.withLockedValue { current in
            stopping.withLockedValue { $0 = true }
            return Array(current.values)
        }
        join.finish()
        for replica in current { replica.session.stop() }
    }
}
