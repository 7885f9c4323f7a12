#!/usr/bin/env bash
# Bulk throughput of one TCP stream through a TLS tunnel pair on loopback, Shunt against its peers,
# all in one run: iperf3 direct, socat (plain relay), the stunnel pair (TLS 1.3), and `shunt relay`
# (TCP in -> Shunt session over mutual TLS 1.3 -> TCP out), and ssh -L when sshd is installed.
# Prints Gbit/s (and CPU seconds per GB for the stunnel and Shunt pairs) and Shunt's ratios to stunnel and ssh.
#   tools/bench/relay.sh [SECONDS] [PARALLEL]      (defaults: 10 s, 1 stream)
# Needs: iperf3 stunnel4 socat openssl (apt-get install -y iperf3 stunnel4 socat openssl).
# Builds shunt in release (SHUNT_BIN=path skips that).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
parallel=${2:-1}
for tool in iperf3 stunnel4 socat openssl python3; do
  command -v "$tool" >/dev/null || { echo "relay.sh: $tool is missing (apt-get install -y iperf3 stunnel4 socat openssl)" >&2; exit 2; }
done
. tools/bench/common.sh
bench_binaries

# measure PORT [PID...] -> "Gbit/s CPU-seconds-per-GB": the CPU the given processes (the relay pair)
# used for the run, per GB carried; "-" without PIDs. Less sensitive to the machine's load than
# Gbit/s, since iperf3 shares the 2 cores with the relays.
measure() {
  local port=$1 before after
  shift
  before=$(cpu_ticks "$@")
  iperf3 -c 127.0.0.1 -p "$port" -t "$seconds" -P "$parallel" -J > "$work/iperf.json"
  after=$(cpu_ticks "$@")
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))["end"]["sum_received"]
ticks, hz, pids = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print("%.2f %s" % (d["bits_per_second"] / 1e9, "%.2f" % (ticks / hz / (d["bytes"] / 1e9)) if pids else "-"))' "$work/iperf.json" "$((after - before))" "$(getconf CLK_TCK)" "$#"
}

iperf_port=$(port)
iperf3 -s -B 127.0.0.1 -p "$iperf_port" >/dev/null 2>&1 & pids+=($!)
wait_port "$iperf_port"

# socat: a plain relay
socat_port=$(port)
socat TCP-LISTEN:"$socat_port",bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:"$iperf_port" & pids+=($!)

# stunnel pair (the shared peer configuration, on fresh ports)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 3 -subj /CN=localhost >/dev/null 2>&1
st_tls=$(port); st_plain=$(port)
cat > "$work/stunnel-server.conf" <<CONF
foreground = yes
pid =
[tunnel]
accept = 127.0.0.1:$st_tls
connect = 127.0.0.1:$iperf_port
cert = $work/cert.pem
key = $work/key.pem
sslVersionMin = TLSv1.3
CONF
cat > "$work/stunnel-client.conf" <<CONF
foreground = yes
pid =
[tunnel]
client = yes
accept = 127.0.0.1:$st_plain
connect = 127.0.0.1:$st_tls
sslVersionMin = TLSv1.3
CONF
stunnel4 "$work/stunnel-server.conf" >/dev/null 2>&1 & stunnel_pids=($!); pids+=($!)
stunnel4 "$work/stunnel-client.conf" >/dev/null 2>&1 & stunnel_pids+=($!); pids+=($!)

# ssh -L: a private sshd on a fresh port (root only: sshd needs its privilege-separation setup)
ssh_plain=""
if command -v sshd >/dev/null && command -v ssh >/dev/null && [ "$(id -u)" = 0 ]; then
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N "" -f "$work/host_key"
  ssh-keygen -q -t ed25519 -N "" -f "$work/user_key"
  cp "$work/user_key.pub" "$work/authorized_keys"
  sshd_port=$(port); ssh_plain=$(port)
  cat > "$work/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $sshd_port
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
AllowTcpForwarding yes
PidFile none
CONF
  "$(command -v sshd)" -D -e -f "$work/sshd_config" 2>"$work/sshd.log" & pids+=($!)
  wait_port "$sshd_port"
  ssh -N -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ExitOnForwardFailure=yes -i "$work/user_key" \
    -p "$sshd_port" -L 127.0.0.1:"$ssh_plain":127.0.0.1:"$iperf_port" root@127.0.0.1 2>"$work/ssh.log" & pids+=($!)
fi

# shunt relay pair
"$SHUNT_BIN" certs init --dir "$work/certs" --name bench >/dev/null
sh_agent=$(port); sh_plain=$(port)
"$SHUNT_BIN" relay agent --certs "$work/certs" --listen 127.0.0.1:"$sh_agent" --to 127.0.0.1:"$iperf_port" 2>"$work/agent.log" & shunt_pids=($!); pids+=($!)
wait_port "$sh_agent"
"$SHUNT_BIN" relay client --certs "$work/certs" --agent 127.0.0.1:"$sh_agent" --listen 127.0.0.1:"$sh_plain" 2>"$work/client.log" & shunt_pids+=($!); pids+=($!)
wait_port "$socat_port"; wait_port "$st_plain"; wait_port "$sh_plain"

read -r direct _ < <(measure "$iperf_port")
read -r socat_rate _ < <(measure "$socat_port")
read -r stunnel_rate stunnel_cpu < <(measure "$st_plain" "${stunnel_pids[@]}")
read -r shunt_rate shunt_cpu < <(measure "$sh_plain" "${shunt_pids[@]}")
ssh_rate=""
if [ -n "$ssh_plain" ]; then wait_port "$ssh_plain"; read -r ssh_rate _ < <(measure "$ssh_plain"); fi
echo "iperf3, $seconds s, $parallel stream(s), Gbit/s received:"
echo "  direct            $direct"
echo "  socat relay       $socat_rate"
echo "  stunnel pair      $stunnel_rate   ($stunnel_cpu CPU-s per GB, both ends)"
echo "  shunt relay       $shunt_rate   ($shunt_cpu CPU-s per GB, both ends)"
if [ -n "$ssh_rate" ]; then echo "  ssh -L            $ssh_rate"; fi
python3 -c "print('  shunt / stunnel   %.2f   (CPU per GB %.2fx stunnel)' % ($shunt_rate / $stunnel_rate, $shunt_cpu / $stunnel_cpu))"
if [ -n "$ssh_rate" ]; then python3 -c "print('  shunt / ssh -L    %.2f' % ($shunt_rate / $ssh_rate))"; fi
