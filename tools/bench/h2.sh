#!/usr/bin/env bash
# The HTTP/2 edge under h2load, as a ratio to h2load against the app directly, in one run:
#   - direct: h2load -> app (nghttpd, h2c);
#   - not matched: h2load -> shunt-agent's edge -> app, one intercept active;
#   - matched: h2load with the developer's header -> edge -> tunnel -> `shunt intercept` -> a local
#     nghttpd, against h2load -> that local nghttpd directly;
#   - the peer: haproxy (one thread) proxying h2c to the same app (`proto h2` both sides), so that
#     the not-matched path has a proxy to be compared with, not only the origin.
# h2load -c10 -m10 (10 connections, 10 concurrent streams each), GET of a 1 KiB file.
#   tools/bench/h2.sh [REQUESTS]       (default 100000)
# Needs: nghttp2-client nghttp2-server haproxy (apt-get install -y nghttp2-client nghttp2-server haproxy). Builds
# release binaries unless SHUNT_BIN and SHUNT_AGENT_BIN are set.
set -euo pipefail
cd "$(dirname "$0")/../.."
requests=${1:-100000}
for tool in h2load nghttpd haproxy python3; do
  command -v "$tool" >/dev/null || { echo "h2.sh: $tool is missing (apt-get install -y nghttp2-client nghttp2-server haproxy)" >&2; exit 2; }
done
. tools/bench/common.sh
bench_binaries agent
# h2load URL [HEADER] -> "requests/s failed"
measure() {
  local out
  if [ -n "${2:-}" ]; then out=$(h2load -n"$requests" -c10 -m10 -H "$2" "$1"); else out=$(h2load -n"$requests" -c10 -m10 "$1"); fi
  echo "$out" > "$work/last.txt"
  python3 - "$work/last.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", text).group(1))
failed = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed", text).group(1)
print("%.0f %s" % (rps, failed))
PY
}

mkdir -p "$work/www"
head -c 1024 /dev/zero | tr '\0' 'x' > "$work/www/file"
app=$(port); local_port=$(port); edge=$(port); tunnel=$(port); haproxy_port=$(port)
cat > "$work/haproxy.cfg" <<CFG
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$haproxy_port proto h2
    default_backend be
backend be
    server app 127.0.0.1:$app proto h2
CFG
haproxy -f "$work/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!)
nghttpd --no-tls -d "$work/www" "$app" >/dev/null 2>&1 & pids+=($!)
nghttpd --no-tls -d "$work/www" "$local_port" >/dev/null 2>&1 & pids+=($!)
"$SHUNT_BIN" certs init --dir "$work/certs" --name alice >/dev/null
"$SHUNT_AGENT_BIN" --listen 127.0.0.1:"$edge" --app 127.0.0.1:"$app" --tunnel-listen 127.0.0.1:"$tunnel" --admin-listen 127.0.0.1:0 --certs "$work/certs" \
  --service orders 2>"$work/agent.log" & pids+=($!)
wait_port "$app"; wait_port "$local_port"; wait_port "$edge"; wait_port "$tunnel"; wait_port "$haproxy_port"
"$SHUNT_BIN" intercept orders --port "$local_port" --http-header x-dev=alice --agent 127.0.0.1:"$tunnel" --certs "$work/certs" \
  --output json > "$work/intercept.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q "registered" "$work/agent.log" && break; sleep 0.1; done

read -r d_rps d_failed < <(measure "http://127.0.0.1:$app/file")
read -r h_rps h_failed < <(measure "http://127.0.0.1:$haproxy_port/file")
read -r p_rps p_failed < <(measure "http://127.0.0.1:$edge/file")
read -r l_rps l_failed < <(measure "http://127.0.0.1:$local_port/file")
read -r m_rps m_failed < <(measure "http://127.0.0.1:$edge/file" "x-dev: alice")

echo "h2load -n$requests -c10 -m10, requests/s (failed):"
printf "  %-36s %8s (%s)\n" "app directly" "$d_rps" "$d_failed"
printf "  %-36s %8s (%s)   ratio %.2f\n" "haproxy h2c -> app" "$h_rps" "$h_failed" "$(python3 -c "print($h_rps/$d_rps)")"
printf "  %-36s %8s (%s)   ratio %.2f (to haproxy %.2f)\n" "edge, not matched -> app" "$p_rps" "$p_failed" "$(python3 -c "print($p_rps/$d_rps)")" "$(python3 -c "print($p_rps/$h_rps)")"
printf "  %-36s %8s (%s)\n" "laptop's service directly" "$l_rps" "$l_failed"
printf "  %-36s %8s (%s)   ratio %.2f\n" "edge, matched -> tunnel -> laptop" "$m_rps" "$m_failed" "$(python3 -c "print($m_rps/$l_rps)")"
