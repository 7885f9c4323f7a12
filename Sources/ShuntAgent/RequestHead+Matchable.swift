import NIOCore
import ShuntHTTP1
import ShuntMatch

/// A parsed request head as the router sees it: its raw path and its header values, read in place
/// from the bytes the head arrived in (no copy, no allocation). The head itself is the request the
/// router matches: a wrapper holding it would be a copy of it, and so a retain and a release of all
/// it holds, on every request.
extension ShuntHTTP1.RequestHead: MatchableRequest {
    public func withPath<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        let range = pathRange
        return bytes.withUnsafeReadableBytes { bytes in
            body(UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
    }

    public func containsHeader(named lowercasedName: UnsafeRawBufferPointer, where body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        let headers = headers
        return bytes.withUnsafeReadableBytes { bytes in
            for index in headers.indices {
                let (name, value) = headers.ranges(at: index)
                guard Self.headerName(UnsafeRawBufferPointer(rebasing: bytes[name]), equals: lowercasedName) else { continue }
                if body(UnsafeRawBufferPointer(rebasing: bytes[value])) { return true }
            }
            return false
        }
    }
}
