#ifndef SHUNT_CLIBFUZZER_H
#define SHUNT_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (linked by -sanitize=fuzzer). SwiftPM links executables with
/// `--defsym main=<Target>_main`, so each fuzz target defines `<Target>_main` and calls this,
/// instead of relying on libFuzzer's own `main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
