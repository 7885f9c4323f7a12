import Foundation
import NIOConcurrencyHelpers
import ShuntMatch
import ShuntTLS

/// What one running `shunt intercept` tells `shunt status`: a small JSON file per process in the
/// run folder (`$SHUNT_CONFIG_DIR/run`, else `$XDG_CONFIG_HOME/shunt/run`, else
/// `~/.config/shunt/run`), written atomically, updated when the tunnel's state changes (and at most
/// once a second for the request count), removed when the process ends. A file whose process is
/// gone (killed with SIGKILL) is ignored and removed by the next `shunt status`.
public struct InterceptStatus: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        case connected, reconnecting, stopping
    }

    public var pid: Int32
    public var name: String
    public var service: String
    /// The agent's address, HOST:PORT.
    public var agent: String
    /// Where the streams go on this machine, 127.0.0.1:PORT.
    public var local: String
    public var rule: String
    /// For a personal intercept: the header a request must carry, `name: value`.
    public var header: String?
    public var identity: String
    public var state: State
    /// RFC 3339, UTC: when the intercept started.
    public var since: String
    public var requests: Int
    /// The last trouble (tunnel lost, local service unreachable), if any since it last went well.
    public var trouble: String?

    public init(pid: Int32, name: String, service: String, agent: String, local: String, rule: String, header: String?,
                identity: String, state: State, since: String, requests: Int = 0, trouble: String? = nil) {
        self.pid = pid
        self.name = name
        self.service = service
        self.agent = agent
        self.local = local
        self.rule = rule
        self.header = header
        self.identity = identity
        self.state = state
        self.since = since
        self.requests = requests
        self.trouble = trouble
    }

    /// The run folder (see the type's documentation).
    public static var defaultFolder: URL {
        let environment = ProcessInfo.processInfo.environment
        if let dir = environment["SHUNT_CONFIG_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir).appendingPathComponent("run")
        }
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("shunt/run")
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config/shunt/run")
    }

    static func file(pid: Int32, in folder: URL) -> URL { folder.appendingPathComponent("intercept-\(pid).json") }

    /// Every running intercept's status, oldest first; files of processes that are gone are removed.
    public static func readAll(in folder: URL = defaultFolder) -> [InterceptStatus] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        var found: [InterceptStatus] = []
        for name in names where name.hasPrefix("intercept-") && name.hasSuffix(".json") {
            let url = folder.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path),
                  let status = try? JSONDecoder().decode(InterceptStatus.self, from: data) else { continue }
            if isAlive(status.pid) {
                found.append(status)
            } else {
                try? FileManager.default.removeItem(at: url)
            }
        }
        return found.sorted { ($0.since, $0.pid) < ($1.since, $1.pid) }
    }

    static func isAlive(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }
}

/// Keeps this process's `InterceptStatus` file up to date from the endpoint's events.
///
/// The events come on the event loop that serves the intercepted requests, so the file is never
/// written there: a change is made under a lock and the file is written by a serial queue of its
/// own, in order. It used to be written in place, with `fsync`, once a second under traffic: 0.35–0.46
/// ms each on this project's test machine, and on a laptop's busy disk `fsync` can take tens of
/// milliseconds, during which no intercepted request moved. The file is written to a temporary name
/// and renamed, so a reader never sees half of it, without `fsync`: it describes a running process
/// and is removed when that ends; after a power loss there is nothing for it to describe.
public final class InterceptStatusWriter: Sendable {
    /// Writes `data` as the file at the URL. Tests give a slow one.
    public typealias Store = @Sendable (_ data: Data, _ file: URL) -> Void

    private let file: URL
    private let state: NIOLockedValueBox<State>
    private let files = DispatchQueue(label: "shunt.intercept-status")
    /// Set by `remove`, on `files`: a write queued before it is not done after it.
    private let removed = NIOLockedValueBox(false)
    private let store: Store

    /// The least time between two writes when only the request count changed, by default.
    public static let defaultCountInterval = Duration.seconds(1)
    private let countInterval: Duration

