# Sourced by the scripts of tools/bench after they cd to the repository: release binaries, a work
# folder removed at exit together with the processes listed in `pids` (and the PIDs written in the
# files listed in `pid_files`), free ports, and waiting for a listener. Processes are killed by
# PID, never by name.
# shellcheck shell=bash

# bench_binaries [agent]: shunt (and shunt-agent) in release, with the flags of the shipped binaries
# (tools/release-flags.sh), unless SHUNT_BIN (SHUNT_AGENT_BIN) name one.
. tools/release-flags.sh
bench_binaries() {
  if [ -z "${SHUNT_BIN:-}" ]; then
    swift build -c release "${shunt_release_flags[@]}" --product shunt >&2
    SHUNT_BIN=$(swift build -c release --show-bin-path)/shunt
  fi
  if [ "${1:-}" = agent ] && [ -z "${SHUNT_AGENT_BIN:-}" ]; then
    swift build -c release "${shunt_release_flags[@]}" --product shunt-agent >&2
    SHUNT_AGENT_BIN=$(swift build -c release --show-bin-path)/shunt-agent
  fi
}

work=$(mktemp -d)
pids=()
pid_files=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for file in "${pid_files[@]}"; do [ -f "$file" ] && kill "$(cat "$file")" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT: until something listens on 127.0.0.1:PORT (10 s), or exit 1.
wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "${0##*/}: nothing listens on $1" >&2
  exit 1
}

# start_peers: from ../shared/peers, on free ports, the nginx origins "cluster" and "laptop", nginx's
# header-routing proxy and haproxy's (both: X-Dev: alice → laptop, the rest → cluster). Sets
# cluster, laptop, nginx_proxy, haproxy_port and haproxy_pid; both peers are stopped at exit.
# start_peers SHUNT: also makes alice's certificates in $work/certs with the `shunt` at SHUNT, and
# waits until haproxy and both origins listen.
start_peers() {
  local peers=../shared/peers
  cluster=$(port); laptop=$(port); nginx_proxy=$(port); haproxy_port=$(port)
  sed -e "s#PEERDIR#$work#g" -e "s#127.0.0.1:9090#127.0.0.1:$cluster#g" -e "s#127.0.0.1:9091#127.0.0.1:$laptop#g" \
      -e "s#127.0.0.1:8082#127.0.0.1:$nginx_proxy#g" "$peers/nginx.conf" > "$work/nginx.conf"
  sed -e "s#127.0.0.1:8081#127.0.0.1:$haproxy_port#g" -e "s#127.0.0.1:9090#127.0.0.1:$cluster#g" -e "s#127.0.0.1:9091#127.0.0.1:$laptop#g" \
    "$peers/haproxy.cfg" > "$work/haproxy.cfg"
  pid_files+=("$work/nginx.pid")
  nginx -c "$work/nginx.conf" -p "$work" 2>/dev/null
  haproxy -f "$work/haproxy.cfg" -db >/dev/null 2>&1 & haproxy_pid=$!; pids+=($!)
  if [ -n "${1:-}" ]; then
    "$1" certs init --dir "$work/certs" --name alice >/dev/null
    wait_port "$haproxy_port"; wait_port "$cluster"; wait_port "$laptop"
  fi
}

# start_chain NAME DIR RULE: from DIR, an agent in front of the cluster origin and a laptop holding
# RULE (`--http-header`) that serves the laptop origin, both with the certificates in $work/certs;
# sets edge_NAME (the agent's edge port), agent_NAME and laptop_NAME (PIDs). Exits 1 when the
# laptop does not register.
start_chain() {
  local name=$1 dir=$2 rule=$3 edge tunnel agent
  edge=$(port); tunnel=$(port)
  "$dir/shunt-agent" --listen 127.0.0.1:"$edge" --app 127.0.0.1:"$cluster" --tunnel-listen 127.0.0.1:"$tunnel" \
    --admin-listen 127.0.0.1:0 --certs "$work/certs" --service orders 2>"$work/$name.log" & agent=$!; pids+=($!)
  wait_port "$edge"; wait_port "$tunnel"
  "$dir/shunt" intercept orders --port "$laptop" --http-header "$rule" --agent 127.0.0.1:"$tunnel" --certs "$work/certs" \
    --output json >/dev/null 2>&1 & pids+=($!)
  for _ in $(seq 100); do grep -q registered "$work/$name.log" && break; sleep 0.1; done
  grep -q registered "$work/$name.log" || { echo "${0##*/}: the laptop of $name did not register" >&2; exit 1; }
  printf -v "edge_$name" '%s' "$edge"; printf -v "agent_$name" '%s' "$agent"; printf -v "laptop_$name" '%s' "$!"
}

