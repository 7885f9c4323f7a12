#!/usr/bin/env bash
# Builds the shunt-agent image here, offline, with buildah: FROM scratch, the release binary
# (Swift runtime linked in statically, stripped), exactly the shared libraries `ldd` lists and the
# dynamic loader, /etc/passwd and /etc/group with the non-root user 65532. Writes an OCI archive.
# deploy/Containerfile makes the same image where a container engine and the network exist.
#
#   tools/build-image.sh [ARCHIVE]     default ARCHIVE: .build/shunt-agent.oci.tar
#   SHUNT_IMAGE=NAME:TAG               default: localhost/shunt-agent:latest
#
# Needs buildah (Debian: apt-get install -y buildah); storage is vfs and runs are chroot-isolated,
# so that it works as root in a container without overlay or user namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
archive=${1:-.build/shunt-agent.oci.tar}
image=${SHUNT_IMAGE:-localhost/shunt-agent:latest}
buildah=(buildah --storage-driver vfs)
command -v buildah >/dev/null || { echo "tools/build-image.sh: needs buildah (apt-get install -y buildah)" >&2; exit 3; }

. tools/release-flags.sh
echo "== swift build -c release --static-swift-stdlib ${shunt_release_flags[*]} --product shunt-agent"
start=$SECONDS
swift build -c release --static-swift-stdlib "${shunt_release_flags[@]}" --product shunt-agent 2>&1 | grep -E "error|warning:|Compiling shunt_agent|complete" || true
binary="$(swift build -c release --show-bin-path)/shunt-agent"
[ -x "$binary" ] || { echo "tools/build-image.sh: $binary was not built" >&2; exit 1; }
echo "   $((SECONDS - start)) s"

root=$(mktemp -d)
container=""
cleanup() {
  [ -n "$container" ] && "${buildah[@]}" rm "$container" >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT

install -D -m 0755 "$binary" "$root/usr/local/bin/shunt-agent"
strip "$root/usr/local/bin/shunt-agent"
# Each library at the path ldd resolved it to (the loader finds them there), as the file itself.
ldd "$binary" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | sort -u | while read -r library; do
  install -D -m 0755 "$(readlink -f "$library")" "$root$library"
  echo "   + $library"
done
mkdir -p "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nshunt:x:65532:65532:shunt-agent:/nonexistent:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nshunt:x:65532:\n' > "$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"

container=$("${buildah[@]}" from scratch)
"${buildah[@]}" copy "$container" "$root" / >/dev/null
"${buildah[@]}" config \
  --entrypoint '["/usr/local/bin/shunt-agent"]' --cmd '--help' \
  --user 65532:65532 --port 8080 --port 7443 --port 9901 \
  --label org.opencontainers.image.title=shunt-agent \
  --label org.opencontainers.image.description="Shunt's sidecar: routes a service's requests to the app or a developer's laptop" \
  "$container"
"${buildah[@]}" commit --quiet "$container" "$image" >/dev/null
rm -f "$archive"
"${buildah[@]}" push --quiet "$image" "oci-archive:$archive:$image"
echo "== $image: binary $(stat -c %s "$root/usr/local/bin/shunt-agent") bytes (stripped), image files $(du -sb "$root" | cut -f1) bytes, archive $archive $(stat -c %s "$archive") bytes"
