import Foundation

extension Process {
    /// Waits for the process to exit, on a thread of its own (a blocking wait must not hold one of
    /// the test runner's few threads), and gives its exit status.
    public func exited() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.waitUntilExit()
                continuation.resume(returning: self.terminationStatus)
            }
        }
    }
}
