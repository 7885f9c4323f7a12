#!/usr/bin/env bash
# What a write path that sends a whole wake-up's writes to the leaves (wrk, nginx) in one system
# call would give the intercepted chain: two chains from the same binaries, one as they are and
# one with tools/bench/leafbatch/leafbatch.c preloaded into the agent (its writes to callers) and
# the laptop (its writes to the service), which holds those writes back and sends them together in
# one io_uring_enter before the thread next waits in epoll_wait. Rounds alternate haproxy, the chain
# as it is and the batched one (wrk -t1 -c50 each): requests/s, the agent's and the laptop's CPU per
# request (user + system, /proc/PID/stat) and context switches per request (all threads); then the
# medians and the rounds in which the batched chain was ahead. An instrument, not a part of Shunt:
# the preloaded library answers each held write as sent (see its comment).
#   tools/bench/leafbatch.sh DIR [SECONDS] [ROUNDS]   (DIR holds shunt and shunt-agent; default 3 s, 8 rounds)
#   SIDES=agent or SIDES=laptop: only that side of the batched chain gets the library (default: both).
# Needs: nginx-light haproxy wrk gcc.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?DIR with shunt and shunt-agent}; seconds=${2:-3}; rounds=${3:-8}; sides=${SIDES:-both}
case $sides in agent|laptop|both) ;; *) echo "leafbatch.sh: SIDES is agent, laptop or both" >&2; exit 2 ;; esac
for tool in nginx haproxy wrk python3 gcc; do
  command -v "$tool" >/dev/null || { echo "leafbatch.sh: $tool is missing (apt-get install -y nginx-light haproxy wrk gcc)" >&2; exit 2; }
done
if ! { [ -x "$dir/shunt" ] && [ -x "$dir/shunt-agent" ]; }; then echo "leafbatch.sh: $dir has no shunt and shunt-agent" >&2; exit 2; fi
dir=$(cd "$dir" && pwd)
. tools/bench/common.sh

gcc -Wall -Wextra -Werror -shared -fPIC -O2 -o "$work/leafbatch.so" tools/bench/leafbatch/leafbatch.c -ldl
# The batched chain's binaries: the same ones, started with the library and the leaf's port (the
# agent's --listen port, the laptop's --port).
mkdir "$work/batched"
cat > "$work/batched/shunt-agent" <<EOF
#!/usr/bin/env bash
for arg in "\$@"; do [ "\${previous:-}" = --listen ] && export LEAFBATCH_LOCAL_PORT=\${arg##*:}; previous=\$arg; done
LD_PRELOAD=$work/leafbatch.so exec "$dir/shunt-agent" "\$@"
EOF
cat > "$work/batched/shunt" <<EOF
#!/usr/bin/env bash
for arg in "\$@"; do [ "\${previous:-}" = --port ] && export LEAFBATCH_PEER_PORT=\$arg; previous=\$arg; done
LD_PRELOAD=$work/leafbatch.so exec "$dir/shunt" "\$@"
EOF
[ "$sides" = laptop ] && ln -sf "$dir/shunt-agent" "$work/batched/shunt-agent"
[ "$sides" = agent ] && ln -sf "$dir/shunt" "$work/batched/shunt"
chmod +x "$work/batched/shunt-agent" "$work/batched/shunt"

start_peers "$dir/shunt"
start_chain plain "$dir" x-dev=alice
start_chain batched "$work/batched" x-dev=alice

# run NAME PORT PID...: one wrk run; appends "NAME requests rps ticks switches non2xx".
run() {
  local name=$1 port=$2 t0 s0
  shift 2
  t0=$(cpu_ticks "$@"); s0=$(context_switches "$@")
  wrk -t1 -c50 -d"${seconds}"s -H "X-Dev: alice" "http://127.0.0.1:$port/" > "$work/last.txt"
  echo "$name $(awk '/requests in/ { print $1 }' "$work/last.txt") $(awk '/Requests\/sec/ { print $2 }' "$work/last.txt") $(( $(cpu_ticks "$@") - t0 )) $(( $(context_switches "$@") - s0 )) $(awk '/Non-2xx/ { print $NF }' "$work/last.txt" | grep . || echo 0)" >> "$work/batch.txt"
}
echo "leafbatch.sh: $dir; wrk -t1 -c50 -d${seconds}s, $rounds rounds; batched: $sides"
# shellcheck disable=SC2154
for port in "$edge_plain" "$edge_batched"; do wrk -t1 -c50 -d1s -H "X-Dev: alice" "http://127.0.0.1:$port/" >/dev/null; done
for round in $(seq "$rounds"); do
  run haproxy "$haproxy_port" "$haproxy_pid"
  # shellcheck disable=SC2154
  run plain "$edge_plain" "$agent_plain" "$laptop_plain"
  # shellcheck disable=SC2154
  run batched "$edge_batched" "$agent_batched" "$laptop_batched"
  python3 - "$work/batch.txt" "$round" "$(getconf CLK_TCK)" <<'PY'
import sys
rows = {r[0]: r for r in (l.split() for l in list(open(sys.argv[1]))[-3:])}
hz, h = int(sys.argv[3]), float(rows["haproxy"][2])
parts = ["haproxy %6.0f" % h]
for name in ("plain", "batched"):
    r = rows[name]
    parts.append("%s %6.0f req/s (%.3f×) CPU %5.1f µs, switches %.3f, non-2xx %s" % (
        name, float(r[2]), float(r[2]) / h, int(r[3]) * 1e6 / hz / int(r[1]), int(r[4]) / int(r[1]), r[5]))
print("round %s  %s" % (sys.argv[2], "  |  ".join(parts)))
PY
done
python3 - "$work/batch.txt" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
hz = int(sys.argv[2])
def col(name, f): return [f(r) for r in rows if r[0] == name]
rps = lambda r: float(r[2])
cpu = lambda r: int(r[3]) * 1e6 / hz / int(r[1])
sw = lambda r: int(r[4]) / int(r[1])
h = statistics.median(col("haproxy", rps))
print("medians: haproxy %.0f req/s" % h)
for name in ("plain", "batched"):
    s = statistics.median(col(name, rps))
    print("  %-8s %6.0f req/s = %.3f× haproxy  agent + laptop CPU %5.1f µs, switches %.3f a request, non-2xx %d" % (
        name, s, s / h, statistics.median(col(name, cpu)), statistics.median(col(name, sw)), sum(int(r[5]) for r in rows if r[0] == name)))
p, b = col("plain", rps), col("batched", rps)
print("  batched / plain: %.3f× requests/s (ahead in %d of %d rounds), CPU per request %.3f×" % (
    statistics.median(b) / statistics.median(p), sum(x > y for x, y in zip(b, p)), len(p),
    statistics.median(col("batched", cpu)) / statistics.median(col("plain", cpu))))
PY
