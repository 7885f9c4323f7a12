import Foundation

/// Reads a pipe to its end on a thread of its own: a blocking read must not hold one of the test
/// runner's few threads, and a writer blocked on a full pipe needs someone reading.
public final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    public init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    /// Everything read, once the writing end is closed.
    public func wait() -> Data {
        done.wait()
        return data
    }
}
