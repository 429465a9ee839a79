#!/usr/bin/env bash
# Builds the release preset with the benchmarks and measures a 3-node cluster
# on loopback: leader failover after kill -9 and after SIGSTOP, and write →
# SSE event latency across nodes (and on the same node for comparison).
#   bench/cluster.sh [rounds=5] [writes=500]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
hearth_deps
cd "$HEARTH_ROOT"
cmake --preset release -DHEARTH_BUILD_BENCH=ON >/dev/null
cmake --build --preset release -j2 --target hearth hearth_bench_cluster
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
build/release/bench/hearth_bench_cluster "${1:-5}" "${2:-500}"
