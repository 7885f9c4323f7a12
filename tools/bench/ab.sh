#!/usr/bin/env bash
# Two builds of Shunt side by side in one run, with haproxy as the yardstick: the load on these
# shared machines drifts by a factor of two within minutes, so a change is judged by rounds that
# alternate haproxy, build A and build B, each a short wrk -t1 -c50 run, all three set up at once.
#   tools/bench/ab.sh pass|intercepted|global OLD_DIR NEW_DIR [SECONDS] [ROUNDS]   (default 5 s, 6 rounds)
# TOGETHER=1: each round loads A and B at the same time (a wrk -t1 -c50 each, no haproxy), so both
# run in the same state of the machine and share its two cores; the build that needs less CPU per
# request serves more. Rounds of the same build against itself still differ by up to ±12%, so a
# change of a few percent needs many short rounds (e.g. 40 of 2 s); the medians of B/A and how
# many rounds B won are printed.
# OLD_DIR and NEW_DIR hold a `shunt` and a `shunt-agent` (e.g. copies of .build/release from two
# commits). pass: requests without the header, agent → in-cluster origin; intercepted: with it,
# agent → tunnel → `shunt intercept` → local origin. Prints each round (requests/s, p99, CPU per
# request of the chain: agent, + laptop when intercepted) and the medians of B/A and of each/haproxy.
# CLOSE=1: each request with Connection: close, so each opens and ends a connection (and, intercepted, a stream).
# global: as intercepted, but the laptop holds a global intercept (`--http-header all`): every
# connection is a raw pipe through the tunnel, no HTTP work per request on either side. The same
# build as A and B in `intercepted` and in `global` tells what the per-request HTTP work costs
# end to end, and what the chain would reach without it.
# Needs: nginx-light haproxy wrk (apt-get install -y nginx-light haproxy wrk).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?pass, intercepted or global}; old=${2:?OLD_DIR}; new=${3:?NEW_DIR}; seconds=${4:-5}; rounds=${5:-6}
case "$mode" in pass|intercepted|global) ;; *) echo "ab.sh: the mode is pass, intercepted or global, not $mode" >&2; exit 2 ;; esac
rule=x-dev=alice; [ "$mode" = global ] && rule=all
for tool in nginx haproxy wrk python3; do
  command -v "$tool" >/dev/null || { echo "ab.sh: $tool is missing (apt-get install -y nginx-light haproxy wrk)" >&2; exit 2; }
done
for dir in "$old" "$new"; do
  [ -x "$dir/shunt" ] && [ -x "$dir/shunt-agent" ] || { echo "ab.sh: $dir has no shunt and shunt-agent" >&2; exit 2; }
done
. tools/bench/common.sh

start_peers "$old/shunt"

# start NAME DIR: an agent and a laptop from DIR (start_chain); sets chain_NAME: the PIDs whose CPU
# is counted (the agent; intercepted and global, the laptop too).
start() {
  local name=$1 agent laptop_pid
  start_chain "$name" "$2" "$rule"
  agent=agent_$name; laptop_pid=laptop_$name
  if [ "$mode" = pass ]; then printf -v "chain_$name" '%s' "${!agent}"; else printf -v "chain_$name" '%s' "${!agent} ${!laptop_pid}"; fi
}
start A "$old"; start B "$new"

header=(); [ "$mode" != pass ] && header=(-H "X-Dev: alice")
# CLOSE=1: every request on a connection of its own (Connection: close), as callers that do not keep
# connections alive send them: what a connection costs, accepted, handed over and ended, per request.
[ "${CLOSE:-0}" = 1 ] && header+=(-H "Connection: close")
if [ "${TOGETHER:-0}" = 1 ]; then
  echo "ab.sh $mode, together: A = $old, B = $new; both loaded at once, wrk -t1 -c50 -d${seconds}s each, $rounds rounds"
  for round in $(seq "$rounds"); do
    # shellcheck disable=SC2086,SC2154
    a0=$(cpu_ticks $chain_A); b0=$(cpu_ticks $chain_B)
    wrk -t1 -c50 -d"${seconds}"s "${header[@]}" "http://127.0.0.1:$edge_A/" > "$work/a.txt" & wrk_a=$!
    wrk -t1 -c50 -d"${seconds}"s "${header[@]}" "http://127.0.0.1:$edge_B/" > "$work/b.txt" & wrk_b=$!
    wait "$wrk_a" "$wrk_b"
    # shellcheck disable=SC2086
    a1=$(cpu_ticks $chain_A); b1=$(cpu_ticks $chain_B)
    python3 - "$work/a.txt" "$work/b.txt" $((a1 - a0)) $((b1 - b0)) "$(getconf CLK_TCK)" >> "$work/together.txt" <<'PY'
import re, sys
def run(path):
    text = open(path).read()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)), int(re.search(r"(\d+) requests in", text).group(1)),
            int(errors.group(1)) if errors else 0)
(rps_a, n_a, e_a), (rps_b, n_b, e_b) = run(sys.argv[1]), run(sys.argv[2])
hz = int(sys.argv[5])
print("%.0f %.0f %.2f %.2f %d" % (rps_a, rps_b, int(sys.argv[3]) * 1e6 / hz / max(n_a, 1), int(sys.argv[4]) * 1e6 / hz / max(n_b, 1), e_a + e_b))
PY
    tail -1 "$work/together.txt" | awk '{ printf "  round %2d  A %6s req/s %6s µs/req   B %6s req/s %6s µs/req   B/A %.3f\n", '"$round"', $1, $3, $2, $4, $2 / $1 }'
  done
  python3 - "$work/together.txt" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
print("B / A: requests/s %.3f×, CPU per request %.3f× (medians over rounds); B ahead in %d of %d rounds" % (
    statistics.median(r[1] / r[0] for r in rows), statistics.median(r[3] / r[2] for r in rows), sum(r[1] > r[0] for r in rows), len(rows)))
print("non-2xx responses from Shunt: %d" % sum(int(r[4]) for r in rows))
PY
  exit 0
fi
echo "ab.sh $mode: A = $old, B = $new; wrk -t1 -c50 -d${seconds}s, $rounds rounds (CPU: the proxy; Shunt intercepted: agent + laptop)"
for round in $(seq "$rounds"); do
  echo "round $round"
  measure_wrk haproxy "$haproxy_port" "$haproxy_pid"
  # shellcheck disable=SC2086,SC2154
  if [ $((round % 2)) = 1 ]; then measure_wrk A "$edge_A" $chain_A; measure_wrk B "$edge_B" $chain_B
  else measure_wrk B "$edge_B" $chain_B; measure_wrk A "$edge_A" $chain_A; fi
done
summarize_rounds A B
