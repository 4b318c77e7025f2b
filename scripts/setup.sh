#!/usr/bin/env bash
# Idempotent machine set-up: installs the Debian packages the engine and its tests use
# (only the missing ones, one apt-get update), then makes the busybox:latest fixture and
# loads it where it is missing. Fast when everything is present.
# Usage: setup.sh [--bench]   (root also gets docker.io; --bench or BUILDER_PEERS=1 adds docker.io and buildah)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SCRIPT_DIR")
peers=${BUILDER_PEERS:-0}
for arg in "$@"; do
  case "$arg" in
    --bench) peers=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

# package:command that proves it is there (used when dpkg is unavailable)
wanted=(runc:runc crun:crun busybox-static:busybox skopeo:skopeo umoci:umoci attr:getfattr xz-utils:xz apache2-utils:htpasswd
  bzip2:bzip2 git:git redis-server:redis-server docker-registry:docker-registry
  conmon:conmon golang-github-containers-common:/usr/share/containers/seccomp.json tini:tini-static
  netavark:netavark aardvark-dns:aardvark-dns iptables:iptables e2fsprogs:mkfs.ext4 zstd:zstd
  time:/usr/bin/time socat:socat)
# socat: stdin into monitored containers (conmon's attach socket is SOCK_SEQPACKET, which Node cannot open).
# podman: the run-side bench's podman column (it runs podman with runc; crun, above, is its default runtime).
wanted+=(podman:podman)
# curl + nsenter: the run-side bench polls a --network none container's own loopback from inside its netns.
wanted+=(curl:curl util-linux:nsenter)
# openssl: test/launcher-ca.test.ts makes a private CA for a TLS registry (NODE_EXTRA_CA_CERTS through bin/builder).
wanted+=(openssl:openssl)
# docker.io also when root: test/parity.test.ts builds every test-dockerfiles case with BuildKit as well
# (it starts dockerd itself through scripts/start-dockerd.sh when none is running).
if [ "$peers" = 1 ]; then wanted+=(docker.io:dockerd buildah:buildah)
elif [ "$(id -u)" = 0 ]; then wanted+=(docker.io:dockerd); fi
# tmux: the tty progress tests read a real terminal; chromium: the farm web page tests (headless, playwright-core).
wanted+=(tmux:tmux chromium:chromium)
# gcc + libc6-dev: test/seccomp-abi.test.ts compiles a static syscall probe (native, i386 and x32 ABIs).
wanted+=(gcc:gcc libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a)
# docker-compose (1.29.2) + python3-docker (Docker SDK for Python): test/compose-sdk.test.ts drives the daemon with them.
wanted+=(docker-compose:docker-compose python3-docker:/usr/lib/python3/dist-packages/docker/__init__.py)
# perl makes the overlay mount/umount syscalls (builder/snapshot/mount-syscall.ts); Essential on Debian, listed for other bases.
wanted+=(perl-base:perl)

missing=()
if command -v dpkg-query >/dev/null; then
  # One dpkg-query for all packages keeps the no-op case fast.
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]%%:*}" 2>/dev/null | awk '$2 == "ii" { print $1 }' || true)
  for entry in "${wanted[@]}"; do
    grep -qx "${entry%%:*}" <<<"$installed" || missing+=("$entry")
  done
else
  for entry in "${wanted[@]}"; do
    command -v "${entry#*:}" >/dev/null || [ -e "${entry#*:}" ] || missing+=("$entry")
  done
fi

if [ ${#missing[@]} -gt 0 ]; then
  packages=("${missing[@]%%:*}")
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing packages (commands): $(for m in "${missing[@]}"; do printf '%s (%s) ' "${m%%:*}" "${m#*:}"; done)" >&2
    echo "setup: install them as root: apt-get update && apt-get install -y --no-install-recommends ${packages[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if [ "$(id -u)" != 0 ]; then
  echo "setup: note: building and running containers needs root (runc, overlayfs mounts)" >&2
fi

tar=$(bash "$SCRIPT_DIR/make-busybox.sh" --tar-only)

# Load the fixture into our store when the CLI is built and the image is not there yet.
cli="$REPO_DIR/dist/builder/cli/main.js"
if [ "$(id -u)" = 0 ]; then default_root=/var/lib/builder; else default_root=$HOME/.local/share/builder; fi
store_root=${BUILDER_ROOT:-$default_root}
export BUILDER_ROOT=$store_root
if [ -f "$cli" ]; then
  if ! node "$cli" inspect busybox:latest >/dev/null 2>&1; then
    bash "$SCRIPT_DIR/make-busybox.sh" --load-into-builder "$store_root"
  fi
else
  echo "setup: $cli not built yet (npm run build); busybox not loaded into the builder store"
fi

docker_cli=$(command -v /usr/bin/docker docker 2>/dev/null | head -1 || true)
if [ -n "$docker_cli" ] && "$docker_cli" info >/dev/null 2>&1 && ! "$docker_cli" image inspect busybox:latest >/dev/null 2>&1; then
  bash "$SCRIPT_DIR/make-busybox.sh" --load-into-docker
fi
echo "setup: ok (busybox fixture $tar)"
