import CLibFuzzer
import ShuntOracles

/// libFuzzer entry: the input is a program (format at the top of `SessionInvariants.swift`) that drives
/// one `SessionStateMachine` as its peer, its owner and its clock. Any violated invariant of
/// `SessionInvariants` (or a trap inside the machine) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSession(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = count == 0 ? [] : Array(UnsafeBufferPointer(start: start, count: count))
    do {
        try SessionInvariants.check(input)
    } catch {
        fatalError("SessionStateMachine invariant violated: \(error)")
    }
    return 0
}

/// SwiftPM links the executable's `main` to `FuzzSession_main`; hand over to libFuzzer.
@_cdecl("FuzzSession_main")
public func fuzzSessionMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzSession(data, size) }
}
