#!/usr/bin/env bash
# Stops a dockerd only if scripts/start-dockerd.sh started it (its marker names the pid);
# a daemon somebody else started is left alone. Same DOCKERD_STATE_DIR as start-dockerd.sh.
set -euo pipefail

STATE_DIR=${DOCKERD_STATE_DIR:-/run/builder-dockerd}
MARKER="$STATE_DIR/started-by-builder"

if [ ! -f "$MARKER" ]; then
  echo "stop-dockerd: no dockerd started by start-dockerd.sh (no $MARKER); nothing to stop"
  exit 0
fi
pid=$(cat "$MARKER")
# The pid may have been reused since; only signal it if it is still a dockerd.
if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = dockerd ]; then
  kill -TERM "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    echo "stop-dockerd: dockerd (pid $pid) ignored SIGTERM for 20 s; killed it"
  else
    echo "stop-dockerd: stopped dockerd (pid $pid)"
  fi
else
  echo "stop-dockerd: dockerd (pid $pid) is no longer running"
fi
rm -f "$MARKER"
