#!/usr/bin/env bash
# Builds the release preset with the benchmarks and measures write → SSE
# event latency on loopback: bench/write_to_event.sh [writes] [subscribers]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
hearth_deps
cd "$HEARTH_ROOT"
cmake --preset release -DHEARTH_BUILD_BENCH=ON >/dev/null
cmake --build --preset release -j2 --target hearth hearth_bench_write_to_event
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
build/release/bench/hearth_bench_write_to_event "${1:-500}" "${2:-1}"
