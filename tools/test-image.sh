#!/usr/bin/env bash
# Starts the image tools/build-image.sh made (from its OCI archive) with `buildah run --isolation
# chroot`, on 127.0.0.1 only: the agent in the image on ephemeral ports, a tiny app (python3
# http.server) beside it, and checks that the agent serves /healthz and /readyz, routes a request
# to the app, and reports the app's environment handed over with --env-prefix to a laptop
# (`shunt intercept --env-file` over mutual TLS). Prints the image's size.
#
#   tools/test-image.sh [ARCHIVE]      default: .build/shunt-agent.oci.tar
set -euo pipefail
cd "$(dirname "$0")/.."
archive=${1:-.build/shunt-agent.oci.tar}
buildah=(buildah --storage-driver vfs)
[ -f "$archive" ] || { echo "tools/test-image.sh: $archive is missing; run tools/build-image.sh" >&2; exit 1; }
shunt="$(swift build --show-bin-path)/shunt"
[ -x "$shunt" ] || swift build --product shunt >/dev/null
work=$(mktemp -d)
container=""
app_pid=""
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
  [ -n "$container" ] && "${buildah[@]}" rm "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "tools/test-image.sh: $*" >&2; echo "-- agent log:" >&2; cat "$work/agent.log" >&2 || true; exit 1; }

# Waits up to 30 s for a line matching $2 in file $1 and prints it.
await_line() {
  for _ in $(seq 300); do
    if line=$(grep -m1 -E "$2" "$1" 2>/dev/null); then echo "$line"; return 0; fi
    sleep 0.1
  done
  return 1
}

# The app: a static file on an ephemeral port of 127.0.0.1.
mkdir -p "$work/app"
echo "hello from the app" > "$work/app/hello.txt"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work/app" > "$work/app.log" 2>&1 &
app_pid=$!
app_port=$(await_line "$work/app.log" "Serving HTTP on" | sed -E 's/.* port ([0-9]+).*/\1/') || fail "the app did not start"

# Certificates from the same CA for the agent and for us.
"$shunt" certs init --certs "$work/certs" --name image-test > /dev/null

image=$("${buildah[@]}" pull --quiet "oci-archive:$archive")
container=$("${buildah[@]}" from --quiet "$image")
"${buildah[@]}" copy --chown 65532:65532 "$container" "$work/certs/ca.pem" "$work/certs/agent.pem" "$work/certs/agent-key.pem" /etc/shunt/certs/ >/dev/null
"${buildah[@]}" config --env SHUNT_APP_GREETING="hello image" "$container"
echo "== image $(du -sb "$("${buildah[@]}" mount "$container")" | cut -f1) bytes unpacked, archive $(stat -c %s "$archive") bytes"
"${buildah[@]}" umount "$container" >/dev/null

# The agent, inside the image, as its non-root user; the network is the host's, on 127.0.0.1.
"${buildah[@]}" run --isolation chroot "$container" -- /usr/local/bin/shunt-agent \
  --listen 127.0.0.1:0 --app "127.0.0.1:$app_port" --tunnel-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --certs /etc/shunt/certs --service orders --env-prefix SHUNT_APP_ > "$work/agent.log" 2>&1 &
agent_pid=$!
# The agent's first log record: `… info listening admin=HOST:PORT edge="HOST:PORT→APP" service=… tunnel=HOST:PORT`.
started=$(await_line "$work/agent.log" " listening .*tunnel=") || fail "the agent did not start"
tunnel=$(echo "$started" | sed -E 's/.* tunnel=[^ :]+:([0-9]+).*/\1/')
admin=$(echo "$started" | sed -E 's/.* admin=[^ :]+:([0-9]+).*/\1/')
edge=$(echo "$started" | sed -E 's/.* edge="?[^ :]+:([0-9]+).*/\1/')
echo "== agent in the image: edge $edge → app $app_port, tunnel $tunnel, admin $admin"

curl -fsS "http://127.0.0.1:$admin/healthz" > "$work/healthz" || fail "/healthz did not answer 200"
curl -fsS "http://127.0.0.1:$admin/readyz" > "$work/readyz" || fail "/readyz did not answer 200"
echo "== /healthz: $(cat "$work/healthz" | tr -d '\n'); /readyz: $(cat "$work/readyz" | tr -d '\n')"
body=$(curl -fsS "http://127.0.0.1:$edge/hello.txt") || fail "the request through the edge failed"
[ "$body" = "hello from the app" ] || fail "the edge answered '$body', not the app's file"
grep -q '"GET /hello.txt HTTP/1.1" 200' "$work/app.log" || fail "the app did not log the request"
echo "== GET /hello.txt through the agent's edge reached the app"

# A laptop over mutual TLS: the app's environment, handed over with --env-prefix, comes back.
"$shunt" intercept orders --agent "127.0.0.1:$tunnel" --certs "$work/certs" --port 9 --env-file "$work/app.env" -- true \
  > "$work/intercept.log" 2>&1 || { cat "$work/intercept.log" >&2; fail "shunt intercept against the agent in the image failed"; }
grep -qx 'GREETING="hello image"' "$work/app.env" \
  || { cat "$work/app.env" >&2; fail "the env file lacks GREETING from SHUNT_APP_GREETING"; }
echo "== shunt intercept over TLS to the agent in the image: env file has GREETING"
echo "tools/test-image.sh: passed"
