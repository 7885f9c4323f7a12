#!/usr/bin/env bash
# What SwiftNIO's channels cost the agent's pass-through: wrk -t1 -c50 against haproxy, against
# shunt-agent passing requests to the app (no intercepts) on its own edge loop (`--edge-io direct`,
# the default) and on SwiftNIO's channels (`--edge-io nio`), and against `direct-edge`
# (tools/bench/direct-edge: the agent's EdgeExchange on a bare epoll loop, the floor), in
# alternating rounds, all in front of the same nginx origin. Prints each round (requests/s, p99,
# user and system CPU per request from /proc) and the medians of each against haproxy.
#
#   tools/bench/direct.sh [SECONDS] [ROUNDS]      # defaults: 4 s, 5 rounds
#
# Needs: nginx-light haproxy wrk. Builds the release binaries unless SHUNT_BIN, SHUNT_AGENT_BIN
# and DIRECT_EDGE_BIN name them.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in nginx haproxy wrk python3; do
  command -v "$tool" >/dev/null || { echo "direct.sh: $tool is missing (apt-get install -y nginx-light haproxy wrk)" >&2; exit 2; }
done
seconds=${1:-4}; rounds=${2:-5}
. tools/bench/common.sh
bench_binaries agent
if [ -z "${DIRECT_EDGE_BIN:-}" ]; then
  (cd tools/bench/direct-edge && swift build -c release "${shunt_release_flags[@]}" >&2)
  DIRECT_EDGE_BIN=$(cd tools/bench/direct-edge && swift build -c release --show-bin-path)/direct-edge
fi
start_peers
"$SHUNT_BIN" certs init --dir "$work/certs" --name alice >/dev/null
wait_port "$haproxy_port"; wait_port "$cluster"
edge=$(port); tunnel=$(port); nio_edge=$(port); nio_tunnel=$(port); direct=$(port)
"$SHUNT_AGENT_BIN" --listen 127.0.0.1:"$edge" --app 127.0.0.1:"$cluster" --tunnel-listen 127.0.0.1:"$tunnel" \
  --admin-listen 127.0.0.1:0 --certs "$work/certs" --service orders 2>"$work/agent.log" & agent_pid=$!; pids+=($!)
"$SHUNT_AGENT_BIN" --listen 127.0.0.1:"$nio_edge" --app 127.0.0.1:"$cluster" --tunnel-listen 127.0.0.1:"$nio_tunnel" \
  --admin-listen 127.0.0.1:0 --certs "$work/certs" --service orders --edge-io nio 2>"$work/agent-nio.log" & nio_pid=$!; pids+=($!)
"$DIRECT_EDGE_BIN" "$direct" "$cluster" & direct_pid=$!; pids+=($!)
wait_port "$edge"; wait_port "$nio_edge"; wait_port "$direct"
for p in "$edge" "$nio_edge" "$direct"; do
  [ "$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$p/').read().decode().strip())")" = cluster ] ||
    { echo "direct.sh: 127.0.0.1:$p did not pass a request to the origin" >&2; exit 1; }
done
tick=$(getconf CLK_TCK)
: > "$work/rounds"
echo "wrk -t1 -c50 -d${seconds}s, $rounds rounds: requests/s, p99, CPU per request (user + system, µs)"
for r in $(seq "$rounds"); do
  for name in haproxy agent agent-nio floor; do
    case $name in
      haproxy) pid=$haproxy_pid; p=$haproxy_port;;
      agent) pid=$agent_pid; p=$edge;;
      agent-nio) pid=$nio_pid; p=$nio_edge;;
      floor) pid=$direct_pid; p=$direct;;
    esac
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    wrk -t1 -c50 -d"${seconds}s" --latency "http://127.0.0.1:$p/" > "$work/wrk.txt"
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    requests=$(grep -oE "[0-9]+ requests in" "$work/wrk.txt" | cut -d' ' -f1)
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$work/wrk.txt")
    bad=$(grep -oE "Non-2xx or 3xx responses: [0-9]+" "$work/wrk.txt" | awk '{print $NF}' || true)
    [ -z "$bad" ] || { echo "direct.sh: $name answered $bad requests with an error" >&2; exit 1; }
    python3 - "$name" "$requests" "$seconds" "$p99" "$u0" "$s0" "$u1" "$s1" "$tick" >> "$work/rounds" <<'PY'
import sys
name, n, secs, p99, u0, s0, u1, s1, tick = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), *map(int, sys.argv[5:9]), int(sys.argv[9])
print(name, n / secs, p99, (u1 - u0) * 1e6 / tick / n, (s1 - s0) * 1e6 / tick / n)
PY
    tail -1 "$work/rounds" | awk -v r="$r" '{printf "  round %d  %-9s %8.0f req/s  p99 %5.2f ms  user %5.2f + system %5.2f µs\n", r, $1, $2, $3, $4, $5}'
  done
done
python3 - "$work/rounds" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for name, *values in rows: by.setdefault(name, []).append([float(v) for v in values])
h = by["haproxy"]
def med(name, i, ratio=True):
    xs = [row[i] / (h[k][i] if ratio else 1) for k, row in enumerate(by[name])]
    return statistics.median(xs)
for name in ("agent", "agent-nio", "floor"):
    cpu = statistics.median([(row[2] + row[3]) / (h[k][2] + h[k][3]) for k, row in enumerate(by[name])])
    print("  %-9s / haproxy: requests/s %.2f, p99 %.2f, CPU per request %.2f (user %.2f µs vs %.2f, system %.2f vs %.2f; medians)" % (
        name, med(name, 0), med(name, 1), cpu, med(name, 2, False), med("haproxy", 2, False), med(name, 3, False), med("haproxy", 3, False)))
PY
