#!/usr/bin/env bash
# Runs what the appliance has today on its demo data set: builds kyoka and
# dissects the bundled real captures (captures/), writes every event to
# target/demo-events.jsonl and shows a count and one example per event type.
# Pass capture files to dissect those instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --quiet
files=("$@")
if ((${#files[@]} == 0)); then
    mapfile -t files < <(find captures -name '*.pcap' | sort)
fi
out=target/demo-events.jsonl
./target/release/kyoka dissect --artifacts target/demo-artifacts "${files[@]}" >"$out"
python3 -c '
import collections, json, sys
counts, example = collections.Counter(), {}
for line in open(sys.argv[1]):
    event = json.loads(line)
    counts[event["type"]] += 1
    example.setdefault(event["type"], line.strip())
print(f"{sum(counts.values())} events from {sys.argv[2]} captures\n")
for t, n in sorted(counts.items()):
    print(f"{t:16} {n:6}   {example[t][:150]}")
' "$out" "${#files[@]}"
echo
echo "all events: $out    extracted files: target/demo-artifacts/"
