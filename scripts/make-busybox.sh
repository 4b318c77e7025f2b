#!/usr/bin/env bash
# Makes the base image busybox:latest from Debian's busybox-static as a deterministic
# docker-archive tar (no Docker Hub here), caches it, and optionally loads it into
# our store, dockerd and buildah's containers-storage.
#
# Usage: make-busybox.sh [--tar-only] [--force] [--load-into-builder ROOT]
#                        [--load-into-docker] [--load-into-buildah]
#   --tar-only             print the tar path only (builds it first if needed)
#   --load-into-builder R  `builder load` into the store at R (BUILDER_ROOT)
#   --load-into-docker     `docker load` (honours DOCKER_HOST) when dockerd answers
#   --load-into-buildah    skopeo copy into containers-storage; BUILDAH_ROOT and
#                          BUILDAH_RUNROOT select a non-default storage
# Env: BUSYBOX_BIN (default /bin/busybox), XDG_CACHE_HOME.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SCRIPT_DIR")
BUSYBOX_BIN=${BUSYBOX_BIN:-/bin/busybox}
CACHE_DIR=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/builder-fixtures
TAR="$CACHE_DIR/busybox.tar"
STAMP="$TAR.stamp"
IMAGE_REF=busybox:latest
ENV_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

tar_only=0 force=0 builder_root="" to_docker=0 to_buildah=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tar-only) tar_only=1 ;;
    --force) force=1 ;;
    --load-into-builder) builder_root=${2:?--load-into-builder needs a store root}; shift ;;
    --load-into-docker) to_docker=1 ;;
    --load-into-buildah) to_buildah=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "make-busybox.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { [ "$tar_only" = 1 ] || echo "make-busybox: $*"; }

if [ ! -x "$BUSYBOX_BIN" ]; then
  echo "make-busybox: $BUSYBOX_BIN not found; install it: apt-get install -y busybox-static" >&2
  exit 1
fi

# The stamp covers the binary and this script, so a new busybox or a new layout rebuilds.
want_stamp=$(cat "$BUSYBOX_BIN" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)

build_tar() {
  local work rootfs layer_dir diff_id config config_sha applet version
  work=$(mktemp -d "${TMPDIR:-/tmp}/make-busybox.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  rootfs="$work/rootfs"
  mkdir -p "$rootfs"/{bin,dev,etc,home/app,proc,root,sys,tmp,usr/bin,usr/sbin,var/spool/mail,var/www}
  cp "$BUSYBOX_BIN" "$rootfs/bin/busybox"
  chmod 0755 "$rootfs/bin/busybox"
  for applet in $("$BUSYBOX_BIN" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
  done
  cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
  cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
app:x:1000:
nogroup:x:65534:
EOF
  sed 's/^\([^:]*\):.*/\1:*:10933:0:99999:7:::/' "$rootfs/etc/passwd" >"$rootfs/etc/shadow"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
  chmod 0600 "$rootfs/etc/shadow"
  chmod 0755 "$rootfs"/{bin,dev,etc,home,home/app,proc,sys,usr,usr/bin,usr/sbin,var,var/spool,var/spool/mail,var/www}
  chmod 0700 "$rootfs/root"
  chmod 1777 "$rootfs/tmp"

  # Two passes so /home/app is owned by app (1000:1000) while everything else is 0:0,
  # without needing root or chown.
  local tar_opts=(--format=gnu --sort=name --mtime=@0 --numeric-owner)
  layer_dir="$work/archive/layer"
  mkdir -p "$layer_dir"
  # Top-level names instead of "." so entries read bin/sh, not ./bin/sh, as in docker save.
  # shellcheck disable=SC2046
  tar -C "$rootfs" "${tar_opts[@]}" --owner=0 --group=0 --exclude=home/app -cf "$layer_dir/layer.tar" \
    $(cd "$rootfs" && ls -A | LC_ALL=C sort)
  tar -C "$rootfs" "${tar_opts[@]}" --owner=1000 --group=1000 -rf "$layer_dir/layer.tar" home/app
  diff_id=$(sha256sum "$layer_dir/layer.tar" | cut -d' ' -f1)
  mv "$layer_dir" "$work/archive/$diff_id"

  # sed reads all of it: `head -1` would SIGPIPE busybox and fail under pipefail.
  version=$("$BUSYBOX_BIN" 2>&1 | sed -n '1s/ multi-call binary.*//p' || true)
  config=$(printf '{"architecture":"amd64","config":{"Env":["PATH=%s"],"Cmd":["sh"]},"created":"1970-01-01T00:00:00Z","history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/make-busybox.sh: %s"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$ENV_PATH" "$version" "$diff_id")
  config_sha=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
  printf '%s' "$config" >"$work/archive/$config_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
    "$config_sha" "$IMAGE_REF" "$diff_id" >"$work/archive/manifest.json"
  printf '{"busybox":{"latest":"%s"}}' "$diff_id" >"$work/archive/repositories"

  mkdir -p "$CACHE_DIR"
  # shellcheck disable=SC2046
  tar -C "$work/archive" "${tar_opts[@]}" --owner=0 --group=0 -cf "$work/busybox.tar" \
    $(cd "$work/archive" && ls -A | LC_ALL=C sort)
  # Atomic: a concurrent reader sees the old tar or the new one, never half of one.
  mv "$work/busybox.tar" "$TAR.tmp.$$" && mv "$TAR.tmp.$$" "$TAR"
  echo "$want_stamp" >"$STAMP.tmp.$$" && mv "$STAMP.tmp.$$" "$STAMP"
}

if [ "$force" = 1 ] || [ ! -f "$TAR" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want_stamp" ]; then
  build_tar
  log "built $TAR"
fi

if [ "$tar_only" = 1 ]; then
  echo "$TAR"
  exit 0
fi

if [ -n "$builder_root" ]; then
  cli="$REPO_DIR/dist/builder/cli/main.js"
  [ -f "$cli" ] || { echo "make-busybox: $cli missing; run npm run build first" >&2; exit 1; }
  BUILDER_ROOT="$builder_root" node "$cli" load -i "$TAR" >/dev/null
  log "loaded $IMAGE_REF into builder store $builder_root"
fi

if [ "$to_docker" = 1 ]; then
  if docker info >/dev/null 2>&1; then
    docker load -i "$TAR" >/dev/null
    log "loaded $IMAGE_REF into docker${DOCKER_HOST:+ ($DOCKER_HOST)}"
  else
    echo "make-busybox: dockerd not reachable${DOCKER_HOST:+ at $DOCKER_HOST}; skipped docker load" >&2
    exit 1
  fi
fi

if [ "$to_buildah" = 1 ]; then
  command -v skopeo >/dev/null || { echo "make-busybox: skopeo missing; apt-get install -y skopeo" >&2; exit 1; }
  store=""
  if [ -n "${BUILDAH_ROOT:-}" ]; then
    store="[overlay@${BUILDAH_ROOT}+${BUILDAH_RUNROOT:-$BUILDAH_ROOT/run}]"
  fi
  skopeo copy -q "docker-archive:$TAR" "containers-storage:${store}docker.io/library/$IMAGE_REF" >/dev/null
  log "loaded $IMAGE_REF into containers-storage${BUILDAH_ROOT:+ at $BUILDAH_ROOT}"
fi
