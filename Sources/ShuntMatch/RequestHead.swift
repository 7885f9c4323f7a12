/// A request head held as one buffer of octets and ranges into it: the shape of what the edge's
/// parser produces, and a `MatchableRequest` that matches without allocating.
public struct RequestHead: MatchableRequest, Sendable {
    public struct Field: Sendable, Hashable {
        public var name: Range<Int>
        /// Without surrounding spaces and tabs.
        public var value: Range<Int>

        public init(name: Range<Int>, value: Range<Int>) {
            self.name = name
            self.value = value
        }
    }

    public var bytes: [UInt8]
    /// The path within `bytes`, query and fragment excluded.
    public var path: Range<Int>
    public var fields: [Field]

    /// `target` is the whole request-target; the path is cut from it.
    public init(bytes: [UInt8], target: Range<Int>, fields: [Field]) {
        self.bytes = bytes
        self.fields = fields
        let cut = bytes.withUnsafeBytes { RequestTarget.pathRange(in: UnsafeRawBufferPointer(rebasing: $0[target])) }
        self.path = (target.lowerBound + cut.lowerBound)..<(target.lowerBound + cut.upperBound)
    }

    public func withPath<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[path])) }
    }

    public func containsHeader(named lowercasedName: UnsafeRawBufferPointer, where body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        bytes.withUnsafeBytes { buffer in
            for field in fields where Self.headerName(UnsafeRawBufferPointer(rebasing: buffer[field.name]), equals: lowercasedName) {
                if body(UnsafeRawBufferPointer(rebasing: buffer[field.value])) { return true }
            }
            return false
        }
    }
}
