import CLibFuzzer
import ShuntOracles

/// libFuzzer entry: the first octet picks preface and limits, the rest is a Shunt byte stream.
/// Any violated invariant of `DecoderInvariants` (or a trap inside the decoder) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameDecoder(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = count == 0 ? [] : Array(UnsafeBufferPointer(start: start, count: count))
    do {
        try DecoderInvariants.check(input)
    } catch {
        fatalError("FrameDecoder invariant violated: \(error)")
    }
    return 0
}

/// SwiftPM links the executable's `main` to `FuzzFrameDecoder_main`; hand over to libFuzzer.
@_cdecl("FuzzFrameDecoder_main")
public func fuzzFrameDecoderMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzFrameDecoder(data, size) }
}
