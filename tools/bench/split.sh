#!/usr/bin/env bash
# Where the CPU of one request goes, per process, in the three chains of issue 5's benchmark, in
# alternating rounds (wrk -t1 -c50 each):
#   haproxy:     wrk → haproxy → nginx (the yardstick)
#   intercepted: wrk → agent → tunnel → laptop → nginx (a personal intercept: HTTP work per request)
#   global:      the same chain with a global intercept (a raw pipe through the tunnel)
# For each run: requests/s, and user + system µs per request of wrk (/usr/bin/time), the proxy
# (haproxy, or agent + laptop; /proc/PID/stat) and the nginx workers; then the medians. On a machine
# whose cores are all busy, requests/s follows the sum of the three: this says which part grows.
#   tools/bench/split.sh DIR [SECONDS] [ROUNDS]   (DIR holds shunt and shunt-agent; default 4 s, 6 rounds)
# Needs: nginx-light haproxy wrk time (apt-get install -y nginx-light haproxy wrk time).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?DIR with shunt and shunt-agent}; seconds=${2:-4}; rounds=${3:-6}
for tool in nginx haproxy wrk python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "split.sh: $tool is missing (apt-get install -y nginx-light haproxy wrk time)" >&2; exit 2; }
done
[ -x "$dir/shunt" ] && [ -x "$dir/shunt-agent" ] || { echo "split.sh: $dir has no shunt and shunt-agent" >&2; exit 2; }
. tools/bench/common.sh

start_peers "$dir/shunt"

start_chain intercepted "$dir" x-dev=alice; start_chain global "$dir" all
workers=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')

ticks() { local field=$1 total=0 pid; shift; for pid in "$@"; do total=$((total + $(awk "{print \$$field}" "/proc/$pid/stat"))); done; echo "$total"; }
# measure NAME PORT PID...: one wrk run; appends "NAME rps wrk_user wrk_sys proxy_user proxy_sys nginx_user nginx_sys".
measure() {
  local name=$1 port=$2 pu ps nu ns
  shift 2
  # shellcheck disable=SC2086
  pu=$(ticks 14 "$@"); ps=$(ticks 15 "$@"); nu=$(ticks 14 $workers); ns=$(ticks 15 $workers)
  /usr/bin/time -f "wrk-cpu %U %S" -o "$work/time.txt" wrk -t1 -c50 -d"${seconds}"s --latency -H "X-Dev: alice" "http://127.0.0.1:$port/" > "$work/last.txt"
  # shellcheck disable=SC2086
  python3 - "$work/last.txt" "$work/time.txt" "$name" "$(getconf CLK_TCK)" $(( $(ticks 14 "$@") - pu )) $(( $(ticks 15 "$@") - ps )) \
    $(( $(ticks 14 $workers) - nu )) $(( $(ticks 15 $workers) - ns )) >> "$work/split.txt" <<'PY'
import re, sys
text, times, name, hz = open(sys.argv[1]).read(), open(sys.argv[2]).read().split(), sys.argv[3], int(sys.argv[4])
requests = max(1, int(re.search(r"(\d+) requests in", text).group(1)))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
wrk = [float(times[times.index("wrk-cpu") + 1]), float(times[times.index("wrk-cpu") + 2])]
proxy_nginx = [int(t) * 1e6 / hz / requests for t in sys.argv[5:9]]
print(name, "%.0f" % rps, " ".join("%.2f" % v for v in [wrk[0] * 1e6 / requests, wrk[1] * 1e6 / requests] + proxy_nginx))
PY
  tail -1 "$work/split.txt" | awk '{ printf "  %-12s %7s req/s  µs per request: wrk %5.1f + %5.1f  proxy %5.1f + %5.1f  nginx %5.1f + %5.1f\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
}
echo "split.sh: $dir; wrk -t1 -c50 -d${seconds}s, $rounds rounds; µs of CPU per request, user + system"
for round in $(seq "$rounds"); do
  echo "round $round"
  measure haproxy "$haproxy_port" "$haproxy_pid"
  # shellcheck disable=SC2154
  measure intercepted "$edge_intercepted" "$agent_intercepted" "$laptop_intercepted"
  # shellcheck disable=SC2154
  measure global "$edge_global" "$agent_global" "$laptop_global"
done
python3 - "$work/split.txt" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def med(name, i): return statistics.median(float(r[i]) for r in rows if r[0] == name)
print("medians:")
for name in ("haproxy", "intercepted", "global"):
    total = sum(med(name, i) for i in range(2, 8))
    print("  %-12s %7.0f req/s (%.2f× haproxy)  wrk %5.1f  proxy %5.1f (user %5.1f, system %5.1f)  nginx %5.1f  all %5.1f µs" % (
        name, med(name, 1), med(name, 1) / med("haproxy", 1), med(name, 2) + med(name, 3), med(name, 4) + med(name, 5),
        med(name, 4), med(name, 5), med(name, 6) + med(name, 7), total))
PY
