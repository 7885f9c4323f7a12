import Glibc
import ShuntSession
import Testing

/// The allocator tuning both programs apply at start is accepted by the C library.
@Suite struct ProcessMemoryTests {
    @Test func theTrimThresholdIsAppliedUnlessTheEnvironmentSetsIt() throws {
        let set = ProcessMemory.keepFreedMemoryForReuse()
        #expect(set == (getenv("MALLOC_TRIM_THRESHOLD_") == nil))
        #expect(ProcessMemory.trimThreshold == 4 << 20)
    }
}
