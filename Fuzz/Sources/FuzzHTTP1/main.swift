import CLibFuzzer
import ShuntOracles

/// libFuzzer entry: the first octet picks requests or responses, the limits and a piece size; the rest
/// is a byte stream on one connection. Any violated invariant of `HTTP1Invariants` (or a trap inside
/// the parsers) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP1(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = count == 0 ? [] : Array(UnsafeBufferPointer(start: start, count: count))
    do {
        try HTTP1Invariants.check(input)
    } catch {
        fatalError("HTTP/1.1 parsing invariant violated: \(error)")
    }
    return 0
}

/// SwiftPM links the executable's `main` to `FuzzHTTP1_main`; hand over to libFuzzer.
@_cdecl("FuzzHTTP1_main")
public func fuzzHTTP1Main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzHTTP1(data, size) }
}
