#!/usr/bin/env bash
# Compression on a slow link: fetch a text-heavy response (JSON lines) through a simulated
# 50 Mbit/s link with 10 ms one-way delay (tools/bench/slowlink.py, user space), three ways in one
# run: the stunnel pair (TLS 1.3, no compression), `shunt relay`, and `shunt relay` with the agent
# compressing (--compress, DEFLATE per stream, spec §12). Prints seconds and Shunt's ratios.
#   tools/bench/compress.sh [MEGABYTES] [RATE_BIT_S]      (defaults: 16 MB, 50e6)
# Needs: stunnel4 openssl python3. Builds shunt in release (SHUNT_BIN=path skips that).
set -euo pipefail
cd "$(dirname "$0")/../.."
megabytes=${1:-16}
rate=${2:-50e6}
size=$((megabytes * 1000000))
for tool in stunnel4 openssl python3; do
  command -v "$tool" >/dev/null || { echo "compress.sh: $tool is missing (apt-get install -y stunnel4 openssl)" >&2; exit 2; }
done
. tools/bench/common.sh
bench_binaries
bench=tools/bench

text=$(port)
python3 $bench/textserver.py serve "$text" "$size" & pids+=($!)
expected=$(python3 $bench/textserver.py digest "$size")
wait_port "$text"

# stunnel pair, its TLS hop through the slow link
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 3 -subj /CN=localhost >/dev/null 2>&1
st_tls=$(port); st_link=$(port); st_plain=$(port)
printf 'foreground = yes\npid =\n[t]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\nsslVersionMin = TLSv1.3\n' \
  "$st_tls" "$text" "$work/cert.pem" "$work/key.pem" > "$work/st-server.conf"
printf 'foreground = yes\npid =\n[t]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nsslVersionMin = TLSv1.3\n' \
  "$st_plain" "$st_link" > "$work/st-client.conf"
stunnel4 "$work/st-server.conf" >/dev/null 2>&1 & pids+=($!)
stunnel4 "$work/st-client.conf" >/dev/null 2>&1 & pids+=($!)
python3 $bench/slowlink.py "$st_link" "$st_tls" --rate "$rate" & pids+=($!)

# shunt relay pairs, plain and compressing, each session through its own slow link
"$SHUNT_BIN" certs init --dir "$work/certs" --name bench >/dev/null
start_shunt() {  # NAME AGENT_FLAGS... ; sets $plain_port
  local agent link plain
  agent=$(port); link=$(port); plain=$(port)
  "$SHUNT_BIN" relay agent --certs "$work/certs" --listen 127.0.0.1:"$agent" --to 127.0.0.1:"$text" "${@:2}" 2>"$work/$1-agent.log" & pids+=($!)
  python3 $bench/slowlink.py "$link" "$agent" --rate "$rate" & pids+=($!)
  wait_port "$agent"; wait_port "$link"
  "$SHUNT_BIN" relay client --certs "$work/certs" --agent 127.0.0.1:"$link" --listen 127.0.0.1:"$plain" 2>"$work/$1-client.log" & pids+=($!)
  wait_port "$plain"
  plain_port=$plain
}
start_shunt plain; sh_plain=$plain_port
start_shunt deflate --compress; sh_deflate=$plain_port
wait_port "$st_plain"

fetch() {  # PORT NAME -> seconds, checking the content
  read -r seconds octets digest < <(python3 $bench/textserver.py fetch "$1")
  [ "$octets" = "$size" ] && [ "$digest" = "$expected" ] || { echo "compress.sh: $2 delivered $octets octets, digest $digest" >&2; exit 1; }
  echo "$seconds"
}
st=$(fetch "$st_plain" stunnel); sp=$(fetch "$sh_plain" shunt); sd=$(fetch "$sh_deflate" "shunt --compress")
echo "fetch $megabytes MB of JSON lines over a $(python3 -c "print('%g' % ($rate/1e6))") Mbit/s link (10 ms each way), seconds:"
echo "  stunnel pair            $st"
echo "  shunt relay             $sp"
echo "  shunt relay --compress  $sd"
python3 -c "print('  stunnel / shunt --compress  %.2fx faster' % ($st / $sd)); print('  shunt / shunt --compress    %.2fx faster' % ($sp / $sd)); print('  stunnel / shunt (plain)     %.2f' % ($st / $sp))"
