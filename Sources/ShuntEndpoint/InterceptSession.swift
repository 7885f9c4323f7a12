import NIOConcurrencyHelpers
import NIOCore
import ShuntMatch
import ShuntSession
import ShuntTLS

/// The foreground run of `shunt intercept`: connect and register (`start`), then serve streams into
/// the local service until `stop` (`serve`). When the session is lost it reconnects with backoff and
/// registers the same request again, so a personal intercept keeps its generated header value.
/// `stop` removes the intercept (best effort, bounded by `removalTimeout`) and closes the session.
public final class InterceptSession: Sendable {
    public let configuration: EndpointConfiguration
    public let forwarder: LocalForwarder
    private let endpoint: ShuntTLSEndpoint
    private let group: EventLoopGroup
    private let events: @Sendable (EndpointEvent) -> Void
    private let signals: AsyncStream<Signal>
    private let signal: AsyncStream<Signal>.Continuation
    private let state = NIOLockedValueBox(State())

    private enum Signal: Sendable {
        case ended(generation: Int, reason: String)
        case retry
        case stop
    }

    private struct State {
        var client: InterceptClient?
        var generation = 0
        var stopping = false
    }

    /// `localService`: the developer's service as the sessions of the intercept's other replicas see
    /// it (one warning and one move line for all of them); without it, the session's own.
    public init(configuration: EndpointConfiguration, endpoint: ShuntTLSEndpoint, group: EventLoopGroup,
                localService: LocalService? = nil, events: @escaping @Sendable (EndpointEvent) -> Void) {
        self.configuration = configuration
        self.endpoint = endpoint
        self.group = group
        self.events = events
        self.forwarder = LocalForwarder(port: configuration.localPort, developer: endpoint.identity.name,
                                        compress: configuration.compress, connectTimeout: configuration.connectTimeout,
                                        service: localService, events: events)
        (signals, signal) = AsyncStream.makeStream(of: Signal.self)
    }

    /// Our certificate's name: the owner the agent records.
    public var developer: String { endpoint.identity.name }

    /// Connects and registers. Any failure here is thrown: nothing is retried before the intercept
    /// first exists (a wrong address or a conflict should be seen at once, not retried forever).
    @discardableResult
    public func start() async throws -> InterceptCalls.Intercept {
        let intercept = try await connectAndRegister()
        events(.intercepted(intercept))
        return intercept
    }

    /// The application environment the agent exposes (`agent.info`), over the current session.
    public func agentInfo() async throws -> InterceptCalls.AgentInfo {
        guard let client = state.withLockedValue({ $0.client }) else {
            throw InterceptClientError.sessionEnded(agent: configuration.agent, reason: "not connected")
        }
        return try await client.info()
    }

    /// Serves until `stop`; then removes the intercept and returns. Throws only when the agent
    /// refuses the intercept on a re-registration (another developer took the port meanwhile).
    public func serve() async throws {
        var attempt = 0
        for await signal in signals {
            switch signal {
            case .stop:
                await leave()
                return
            case .ended(let generation, let reason):
                let current = state.withLockedValue { state in
                    guard state.generation == generation, !state.stopping else { return false }
                    state.client = nil
                    return true
                }
                guard current else { continue }
                attempt = 0
                let delay = configuration.backoff.delay(attempt: attempt)
                events(.tunnelLost(reason: reason, retryIn: delay))
                scheduleRetry(after: delay)
            case .retry:
                guard !state.withLockedValue({ $0.stopping }) else { continue }
                do {
                    events(.reconnected(try await connectAndRegister()))
                } catch let failure as InterceptCalls.Failure {
                    throw failure
                } catch {
                    attempt += 1
                    let delay = configuration.backoff.delay(attempt: attempt)
                    events(.reconnectFailed(reason: "\(error)", retryIn: delay))
                    scheduleRetry(after: delay)
                }
            }
        }
    }

    /// Asks `serve` to remove the intercept and return. Safe from any thread (a signal handler).
    public func stop() {
        state.withLockedValue { $0.stopping = true }
        signal.yield(.stop)
    }

    /// Drops the session as if the network had (tests, and `kill -USR1` style diagnostics).
    public func dropConnection() {
        state.withLockedValue { $0.client }?.connection.channel.close(promise: nil)
    }

    private func connectAndRegister() async throws -> InterceptCalls.Intercept {
        let client = try await InterceptClient.connect(host: configuration.agentHost, port: configuration.agentPort, endpoint: endpoint,
                                                       group: group, connectTimeout: configuration.connectTimeout,
                                                       streams: forwarder.streamInitializer)
        let intercept: InterceptCalls.Intercept
        do {
            intercept = try await client.register(configuration.registerRequest)
        } catch {
            await client.close()
            throw error
        }
        install(client)
        return intercept
    }

    private func install(_ client: InterceptClient) {
        let generation = state.withLockedValue { state in
            state.generation += 1
            state.client = client
            return state.generation
        }
        let signal = self.signal
        client.ended().whenComplete { result in
            let reason = switch result {
            case .success(nil): "the agent ended the session"
            case .success(let error?): "\(error)"
            case .failure(let error): "\(error)"
            }
            signal.yield(.ended(generation: generation, reason: reason))
        }
    }

    private func scheduleRetry(after delay: TimeAmount) {
        let signal = self.signal
        group.next().scheduleTask(in: delay) { signal.yield(.retry) }
    }

    private func leave() async {
        let client = state.withLockedValue { state in
            defer { state.client = nil }
            return state.client
        }
        guard let client else { return }
        let name = configuration.name
        let loop = client.eventLoop
        let removed = loop.makePromise(of: Void.self)
        let timeout = configuration.removalTimeout
        let timer = loop.scheduleTask(in: timeout) {
            removed.fail(InterceptClientError.callFailed(call: InterceptCalls.remove, agent: client.agent,
                                                         reason: "no answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        Task {
            do {
                try await client.remove(name: name)
                removed.succeed()
            } catch {
                removed.fail(error)
            }
        }
        do {
            try await removed.futureResult.get()
            events(.removed(name: name))
        } catch {
            events(.removalFailed(name: name, reason: "\(error)"))
        }
        timer.cancel()
        await client.close()
    }
}
