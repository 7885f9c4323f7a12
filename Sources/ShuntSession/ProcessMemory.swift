#if canImport(Glibc)
import Glibc
#endif

/// The C allocator, tuned for a process that moves bulk bytes through buffers of 16–64 KiB. By
/// default glibc gives the top of its heap back to the kernel as soon as 128 KiB of it is free, so
/// the buffers of the next read fault fresh pages in again: in a bulk relay, page faults and page
/// clearing took some 10% of the CPU. Keeping up to `trimThreshold` of freed memory for reuse ends
/// that churn, at the cost of at most that much resident memory held after a burst.
public enum ProcessMemory {
    /// Free memory at the top of the heap kept for reuse instead of being returned to the kernel.
    public static let trimThreshold = 4 << 20

    /// Applies `trimThreshold` (glibc's M_TRIM_THRESHOLD), unless `MALLOC_TRIM_THRESHOLD_` is set:
    /// the environment wins. Returns whether it was applied. Once, at the start of the process.
    @discardableResult
    public static func keepFreedMemoryForReuse() -> Bool {
        #if canImport(Glibc)
        if getenv("MALLOC_TRIM_THRESHOLD_") != nil { return false }
        // mallopt is not in the Glibc module's view of malloc.h; it is in every glibc.
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThresholdOption: Int32 = -1  // M_TRIM_THRESHOLD in <malloc.h>
        return mallopt(trimThresholdOption, Int32(trimThreshold)) == 1
        #else
        return false
        #endif
    }
}
