#!/usr/bin/env bash
# What the two ends' wake-ups cost the chains of issue 5's benchmark. wrk and nginx (the "leaves")
# are each woken by a proxy's write; a woken leaf on the writer's core takes the core from the
# writer at once (wake-up preemption), and the writer waits, runnable, for its next write. Run
# under SCHED_BATCH, a leaf never preempts on waking: it runs when the writer sleeps or its time
# runs out. Rounds alternate, with haproxy in each (wrk -t1 -c50 each):
#   normal: wrk and the nginx workers as usual
#   batch:  wrk started with `chrt -b 0`, the nginx workers set to SCHED_BATCH (`chrt -b -p 0 PID`)
# For each: requests/s of haproxy and of the intercepted chain, the proxies' CPU per request (user
# + system, /proc/PID/stat) and their context switches per request (voluntary + involuntary, all
# threads); then the medians and the rounds in which batch was ahead. Only the processes this
# script started are touched, by PID.
#   tools/bench/leaves.sh DIR [SECONDS] [ROUNDS]   (DIR holds shunt and shunt-agent; default 3 s, 8 rounds)
#   LEAVES=wrk or LEAVES=nginx: only that leaf runs under SCHED_BATCH in the batch rounds (default: both).
# Needs: nginx-light haproxy wrk util-linux (chrt).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?DIR with shunt and shunt-agent}; seconds=${2:-3}; rounds=${3:-8}; leaves=${LEAVES:-both}
case $leaves in wrk|nginx|both) ;; *) echo "leaves.sh: LEAVES is wrk, nginx or both" >&2; exit 2 ;; esac
for tool in nginx haproxy wrk python3 chrt; do
  command -v "$tool" >/dev/null || { echo "leaves.sh: $tool is missing (apt-get install -y nginx-light haproxy wrk util-linux)" >&2; exit 2; }
done
if ! { [ -x "$dir/shunt" ] && [ -x "$dir/shunt-agent" ]; }; then echo "leaves.sh: $dir has no shunt and shunt-agent" >&2; exit 2; fi
. tools/bench/common.sh

start_peers "$dir/shunt"
start_chain intercepted "$dir" x-dev=alice
workers=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')

# run MODE NAME PORT PID...: one wrk run; appends "MODE NAME requests rps ticks switches".
run() {
  local mode=$1 name=$2 port=$3 t0 s0 pre=()
  shift 3
  if [ "$mode" = batch ] && [ "$leaves" != nginx ]; then pre=(chrt -b 0); fi
  t0=$(cpu_ticks "$@"); s0=$(context_switches "$@")
  "${pre[@]}" wrk -t1 -c50 -d"${seconds}"s -H "X-Dev: alice" "http://127.0.0.1:$port/" > "$work/last.txt"
  echo "$mode $name $(awk '/requests in/ { print $1 }' "$work/last.txt") $(awk '/Requests\/sec/ { print $2 }' "$work/last.txt") $(( $(cpu_ticks "$@") - t0 )) $(( $(context_switches "$@") - s0 ))" >> "$work/leaves.txt"
}
policy() {
  local pid
  # shellcheck disable=SC2086
  for pid in $workers; do if [ "$1" = batch ] && [ "$leaves" != wrk ]; then chrt -b -p 0 "$pid"; else chrt -o -p 0 "$pid"; fi; done
}
echo "leaves.sh: $dir; wrk -t1 -c50 -d${seconds}s, $rounds rounds; the leaves normal, then SCHED_BATCH ($leaves)"
wrk -t1 -c50 -d1s -H "X-Dev: alice" "http://127.0.0.1:$edge_intercepted/" >/dev/null
for round in $(seq "$rounds"); do
  for mode in normal batch; do
    policy "$mode"
    run "$mode" haproxy "$haproxy_port" "$haproxy_pid"
    # shellcheck disable=SC2154
    run "$mode" intercepted "$edge_intercepted" "$agent_intercepted" "$laptop_intercepted"
  done
  python3 - "$work/leaves.txt" "$round" "$(getconf CLK_TCK)" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])][-4:]
hz = int(sys.argv[3])
out = []
for mode in ("normal", "batch"):
    h = next(r for r in rows if r[0] == mode and r[1] == "haproxy")
    s = next(r for r in rows if r[0] == mode and r[1] == "intercepted")
    out.append("%s: haproxy %6.0f, intercepted %6.0f req/s (%.3f×), its CPU %5.1f µs, switches %.3f a request" % (
        mode, float(h[3]), float(s[3]), float(s[3]) / float(h[3]), int(s[4]) * 1e6 / hz / int(s[2]), int(s[5]) / int(s[2])))
print("round %s  %s" % (sys.argv[2], "  |  ".join(out)))
PY
done
policy normal
python3 - "$work/leaves.txt" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
hz = int(sys.argv[2])
def col(mode, name, f): return [f(r) for r in rows if r[0] == mode and r[1] == name]
rps = lambda r: float(r[3])
cpu = lambda r: int(r[4]) * 1e6 / hz / int(r[2])
sw = lambda r: int(r[5]) / int(r[2])
print("medians:")
for mode in ("normal", "batch"):
    h, s = statistics.median(col(mode, "haproxy", rps)), statistics.median(col(mode, "intercepted", rps))
    print("  %-6s haproxy %6.0f req/s (CPU %5.1f µs)  intercepted %6.0f req/s = %.3f× haproxy  agent + laptop CPU %5.1f µs, switches %.3f a request" % (
        mode, h, statistics.median(col(mode, "haproxy", cpu)), s, s / h, statistics.median(col(mode, "intercepted", cpu)),
        statistics.median(col(mode, "intercepted", sw))))
n, b = col("normal", "intercepted", rps), col("batch", "intercepted", rps)
hn, hb = col("normal", "haproxy", rps), col("batch", "haproxy", rps)
print("  batch / normal: intercepted %.3f× (ahead in %d of %d rounds), haproxy %.3f× (ahead in %d of %d)" % (
    statistics.median(b) / statistics.median(n), sum(x > y for x, y in zip(b, n)), len(n),
    statistics.median(hb) / statistics.median(hn), sum(x > y for x, y in zip(hb, hn)), len(hn)))
PY
