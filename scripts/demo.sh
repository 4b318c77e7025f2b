#!/usr/bin/env bash
# `npm run demo` (after `npm run build`): set up, build test-dockerfiles/demo with our
# builder, run the image and show what it prints. Uses $BUILDER_ROOT or the default store.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SCRIPT_DIR")
CLI="$REPO_DIR/dist/builder/cli/main.js"
builder() { node "$CLI" "$@"; }

bash "$SCRIPT_DIR/setup.sh"
[ -f "$CLI" ] || { echo "demo: $CLI missing; run npm run build first" >&2; exit 1; }

echo "demo: builder build -t demo test-dockerfiles/demo"
start=$(date +%s.%N)
image_id=$(builder build --progress=plain -t demo "$REPO_DIR/test-dockerfiles/demo")
end=$(date +%s.%N)
echo "demo: built demo as $image_id in $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }') s"

echo "demo: builder run --rm demo"
echo "----------------------------------------------------------------"
builder run --rm demo
echo "----------------------------------------------------------------"
echo "demo: done; see the image with: node $CLI images"
