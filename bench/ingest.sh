#!/usr/bin/env bash
# Times `kyoka ingest` (pcap store, artifacts, sessions, tantivy index) of
# one seeded multi-protocol capture into a fresh data folder, on this
# machine, in one run. Prints wall time, MB/s, peak memory, the sizes of
# the store, the artifacts and the index, and the index as a share of the
# stored pcap.
#
#   bash bench/ingest.sh [SIZE_MB=1024] [SEED=1]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
seed=${2:-1}
bash scripts/deps.sh
cargo build --release --quiet --bin kyoka --example gen_capture
target=${CARGO_TARGET_DIR:-target}
mkdir -p bench-data
capture="bench-data/bench-${seed}-${size_mb}m.pcap"
if [[ ! -s $capture ]]; then
    "$target/release/examples/gen_capture" "$seed" "$size_mb" "$capture"
fi
bytes=$(stat -L -c %s "$capture")
data=$(mktemp -d "${TMPDIR:-/tmp}/kyoka-ingest-XXXXXX")
trap 'rm -rf "$data"' EXIT

# Warm the page cache so the capture is read from memory.
cat "$capture" >/dev/null

echo "capture: $capture ($(( bytes / 1000000 )) MB, seed $seed), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -o "$data.time" -f "%e %U %S %M" \
    "$target/release/kyoka" ingest --data "$data" "$capture" 2>&1 | tail -1
read -r secs user sys kb <"$data.time"
rm -f "$data.time"
size() { du -sb "$1" | cut -f1; }
store=$(size "$data/pcap")
index=$(size "$data/index")
artifacts=$(size "$data/artifacts")
python3 - "$bytes" "$secs" "$user" "$sys" "$kb" "$store" "$index" "$artifacts" <<'PY'
import sys
b, secs, user, sys_, kb, store, index, art = map(float, sys.argv[1:])
print(f"ingest     {secs:7.2f} s wall ({user:.2f} s user, {sys_:.2f} s system)  "
      f"{b / 1e6 / secs:7.1f} MB/s  peak {kb / 1024:6.1f} MiB")
print(f"store      {store / 1e6:8.1f} MB")
print(f"artifacts  {art / 1e6:8.1f} MB")
print(f"index      {index / 1e6:8.1f} MB  ({100 * index / store:.2f} % of the store)")
PY
