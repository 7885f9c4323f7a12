import Logging
import NIOConcurrencyHelpers

/// Fail-open bookkeeping per intercept. An *episode* starts with the first request of an intercept
/// that its laptop could not take (the app served it instead) and ends with the next one the laptop
/// takes. The log says so once at each end, with the count in between, never once per request: a
/// laptop that went away under load must not flood the log. Every failed-open request is counted in
/// the metrics.
public final class FailOpenEpisodes: Sendable {
    private let logger: Logger
    private let metrics: AgentMetrics
    /// Requests failed open in the current episode, by intercept.
    private let open = NIOLockedValueBox<[String: Int]>([:])

    public init(logger: Logger, metrics: AgentMetrics) {
        self.logger = logger
        self.metrics = metrics
    }

    /// A request (or a global intercept's connection) of `intercept` went to the app instead.
    public func failed(intercept: String, owner: String, error: Error, global: Bool = false) {
        metrics.failedOpen.increment()
        let first = open.withLockedValue { episodes -> Bool in
            let count = episodes[intercept, default: 0]
            episodes[intercept] = count + 1
            return count == 0
        }
        guard first else { return }
        logger.warning(global ? "failing open: the app serves the global intercept's connections" : "failing open: the app serves the intercept's requests",
                       metadata: ["intercept": .string(intercept), "owner": .string(owner), "error": .string("\(error)")])
    }

    /// The laptop of `intercept` took a request (or a global intercept's connection) on a new stream.
    public func succeeded(intercept: String, owner: String) {
        metrics.routedToLaptop.increment()
        guard let count = open.withLockedValue({ $0.removeValue(forKey: intercept) }) else { return }
        logger.notice("the laptop takes the intercept's requests again",
                      metadata: ["intercept": .string(intercept), "owner": .string(owner), "failed_open": "\(count)"])
    }

    /// The requests failed open in the episode of `intercept` in progress (0: none).
    public func inEpisode(_ intercept: String) -> Int {
        open.withLockedValue { $0[intercept] ?? 0 }
    }
}
