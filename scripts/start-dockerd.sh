#!/usr/bin/env bash
# Starts a dockerd when none answers, in the only mode this kind of VM allows
# (no bridge, no iptables). Prints whether it started one. Idempotent.
# Env (all optional; the bench uses them for a second, separate daemon):
#   DOCKERD_SOCK       socket path (default /var/run/docker.sock)
#   DOCKERD_DATA_ROOT  --data-root; DOCKERD_EXEC_ROOT --exec-root
#   DOCKERD_STATE_DIR  where our pidfile, log and "started by us" marker live
#                      (default /run/builder-dockerd); stop-dockerd.sh reads it
set -euo pipefail

SOCK=${DOCKERD_SOCK:-/var/run/docker.sock}
STATE_DIR=${DOCKERD_STATE_DIR:-/run/builder-dockerd}
PIDFILE="$STATE_DIR/dockerd.pid"
LOG="$STATE_DIR/dockerd.log"
DOCKER=$(command -v /usr/bin/docker docker 2>/dev/null | head -1 || true)

if [ -n "$DOCKER" ] && "$DOCKER" -H "unix://$SOCK" info >/dev/null 2>&1; then
  echo "start-dockerd: dockerd already running at $SOCK"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "start-dockerd: dockerd is not reachable at $SOCK and starting one needs root" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null || [ -z "$DOCKER" ]; then
  echo "start-dockerd: dockerd/docker not installed; apt-get install -y --no-install-recommends docker.io" >&2
  exit 1
fi

mkdir -p "$STATE_DIR"
args=(--bridge=none --iptables=false --ip-masq=false -H "unix://$SOCK" --pidfile "$PIDFILE")
[ -n "${DOCKERD_DATA_ROOT:-}" ] && args+=(--data-root "$DOCKERD_DATA_ROOT")
[ -n "${DOCKERD_EXEC_ROOT:-}" ] && args+=(--exec-root "$DOCKERD_EXEC_ROOT")
# The network rule: this peer may only talk to 127.0.0.0/8. A name it cannot find locally (a typo'd image, a
# `COPY --from=` of an unknown stage that BuildKit takes for an image) makes it look up registry-1.docker.io (the
# insecure-registry check resolves every registry name) and try to pull. So it runs in a mount namespace of its own
# whose /etc/resolv.conf names 127.0.0.1 (nothing answers there: the lookup fails at once, on loopback), and with a
# proxy on a closed loopback port for any name that does resolve; the local registries (127.0.0.1) stay direct.
# `--propagation slave`: mounts made on the host later (the bench's scratch fs) still reach it.
# setsid: the daemon must outlive this script and not get the caller's Ctrl-C. setsid, unshare and sh each exec
# the next, so $! is dockerd's pid.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$STATE_DIR/resolv.conf"
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.0/8,localhost,::1 \
  setsid unshare --mount --propagation slave \
  sh -c 'mount --bind "$0" /etc/resolv.conf && exec dockerd "$@"' "$STATE_DIR/resolv.conf" "${args[@]}" \
  >"$LOG" 2>&1 </dev/null &
echo $! >"$STATE_DIR/started-by-builder"

for _ in $(seq 1 60); do
  if "$DOCKER" -H "unix://$SOCK" info >/dev/null 2>&1; then
    echo "start-dockerd: started dockerd (pid $(cat "$STATE_DIR/started-by-builder")) at $SOCK; log $LOG"
    exit 0
  fi
  if ! kill -0 "$(cat "$STATE_DIR/started-by-builder")" 2>/dev/null; then
    break
  fi
  sleep 0.5
done
echo "start-dockerd: dockerd did not become ready at $SOCK within 30 s; last log lines:" >&2
tail -n 15 "$LOG" >&2 || true
kill "$(cat "$STATE_DIR/started-by-builder")" 2>/dev/null || true
rm -f "$STATE_DIR/started-by-builder"
exit 1
