#!/usr/bin/env bash
# 1 GiB through the agent, each way, with and without an intercept, while the resident memory of
# shunt-agent and of the laptop's `shunt intercept` is sampled every 100 ms. Shows that bodies
# stream: memory stays bounded by the windows and buffers, whatever the body's size.
#   tools/bench/bigbody.sh [MiB]      (default 1024)
# The origins (the app and the laptop's service) are a small Python server: GET /big streams the
# body from one 1 MiB buffer, PUT reads and drops it. Needs: curl python3. Builds release binaries
# unless SHUNT_BIN and SHUNT_AGENT_BIN are set.
set -euo pipefail
cd "$(dirname "$0")/../.."
mib=${1:-1024}
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "bigbody.sh: $tool is missing (apt-get install -y curl python3)" >&2; exit 2; }
done
. tools/bench/common.sh
bench_binaries agent

cat > "$work/origin.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
size = int(sys.argv[2]) << 20
chunk = bytes(1 << 20)
class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        left = size
        while left > 0:
            piece = chunk if left >= len(chunk) else chunk[:left]
            self.wfile.write(piece)
            left -= len(piece)
    def do_PUT(self):
        left = int(self.headers["Content-Length"])
        while left > 0:
            got = self.rfile.read(min(left, 1 << 20))
            if not got: break
            left -= len(got)
        body = b"received\n"
        self.send_response(200 if left == 0 else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Origin).serve_forever()
PY
cluster=$(port); laptop=$(port); edge=$(port); tunnel=$(port)
python3 "$work/origin.py" "$cluster" "$mib" & pids+=($!)
python3 "$work/origin.py" "$laptop" "$mib" & pids+=($!)
truncate -s "${mib}M" "$work/upload.bin"   # sparse: read as zeros, costs no disk
"$SHUNT_BIN" certs init --dir "$work/certs" --name alice >/dev/null
"$SHUNT_AGENT_BIN" --listen 127.0.0.1:"$edge" --app 127.0.0.1:"$cluster" --tunnel-listen 127.0.0.1:"$tunnel" --admin-listen 127.0.0.1:0 \
  --certs "$work/certs" --service orders 2>"$work/agent.log" & agent_pid=$!; pids+=($agent_pid)
wait_port "$cluster"; wait_port "$laptop"; wait_port "$edge"; wait_port "$tunnel"
"$SHUNT_BIN" intercept orders --port "$laptop" --http-header x-dev=alice --agent 127.0.0.1:"$tunnel" --certs "$work/certs" \
  --output json > "$work/intercept.log" 2>&1 & laptop_pid=$!; pids+=($laptop_pid)
for _ in $(seq 100); do grep -q "registered" "$work/agent.log" && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# run NAME CURL-ARGS...: prints MiB/s and the peak RSS of both processes during the transfer.
run() {
  local name=$1; shift
  local peak_agent=0 peak_laptop=0 start end
  start=$(date +%s.%N)
  curl -sSf -o /dev/null "$@" & local curl_pid=$!
  while kill -0 "$curl_pid" 2>/dev/null; do
    a=$(rss "$agent_pid"); l=$(rss "$laptop_pid")
    [ "$a" -gt "$peak_agent" ] && peak_agent=$a
    [ "$l" -gt "$peak_laptop" ] && peak_laptop=$l
    sleep 0.1
  done
  wait "$curl_pid" || { echo "bigbody.sh: $name failed" >&2; exit 1; }
  end=$(date +%s.%N)
  python3 -c "print('  %-38s %7.0f MiB/s   peak RSS: agent %5.1f MiB, laptop %5.1f MiB' % ('$name', $mib/($end-$start), $peak_agent/1024, $peak_laptop/1024))"
}
echo "${mib} MiB bodies through shunt-agent (RSS before: agent $(( $(rss $agent_pid) / 1024 )) MiB, laptop $(( $(rss $laptop_pid) / 1024 )) MiB):"
run "download, pass-through to the app" "http://127.0.0.1:$edge/big"
run "upload, pass-through to the app" -T "$work/upload.bin" "http://127.0.0.1:$edge/upload"
run "download, intercepted (tunnel)" -H "x-dev: alice" "http://127.0.0.1:$edge/big"
run "upload, intercepted (tunnel)" -H "x-dev: alice" -T "$work/upload.bin" "http://127.0.0.1:$edge/upload"
run "download, the origin directly (reference)" "http://127.0.0.1:$laptop/big"
