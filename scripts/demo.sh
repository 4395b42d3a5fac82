#!/usr/bin/env bash
# Runs what the appliance has today on its demo data set: builds kyoka and
# dissects the bundled real captures (captures/), printing every event and
# a count per event type. Pass capture files to dissect those instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --quiet
files=("$@")
if ((${#files[@]} == 0)); then
    mapfile -t files < <(find captures -name '*.pcap' | sort)
fi
out=$(mktemp)
./target/release/kyoka dissect --artifacts target/demo-artifacts "${files[@]}" | tee "$out"
echo
echo "events by type:"
python3 -c '
import collections, json, sys
counts = collections.Counter(json.loads(l)["type"] for l in open(sys.argv[1]))
for t, n in sorted(counts.items()):
    print(f"  {t:20} {n}")
' "$out"
echo "extracted files: target/demo-artifacts/"
rm -f "$out"
