# The Swift flags of Shunt's release binaries, for the whole build, dependencies included:
#   -enforce-exclusivity=unchecked  no run-time exclusivity checks (Package.swift already drops them
#                                   for Shunt's own modules; this drops them in SwiftNIO and the rest);
#   -cross-module-optimization      a module's code may be inlined and specialized in the modules
#                                   that call it (SwiftNIO's pipeline into the edge's handlers).
# Measured on the agent (tools/bench/README.md): CPU per request 7% lower on pass-through, 4% lower
# intercepted. Debug builds and the tests keep the checks, so an overlapping access is still caught.
# Sourced by tools/build-image.sh and tools/bench/common.sh; deploy/Containerfile repeats the flags.
# shellcheck shell=bash
shunt_release_flags=(-Xswiftc -enforce-exclusivity=unchecked -Xswiftc -cross-module-optimization)
