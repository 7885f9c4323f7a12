import CLibFuzzer
import ShuntOracles

/// libFuzzer entry: arbitrary client and upstream bytes through the agent's edge state machine and its
/// rule matching (no network). Any violated invariant of `EdgeInvariants`, or a trap, is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEdge(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = count == 0 ? [] : Array(UnsafeBufferPointer(start: start, count: count))
    do {
        try EdgeInvariants.check(input)
    } catch {
        fatalError("edge invariant violated: \(error)")
    }
    return 0
}

/// SwiftPM links the executable's `main` to `FuzzEdge_main`; hand over to libFuzzer.
@_cdecl("FuzzEdge_main")
public func fuzzEdgeMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzEdge(data, size) }
}
