#!/usr/bin/env bash
# Builds a libFuzzer target with ASan and runs it: Fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
#   TARGET: FuzzFrameDecoder, FuzzSession, FuzzHTTP1, FuzzEdge, FuzzBoundary
# Seeds come from Fuzz/make_seeds.py plus Fuzz/FailCases/TARGET-*; the growing corpus is
# kept in Fuzz/corpus-work/TARGET and crashes land in Fuzz/artifacts/ (both git-ignored). Copy a
# crash into Fuzz/FailCases/ once fixed: the unit tests replay every file there.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: Fuzz/run.sh TARGET SECONDS}
seconds=${2:?usage: Fuzz/run.sh TARGET SECONDS}
shift 2

swift build -c release --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product "$target"
binary=$(swift build -c release --scratch-path .build-fuzz --show-bin-path)/$target

corpus=corpus-work/$target
seeds=corpus-work/$target-seeds
mkdir -p "$corpus" "$seeds" artifacts
python3 make_seeds.py "$target" "$seeds"

# A FuzzSession input is a program; a few KiB already make thousands of operations.
max_len=20000
[ "$target" = FuzzSession ] && max_len=4096
cp FailCases/"$target"-* "$seeds"/ 2>/dev/null || true

"$binary" "$corpus" "$seeds" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=artifacts/ "$@"
