/// What the router needs of a request: its raw path and its header values by name, as octets the
/// edge already holds. A type that keeps the request head in one buffer with ranges for the target
/// and each header field conforms without allocating (see `RequestHead`).
public protocol MatchableRequest {
    /// Calls `body` with the path: the request-target up to, not including, the first `?` or `#`
    /// (`RequestTarget.pathRange(in:)` cuts it), as sent, not decoded.
    func withPath<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result

    /// Calls `body` with the value of each header field line whose name equals `lowercasedName`
    /// without ASCII case, in the order sent, until `body` returns `true`; returns whether it did.
    /// Values are the field line's value with surrounding spaces and tabs removed (RFC 9110 §5.5);
    /// a line `a, b` is one value, not two.
    func containsHeader(named lowercasedName: UnsafeRawBufferPointer, where body: (UnsafeRawBufferPointer) -> Bool) -> Bool
}

extension MatchableRequest {
    /// Whether `name` equals `lowercasedName` ignoring ASCII case, for conformers.
    @inlinable
    public static func headerName(_ name: UnsafeRawBufferPointer, equals lowercasedName: UnsafeRawBufferPointer) -> Bool {
        guard name.count == lowercasedName.count else { return false }
        for index in 0..<name.count {
            var byte = name[index]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte |= 0x20 }
            if byte != lowercasedName[index] { return false }
        }
        return true
    }
}
