import NIOCore
import ShuntHTTP1
import ShuntMatch

/// A parsed request head as the router sees it: its raw path and its header values, read in place
/// from the bytes the head arrived in (no copy, no allocation).
public struct RoutableRequest: MatchableRequest {
    public let head: ShuntHTTP1.RequestHead

    public init(head: ShuntHTTP1.RequestHead) {
        self.head = head
    }

    public func withPath<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        let range = head.pathRange
        return head.bytes.withUnsafeReadableBytes { bytes in
            body(UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
    }

    public func containsHeader(named lowercasedName: UnsafeRawBufferPointer, where body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        let headers = head.headers
        return head.bytes.withUnsafeReadableBytes { bytes in
            for index in headers.indices {
                let (name, value) = headers.ranges(at: index)
                guard Self.headerName(UnsafeRawBufferPointer(rebasing: bytes[name]), equals: lowercasedName) else { continue }
                if body(UnsafeRawBufferPointer(rebasing: bytes[value])) { return true }
            }
            return false
        }
    }
}
