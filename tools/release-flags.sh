# The build flags of Shunt's release binaries, for the whole build, dependencies included:
#   -enforce-exclusivity=unchecked  no run-time exclusivity checks (Package.swift already drops them
#                                   for Shunt's own modules; this drops them in SwiftNIO and the rest);
#   -cross-module-optimization      a module's code may be inlined and specialized in the modules
#                                   that call it (SwiftNIO's pipeline into the edge's handlers);
#   --experimental-lto-mode thin    LLVM's thin link-time optimization over every module, Swift and
#                                   C (BoringSSL), linked with the toolchain's lld.
# Measured (tools/bench/README.md): the first two, CPU per request 7% lower on pass-through and 4%
# lower intercepted; thin LTO on top (stop 31), intercepted CPU per request 3.7–7% lower, pass-through
# unchanged, binaries 7 MB smaller unstripped (the image's stripped agent 0.6 MB). Debug builds and
# the tests keep the exclusivity checks, so an overlapping access is still caught.
# Sourced by tools/build-image.sh and tools/bench/common.sh; deploy/Containerfile repeats the flags.
# shellcheck shell=bash
shunt_release_flags=(-Xswiftc -enforce-exclusivity=unchecked -Xswiftc -cross-module-optimization --experimental-lto-mode thin)
