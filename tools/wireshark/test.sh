#!/usr/bin/env bash
# Captures a real Shunt session on loopback with a TLS key log, then checks that tshark with
# tools/wireshark/shunt.lua lists the expected frames, and that `shunt-wire decode --from-tshark`
# decodes tshark's "follow" transcript of the same session without a malformation.
# Needs tshark and the right to capture on lo (root, or the wireshark group); skipped without tshark.
# Uses the binaries already built (swift build); every port is ephemeral.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v tshark >/dev/null; then
  echo "tools/wireshark/test.sh: tshark is not installed; skipped"
  exit 0
fi
bin=$(swift build --show-bin-path)
for tool in shunt shunt-wire; do
  [ -x "$bin/$tool" ] || { echo "tools/wireshark/test.sh: $bin/$tool is missing (swift build first)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "tools/wireshark/test.sh: $*" >&2
  for log in "$work"/*.log; do echo "--- $log"; tail -20 "$log"; done >&2
  exit 1
}
# Waits up to 10 s for a line matching $2 in file $1 and prints it.
wait_for() {
  for _ in $(seq 100); do
    if line=$(grep -m1 -E "$2" "$1" 2>/dev/null); then echo "$line"; return 0; fi
    sleep 0.1
  done
  return 1
}

"$bin/shunt" certs init --certs "$work/certs" --name wire-test >/dev/null

# An echo server for the relayed stream.
python3 -u -c '
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen()
print("port", s.getsockname()[1], flush=True)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.shutdown(socket.SHUT_WR); c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
' > "$work/echo.log" 2>&1 &
pids+=($!)
echo_port=$(wait_for "$work/echo.log" '^port ' | cut -d' ' -f2) || fail "the echo server did not start"

# The agent side, writing the key log (the key log of either end decrypts the session).
SSLKEYLOGFILE="$work/keys.txt" "$bin/shunt" relay agent --certs "$work/certs" --listen 127.0.0.1:0 --to "127.0.0.1:$echo_port" \
  > "$work/agent.log" 2>&1 &
pids+=($!)
port=$(wait_for "$work/agent.log" 'listening on' | sed -E 's/.*:([0-9]+), streams.*/\1/') || fail "the relay agent did not start"

# A UDP socket that nothing else uses, whose own datagrams tell when tshark really captures.
python3 -u -c '
import socket, time
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0))
print("port", r.getsockname()[1], flush=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(600):  # 30 s: longer than the two waits below together
    s.sendto(b"capture probe", r.getsockname()); time.sleep(0.05)
' > "$work/probe.log" 2>&1 &
probe_pid=$!
pids+=($probe_pid)
probe_port=$(wait_for "$work/probe.log" '^port ' | cut -d' ' -f2) || fail "the capture probe did not start"

# -P -l: a line per packet captured, at once, beside the capture file. "Capturing on" can come a moment
# before packets are really captured (a loaded CI run once missed the first session's handshake, so
# none of its frames could be decrypted): the first session waits until a probe datagram shows up.
tshark -i lo -f "tcp port $port or udp port $probe_port" -P -l -w "$work/capture.pcapng" > "$work/tshark.log" 2>&1 &
tshark_pid=$!
pids+=($tshark_pid)
wait_for "$work/tshark.log" 'Capturing on' >/dev/null || fail "tshark did not start capturing (root or the wireshark group is needed)"
wait_for "$work/tshark.log" "UDP.* $probe_port " >/dev/null || fail "tshark printed no probe datagram to udp port $probe_port"
kill "$probe_pid" 2>/dev/null || true

# A session with a TCP stream: STREAM_OPEN, DATA both ways, FIN, WINDOW_UPDATE if any.
"$bin/shunt" relay client --certs "$work/certs" --agent "127.0.0.1:$port" --listen 127.0.0.1:0 > "$work/client.log" 2>&1 &
client_pid=$!
pids+=($client_pid)
client_port=$(wait_for "$work/client.log" '→ session' | sed -E 's/^shunt relay client: [^ ]*:([0-9]+) →.*/\1/') || fail "the relay client did not connect"
echoed=$(python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
c.sendall(b"hello through shunt"); c.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = c.recv(65536)
    if not d: break
    data += d
print(data.decode())
' "$client_port")
[ "$echoed" = "hello through shunt" ] || fail "the relayed stream echoed \"$echoed\""

# A second session: HELLO, PINGs and their ACKs, GOAWAY.
"$bin/shunt-wire" ping --agent "127.0.0.1:$port" --certs "$work/certs" --count 3 --interval 0.05 > "$work/ping.log" 2>&1 \
  || fail "shunt-wire ping failed"
# A third session, when openssl is there: crafted frames, one of them malformed, which the agent
# answers with GOAWAY PROTOCOL_ERROR. openssl writes its own key log.
crafted=no
if command -v openssl >/dev/null; then
  crafted=yes
  printf '%s\n' PREFACE 'HELLO SETTING(0x8001)=5' 'EXTENSION(0x80) flags=0x03 payload="ext"' 'MAX_STREAMS maximum=200' \
      'WINDOW_UPDATE stream=0 increment=0' | "$bin/shunt-wire" encode \
    | timeout 10 openssl s_client -connect "127.0.0.1:$port" -alpn shunt/1 -cert "$work/certs/client.pem" \
        -key "$work/certs/client-key.pem" -CAfile "$work/certs/ca.pem" -nocommands -quiet -keylogfile "$work/openssl-keys.txt" \
        > "$work/crafted-reply.bin" 2> "$work/openssl.log" || true
  cat "$work/openssl-keys.txt" >> "$work/keys.txt"
fi
kill "$client_pid"
sleep 0.5
kill -INT "$tshark_pid"
wait "$tshark_pid" 2>/dev/null || true

# The dissector is found by ALPN (shunt/1); the port preference keeps its default (7443), unused here.
tshark -r "$work/capture.pcapng" -o "tls.keylog_file:$work/keys.txt" -X "lua_script:tools/wireshark/shunt.lua" \
  -Y shunt -T fields -e tcp.srcport -e _ws.col.Info > "$work/dissected.txt" 2> "$work/dissect.log" || fail "tshark could not read the capture"
expect() {
  grep -qE "$1" "$work/dissected.txt" || { cat "$work/dissected.txt" >&2; fail "no frame matching /$1/ in tshark's dissection"; }
}
expect 'PREFACE'
expect 'HELLO v1\.\.1 COMPRESSION=1'
expect 'HELLO v1\.\.1 INITIAL_MAX_STREAMS=1000 COMPRESSION=1'
expect 'STREAM_OPEN s=1 TCP'
# The data and its FIN leave in one frame when they are written in the same event-loop pass, in two otherwise.
expect 'DATA s=1 (\[FIN\] )?len=19'
expect 'DATA s=1 \[FIN\] len=(0|19)'
expect 'PING [0-9a-f]{16}'
expect 'PING \[ACK\] [0-9a-f]{16}'
expect 'GOAWAY last=0 NO_ERROR "shunt-wire ping done"'
if [ "$crafted" = yes ]; then
  expect 'EXTENSION\(0x80\) s=0, MAX_STREAMS 200, WINDOW_UPDATE s=0 \+0 !ZERO_WINDOW_INCREMENT'
  expect 'GOAWAY last=0 PROTOCOL_ERROR "ZERO_WINDOW_INCREMENT at octet'
  [ "$(grep -c '!' "$work/dissected.txt")" = 1 ] || { cat "$work/dissected.txt" >&2; fail "the dissector reported a malformation where there is none"; }
elif grep -q '!' "$work/dissected.txt"; then
  cat "$work/dissected.txt" >&2; fail "the dissector reported a malformation"
fi
frames=$(tr ',' '\n' < "$work/dissected.txt" | grep -cE 'PREFACE|HELLO|STREAM_OPEN|DATA|PING|GOAWAY|WINDOW_UPDATE|RESET|MAX_STREAMS')

# The same session through tshark's "follow" and shunt-wire decode. (tshark 4.0 leaves records out of
# the transcript unless a dissector claims them: the Lua script is loaded here too.)
tshark -r "$work/capture.pcapng" -o "tls.keylog_file:$work/keys.txt" -X "lua_script:tools/wireshark/shunt.lua" -q -z follow,tls,raw,0 > "$work/follow.txt" 2>/dev/null
"$bin/shunt-wire" decode --from-tshark "$work/follow.txt" > "$work/decoded.txt" || { cat "$work/decoded.txt" >&2; fail "shunt-wire decode found a malformation in tshark's transcript"; }
for line in '^@0 > PREFACE' '^@0 < PREFACE' '^@8 > HELLO' '^@8 < HELLO' '> STREAM_OPEN stream=1 flags=0 length=1 kind=TCP' '> DATA stream=1 flags=(0|FIN) length=19 data="hello through shunt"'; do
  grep -qE "$line" "$work/decoded.txt" || { cat "$work/decoded.txt" >&2; fail "no line matching /$line/ in shunt-wire decode's output"; }
done
echo "tools/wireshark/test.sh: tshark dissected $frames Shunt frames in $([ "$crafted" = yes ] && echo 3 || echo 2) sessions; shunt-wire decode read tshark's transcript ($(wc -l < "$work/decoded.txt") records)"
