#!/usr/bin/env bash
# What two proxies with TLS between them do on this machine, built from the peers alone: the shape of
# Shunt's intercepted chain, with a haproxy in the agent's place and another in the laptop's.
#   haproxy:      wrk → haproxy (header rule) → nginx                        (issue 5's yardstick)
#   peer chain:   wrk → haproxy (header rule, TLS to its server, connections kept)
#                     → haproxy (TLS off, mode http) → nginx                 (two proxies, TLS between)
#   intercepted:  wrk → agent → tunnel → `shunt intercept` → nginx            (Shunt, from DIR)
# Four busy processes in each of the last two, three in the first. In alternating rounds (wrk -t1 -c50
# each, the X-Dev: alice header on all); prints each round and the medians of each against haproxy,
# with CPU per request of the proxies (haproxy; both haproxies; agent + laptop).
# The peer chain is neither a ceiling nor a floor for Shunt: its TLS hop carries a connection per
# request in flight (with H2=1, HTTP/2 on the kept connections, most streams on a few of them),
# where Shunt multiplexes every request on one tunnel, and it keeps no request log. It tells how much
# of the distance to haproxy the shape costs (a second proxy, a TLS hop, a fourth busy process on
# the machine's cores) on the machine at hand.
# H2=1: the peer chain's TLS hop carries HTTP/2 (ALPN h2), its requests multiplexed.
#   tools/bench/shape.sh DIR [SECONDS] [ROUNDS]   (DIR holds shunt and shunt-agent; default 4 s, 8 rounds)
# Needs: nginx-light haproxy wrk openssl (apt-get install -y nginx-light haproxy wrk openssl).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?DIR holding shunt and shunt-agent}; seconds=${2:-4}; rounds=${3:-8}
for tool in nginx haproxy wrk openssl python3; do
  command -v "$tool" >/dev/null || { echo "shape.sh: $tool is missing (apt-get install -y nginx-light haproxy wrk openssl)" >&2; exit 2; }
done
[ -x "$dir/shunt" ] && [ -x "$dir/shunt-agent" ] || { echo "shape.sh: $dir has no shunt and shunt-agent" >&2; exit 2; }
. tools/bench/common.sh

start_peers "$dir/shunt"
start_chain S "$dir" x-dev=alice

# The peer chain: a second haproxy in the laptop's place takes TLS off and sends each request to the
# laptop origin (mode http: it reads every head, as the laptop does); the first sends the rule's
# requests to it over TLS, keeping its server connections (http-reuse always).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 3 -subj /CN=localhost >/dev/null 2>&1
cat "$work/cert.pem" "$work/key.pem" > "$work/bundle.pem"
tls=$(port); front=$(port)
# haproxy_config BIND SERVER: one thread, the header rule, the rule's requests to SERVER.
haproxy_config() {
  cat <<EOF
global
  maxconn 4000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind $1
  acl is_alice req.hdr(x-dev) -m str alice
  use_backend laptop if is_alice
  default_backend cluster
backend cluster
  server s1 127.0.0.1:$cluster
backend laptop
  server s2 $2
EOF
}
# H2=1: the hop between them is HTTP/2 (ALPN h2), the requests multiplexed on the kept TLS connections
# as Shunt's are on its one tunnel; without it, one HTTP/1.1 connection per request in flight.
alpn=""; [ "${H2:-0}" = 1 ] && alpn=" alpn h2"
haproxy_config "127.0.0.1:$tls ssl crt $work/bundle.pem$alpn" "127.0.0.1:$laptop" > "$work/haproxy-laptop.cfg"
haproxy_config "127.0.0.1:$front" "127.0.0.1:$tls ssl verify none$alpn" > "$work/haproxy-agent.cfg"
haproxy -f "$work/haproxy-laptop.cfg" -db >/dev/null 2>&1 & far_pid=$!; pids+=($!)
haproxy -f "$work/haproxy-agent.cfg" -db >/dev/null 2>&1 & front_pid=$!; pids+=($!)
wait_port "$tls"; wait_port "$front"

header=(-H "X-Dev: alice")
# Each chain warmed once (TLS handshakes, kept connections, the pool) before the rounds.
wrk -t1 -c50 -d1s "${header[@]}" "http://127.0.0.1:$front/" >/dev/null
# shellcheck disable=SC2154  # edge_S, agent_S, laptop_S: set by start_chain
wrk -t1 -c50 -d1s "${header[@]}" "http://127.0.0.1:$edge_S/" >/dev/null
echo "shape.sh (hop: $([ "${H2:-0}" = 1 ] && echo HTTP/2 || echo HTTP/1.1) over TLS): wrk -t1 -c50 -d${seconds}s, $rounds rounds; CPU: haproxy; peer chain: both haproxies; intercepted: agent + laptop ($dir)"
for round in $(seq "$rounds"); do
  echo "round $round"
  measure_wrk haproxy "$haproxy_port" "$haproxy_pid"
  # shellcheck disable=SC2154
  if [ $((round % 2)) = 1 ]; then
    measure_wrk peer-chain "$front" "$front_pid" "$far_pid"; measure_wrk intercepted "$edge_S" "$agent_S" "$laptop_S"
  else
    measure_wrk intercepted "$edge_S" "$agent_S" "$laptop_S"; measure_wrk peer-chain "$front" "$front_pid" "$far_pid"
  fi
done
summarize_rounds peer-chain intercepted
