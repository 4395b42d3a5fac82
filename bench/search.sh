#!/usr/bin/env bash
# Search latency over at least 1 M events: ingests two seeded ~1 GB
# generated captures once into a cached data folder (bench-data/search/,
# about 1.1 M events), then runs the twenty analyst queries of
# bench/search_latency.rs RUNS times each in process (index opened once,
# no process start) and prints median, p99 and max per query and over all.
#
#   bash bench/search.sh [RUNS=20] [SIZE_MB=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
size_mb=${2:-1000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin kyoka --example gen_capture --example search_latency
mkdir -p bench-data
data="bench-data/search-${size_mb}m"
if [[ ! -s $data/manifest.json ]]; then
    for seed in 1 2; do
        capture="bench-data/bench-${seed}-${size_mb}m.pcap"
        [[ -s $capture ]] || "$target/release/examples/gen_capture" "$seed" "$size_mb" "$capture"
    done
    "$target/release/kyoka" ingest --data "$data" \
        "bench-data/bench-1-${size_mb}m.pcap" "bench-data/bench-2-${size_mb}m.pcap"
fi
"$target/release/kyoka" stats --data "$data"
"$target/release/examples/search_latency" "$data" "$runs"
