#!/usr/bin/env bash
# Query figures of one release node (fsync always) on loopback, each on a fresh data directory:
# sector views under 1,000 appends/s (4 query clients, 100,000 events prefilled), then pages of
# 50 of the incidents list at 1,000,000 events held (1 client, no append load). The node runs
# with its per-connection rate limit off: at its default 4 clients would be capped at 48,000
# answers in 10 s.
# Usage: Benchmarks/bench-query.sh [BIN_DIR] [CTL_DIR]   (default .build/release for both;
# CTL_DIR runs incidentctl from another build, e.g. to measure an older incidentd with the same
# load generator)
set -euo pipefail
bin=${1:-.build/release}
ctl=${2:-$bin}
prefill=${PREFILL:-1000000}
run() {
    local dir
    dir=$(mktemp -d /tmp/incidentlog-bench-XXXXXX)
    INCIDENTD_REQUESTS_PER_SECOND=0 "$bin/incidentd" --node-id bench --data-dir "$dir/data" --listen 127.0.0.1:0 --peer-listen off \
        --fsync always --log-level warning --ready-file "$dir/ready" &
    local pid=$!
    for _ in $(seq 1 500); do [ -s "$dir/ready" ] && break; sleep 0.02; done
    local node
    node=$(sed -E 's/.*"client":"([^"]+)".*/\1/' "$dir/ready")
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, fsync always, node $node: $*"
    "$ctl/incidentctl" bench query --node "$node" "$@" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
run --op sector --clients 4 --duration 10 --append-rate 1000
run --op incidents --prefill "$prefill" --append-rate 0 --clients 1 --duration 10
