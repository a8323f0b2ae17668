#!/usr/bin/env bash
# Durable append figures for README: a fresh release node (fsync always) on loopback, then
# `incidentctl bench append` with 50 clients and with 1 client, one event per request, then
# 1 client with 1000 events per request and `incidentctl bench import`. The append runs report the
# CPU time per request of the generator and of the node.
# Usage: Benchmarks/bench-append.sh [BIN_DIR]   (default .build/release)
set -euo pipefail
bin=${1:-.build/release}
events=${EVENTS:-100000}
dir=$(mktemp -d /tmp/incidentlog-bench-XXXXXX)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$bin/incidentd" --node-id bench --data-dir "$dir/data" --listen 127.0.0.1:0 --peer-listen off \
    --fsync always --log-level warning --ready-file "$dir/ready" &
pid=$!
for _ in $(seq 1 500); do [ -s "$dir/ready" ] && break; sleep 0.02; done
node=$(sed -E 's/.*"client":"([^"]+)".*/\1/' "$dir/ready")
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, fsync always, node $node"
# The disk's own pace in the same run, for context: 510-byte appends, each followed by fdatasync.
python3 - "$dir/data" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
n, t = 1000, time.time()
for _ in range(n):
    os.write(fd, b"x" * 509 + b"\n"); os.fdatasync(fd)
dt = time.time() - t
os.close(fd); os.unlink(path)
print(f"# raw fdatasync on this disk: {n / dt:.0f}/s ({dt / n * 1e6:.0f} us each)")
PY
"$bin/incidentctl" bench append --node "$node" --clients 50 --events "$events" --batch 1 --node-pid "$pid"
"$bin/incidentctl" bench append --node "$node" --clients 1 --events $((events / 10)) --batch 1 --warmup 1000 --node-pid "$pid"
"$bin/incidentctl" bench append --node "$node" --clients 1 --events "$events" --batch 1000 --warmup 1000 --node-pid "$pid"
# Bulk import through the path of `incidentctl import` (up to 10000 events and 1 MiB per request).
"$bin/incidentctl" bench import --node "$node" --events "$events" --warmup 1000
