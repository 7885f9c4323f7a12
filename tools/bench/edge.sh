#!/usr/bin/env bash
# The agent's edge against haproxy and nginx routing the same header rule, in one run (wrk -t1 -c50):
#   - pass-through: requests without the header, which go to the in-cluster origin, with 1 and 10
#     intercepts active on the agent;
#   - intercepted: requests with the header, end to end through the tunnel to a laptop (`shunt
#     intercept` forwarding to a local origin), against haproxy routing them to that origin directly.
# Origins are nginx `return 200` servers. Prints requests/s, p99 and CPU per request, and Shunt's ratios.
#   tools/bench/edge.sh [SECONDS]      (default 10)
# Needs: nginx-light haproxy wrk (apt-get install -y nginx-light haproxy wrk). Builds release binaries
# unless SHUNT_BIN and SHUNT_AGENT_BIN are set.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
for tool in nginx haproxy wrk python3; do
  command -v "$tool" >/dev/null || { echo "edge.sh: $tool is missing (apt-get install -y nginx-light haproxy wrk)" >&2; exit 2; }
done
. tools/bench/common.sh
bench_binaries agent
# measure URL HEADER PID... -> "requests/s p99_ms non2xx cpu_us_per_request": the CPU is what the
# given processes used for the run, divided by the requests wrk counted (less sensitive to the
# machine's load than requests/s: on 2 cores, wrk and the origin share the CPU with the proxy).
measure() {
  local url=$1 header=$2 out before after
  shift 2
  before=$(cpu_ticks "$@")
  if [ -n "$header" ]; then out=$(wrk -t1 -c50 -d"${seconds}"s --latency -H "$header" "$url"); else out=$(wrk -t1 -c50 -d"${seconds}"s --latency "$url"); fi
  after=$(cpu_ticks "$@")
  echo "$out" > "$work/last.txt"
  python3 - "$work/last.txt" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
requests = int(re.search(r"(\d+) requests in", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print("%.0f %.2f %s %.1f" % (rps, p99, errors.group(1) if errors else "0", ticks * 1e6 / hz / max(requests, 1)))
PY
}

start_peers

"$SHUNT_BIN" certs init --dir "$work/certs" --name alice >/dev/null
edge=$(port); tunnel=$(port)
"$SHUNT_AGENT_BIN" --listen 127.0.0.1:"$edge" --app 127.0.0.1:"$cluster" --tunnel-listen 127.0.0.1:"$tunnel" --admin-listen 127.0.0.1:0 --certs "$work/certs" \
  --service orders 2>"$work/agent.log" & agent_pid=$!; pids+=($!)
wait_port "$cluster"; wait_port "$laptop"; wait_port "$haproxy_port"; wait_port "$edge"; wait_port "$tunnel"
"$SHUNT_BIN" intercept orders --port "$laptop" --http-header x-dev=alice --agent 127.0.0.1:"$tunnel" --certs "$work/certs" \
  --output json > "$work/intercept.log" 2>&1 & laptop_pid=$!; pids+=($!)
for _ in $(seq 100); do grep -q "alice" "$work/agent.log" && grep -q "registered" "$work/agent.log" && break; sleep 0.1; done

read -r h_rps h_p99 _ h_cpu < <(measure "http://127.0.0.1:$haproxy_port/" "" "$haproxy_pid")
read -r n_rps n_p99 _ _ < <(measure "http://127.0.0.1:$nginx_proxy/" "")
read -r s1_rps s1_p99 s1_err s1_cpu < <(measure "http://127.0.0.1:$edge/" "" "$agent_pid")
# nine more developers' intercepts: 10 rules active
for i in $(seq 1 9); do
  "$SHUNT_BIN" intercept orders --name "orders-dev$i" --port "$laptop" --http-header "x-dev=dev$i" --agent 127.0.0.1:"$tunnel" \
    --certs "$work/certs" >/dev/null 2>&1 & pids+=($!)
done
for _ in $(seq 100); do [ "$(grep -c registered "$work/agent.log")" -ge 10 ] && break; sleep 0.1; done
read -r s10_rps s10_p99 s10_err s10_cpu < <(measure "http://127.0.0.1:$edge/" "" "$agent_pid")
read -r hi_rps hi_p99 _ hi_cpu < <(measure "http://127.0.0.1:$haproxy_port/" "X-Dev: alice" "$haproxy_pid")
read -r si_rps si_p99 si_err si_cpu < <(measure "http://127.0.0.1:$edge/" "X-Dev: alice" "$agent_pid" "$laptop_pid")

echo "wrk -t1 -c50 -d${seconds}s, requests/s, p99 (ms), and the proxy's CPU per request (µs; Shunt intercepted: agent + laptop):"
printf "  %-44s %8s %8s %7s µs\n" "haproxy, header rule → origin" "$h_rps" "$h_p99" "$h_cpu"
printf "  %-44s %8s %8s\n" "nginx proxy, header rule → origin" "$n_rps" "$n_p99"
printf "  %-44s %8s %8s %7s µs  (non-2xx: %s)\n" "shunt-agent pass-through, 1 intercept" "$s1_rps" "$s1_p99" "$s1_cpu" "$s1_err"
printf "  %-44s %8s %8s %7s µs  (non-2xx: %s)\n" "shunt-agent pass-through, 10 intercepts" "$s10_rps" "$s10_p99" "$s10_cpu" "$s10_err"
printf "  %-44s %8s %8s %7s µs\n" "haproxy → laptop origin (X-Dev: alice)" "$hi_rps" "$hi_p99" "$hi_cpu"
printf "  %-44s %8s %8s %7s µs  (non-2xx: %s)\n" "shunt intercepted, agent → tunnel → laptop" "$si_rps" "$si_p99" "$si_cpu" "$si_err"
python3 -c "print('  pass-through / haproxy: %.2f (1 rule), %.2f (10 rules); p99 %.2f / %.2f ms; CPU per request %.2fx haproxy' % ($s1_rps/$h_rps, $s10_rps/$h_rps, $s1_p99, $h_p99, $s1_cpu/$h_cpu))"
python3 -c "print('  intercepted / haproxy direct: %.2f; p99 %.2f / %.2f ms; CPU per request %.2fx haproxy' % ($si_rps/$hi_rps, $si_p99, $hi_p99, $si_cpu/$hi_cpu))"
