import CLibFuzzer
import ShuntOracles

/// libFuzzer entry: the first octet picks a piece size, the second splits the rest into a caller's
/// octets and a local service's answer. Any violated invariant of `BoundaryAgreement` (the agent and
/// the laptop disagree where the exchange ends), or a trap inside either, is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBoundary(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = count == 0 ? [] : Array(UnsafeBufferPointer(start: start, count: count))
    do {
        try BoundaryAgreement.check(input)
    } catch {
        fatalError("the two ends disagree where an exchange ends: \(error)")
    }
    return 0
}

/// SwiftPM links the executable's `main` to `FuzzBoundary_main`; hand over to libFuzzer.
@_cdecl("FuzzBoundary_main")
public func fuzzBoundaryMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzBoundary(data, size) }
}