    private struct State {
        var status: InterceptStatus
        /// When the last write was queued.
        var written: ContinuousClock.Instant?
        /// A count that changed too soon after a write is written once the interval has passed: a
        /// write for it is scheduled (one at a time). Without it, the last requests of a burst stayed
        /// out of the file until the next event, however long that took.
        var trailingScheduled = false
    }

    public init(_ status: InterceptStatus, folder: URL = InterceptStatus.defaultFolder, countInterval: Duration = InterceptStatusWriter.defaultCountInterval,
                store: @escaping Store = InterceptStatusWriter.storeAtomically) {
        file = InterceptStatus.file(pid: status.pid, in: folder)
        state = NIOLockedValueBox(State(status: status))
        self.countInterval = countInterval
        self.store = store
        files.async {
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        write { _ in true }
    }

    public var status: InterceptStatus { state.withLockedValue { $0.status } }

    /// One lock per event, a request's included: the change and the decision to write are made together.
    public func observe(_ event: EndpointEvent) {
        write { state in
            switch event {
            case .intercepted, .reconnected:
                state.status.state = .connected
                state.status.trouble = nil
            case .tunnelLost(let reason, _), .reconnectFailed(let reason, _):
                state.status.state = .reconnecting
                state.status.trouble = reason
            case .localUnreachable(let reason):
                state.status.trouble = reason
            case .localReachable:
                state.status.trouble = nil
            case .localMoved(_, let to):
                state.status.local = to
                state.status.trouble = nil
            case .request(let line):
                if line.failure == nil { state.status.requests += 1 }
                return false
            case .removed, .removalFailed:
                state.status.state = .stopping
            }
            return true
        }
    }

    /// Changes the status (`change` returns whether more than counts changed, which forces a write)
    /// and queues the file's write, unless only counts changed and the last write was under
    /// `countInterval` ago: then one write is scheduled for when the interval has passed.
    private func write(_ change: (inout State) -> Bool) {
        enum Plan {
            case now(InterceptStatus)
            case after(Duration)
            case nothing
        }
        let plan: Plan = state.withLockedValue { state in
            let force = change(&state)
            let now = ContinuousClock.now
            if !force, let written = state.written, now - written < countInterval {
                guard !state.trailingScheduled else { return .nothing }
                state.trailingScheduled = true
                return .after(countInterval - (now - written))
            }
            state.written = now
            state.trailingScheduled = false  // this write carries the counts
            return .now(state.status)
        }
        switch plan {
        case .now(let status):
            files.async { [self] in save(status) }
        case .after(let delay):
            files.asyncAfter(deadline: .now() + delay.inSeconds) { [weak self] in self?.writeTrailing() }
        case .nothing:
            return
        }
    }

    /// On `files`: the counts that waited for the interval, if no write carried them meanwhile.
    private func writeTrailing() {
        let status: InterceptStatus? = state.withLockedValue { state in
            guard state.trailingScheduled else { return nil }
            state.trailingScheduled = false
            state.written = .now
            return state.status
        }
        if let status { save(status) }
    }

    /// On `files`: writes `status` unless the file was removed.
    private func save(_ status: InterceptStatus) {
        guard !removed.withLockedValue({ $0 }) else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(status) else { return }
        store(data, file)
    }

    /// Waits until the writes queued so far are done.
    func settle() {
        files.sync {}
    }

    /// The process is ending: its file goes, after the writes queued before, and none is written after.
    public func remove() {
        files.sync {
            removed.withLockedValue { $0 = true }
            try? FileManager.default.removeItem(at: file)
        }
    }

    /// Writes `data` to `file` through a temporary file renamed over it, owner-only, without `fsync`
    /// (see the type's documentation).
    public static let storeAtomically: Store = { data, file in
        let temporary = file.path + ".tmp"
        do {
            try OwnerOnlyFile.write(data, to: temporary)
            _ = rename(temporary, file.path)
        } catch {
            unlink(temporary)
        }
    }
}
