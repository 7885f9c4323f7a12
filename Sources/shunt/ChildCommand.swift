import Foundation
import NIOCore
import NIOPosix

/// The program given after `--`, run with the application's environment; its exit status becomes
/// ours (128 + N when a signal N ended it, as shells report it).
final class ChildCommand: @unchecked Sendable {
    private let process = Process()
    /// Completed by the termination handler; any number of waiters.
    private let exited = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int32.self)

    init(arguments: [String], environment: [String: String]) {
        // Through env(1), so that the command is looked up in PATH like a shell would.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = environment
        let exited = self.exited
        process.terminationHandler = { process in
            let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
            exited.succeed(status)
        }
    }

    func start() throws { try process.run() }

    /// Passes a signal on (Ctrl-C reaches the whole process group anyway; `kill` reaches only us).
    func signal(_ number: Int32) {
        let pid = process.processIdentifier
        if pid > 0 { kill(pid, number) }
    }

    func exitStatus() async -> Int32 {
        (try? await exited.futureResult.get()) ?? 1
    }
}