# cpu_ticks PID...: the CPU time (user + system) the processes have used so far, in clock ticks.
cpu_ticks() { local total=0 pid; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }

# measure_wrk NAME PORT PID...: one `wrk -t1 -c50 -d${seconds}s` run against 127.0.0.1:PORT with the
# options in the array `header` (may be empty); appends "NAME requests/s p99_ms cpu_µs_per_request
# non2xx" to $work/results.txt, the CPU being that of the PIDs, and prints the line.
measure_wrk() {
  local name=$1 port=$2 before after
  shift 2
  before=$(cpu_ticks "$@")
  wrk -t1 -c50 -d"${seconds}"s --latency "${header[@]}" "http://127.0.0.1:$port/" > "$work/last.txt"
  after=$(cpu_ticks "$@")
  python3 - "$work/last.txt" "$name" "$((after - before))" "$(getconf CLK_TCK)" >> "$work/results.txt" <<'PY'
import re, sys
text, name, ticks, hz = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
requests = int(re.search(r"(\d+) requests in", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(name, "%.0f" % rps, "%.2f" % p99, "%.1f" % (ticks * 1e6 / hz / max(requests, 1)), errors.group(1) if errors else "0")
PY
  tail -1 "$work/results.txt" | awk '{ printf "  %-12s %8s req/s  p99 %6s ms  %6s µs/req  non-2xx %s\n", $1, $2, $3, $4, $5 }'
}

# summarize_rounds FIRST SECOND: from $work/results.txt, written by measure_wrk in rounds of three
# runs (haproxy, FIRST and SECOND, in any order), the medians over rounds of FIRST and SECOND against
# haproxy and of SECOND against FIRST (requests/s, CPU per request, p99), how many rounds SECOND
# was ahead, and the non-2xx responses of each.
summarize_rounds() {
  python3 - "$work/results.txt" "$1" "$2" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
first, second = sys.argv[2], sys.argv[3]
rounds = [rows[i:i + 3] for i in range(0, len(rows), 3)]
def of(rnd, name): return next(r for r in rnd if r[0] == name)
def ratios(name, base):
    return [statistics.median([float(of(r, name)[k]) / float(of(r, base)[k]) for r in rounds]) for k in (1, 3, 2)]
for name in (first, second):
    print("%s / haproxy: requests/s %.2f×, CPU per request %.2f×, p99 %.2f× (medians over rounds)" % (name, *ratios(name, "haproxy")))
print("%s / %s: requests/s %.2f×, CPU per request %.2f×, p99 %.2f×; %s ahead in %d of %d rounds" % (
    second, first, *ratios(second, first), second, sum(float(of(r, second)[1]) > float(of(r, first)[1]) for r in rounds), len(rounds)))
print("non-2xx responses: %s %d, %s %d" % (
    first, sum(int(r[4]) for r in rows if r[0] == first), second, sum(int(r[4]) for r in rows if r[0] == second)))
PY
}

# cpu_ticks PID...: user + system clock ticks of the processes so far (/proc/PID/stat).
cpu_ticks() { local total=0 pid; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }

# context_switches PID...: voluntary and involuntary context switches of all their threads so far.
context_switches() {
  local pid
  for pid in "$@"; do cat /proc/"$pid"/task/*/status; done | awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}
