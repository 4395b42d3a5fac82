#!/usr/bin/env bash
# Export of one attacker session's packets (`kyoka export 'session_id:S…'`,
# process start included, RUNS runs) against `tshark -r RAW.pcap -Y
# 'ip.addr==ADDR' -w out.pcap` on the raw capture the session came from
# (the generated sessions are one client address each, in both seeded
# files). Uses the data
# folder of bench/search.sh (run it first); prints both times and packet
# counts.
#
#   bash bench/export.sh [RUNS=20] [SIZE_MB=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
size_mb=${2:-1000}
target=${CARGO_TARGET_DIR:-target}
kyoka="$target/release/kyoka"
data="bench-data/search-${size_mb}m"
[[ -s $data/manifest.json ]] || { echo "run bench/search.sh first" >&2; exit 1; }
# An FTP attacker session (logins) of the generated data. The two seeded
# captures reuse client addresses at the same times, so a session holds
# flows from both raw files; tshark reads both.
read -r sid addr <<<"$("$kyoka" search --data "$data" --kind flows --format jsonl --limit 1 \
    'dst_port:21 AND src_ip:10.0.98.176' |
    python3 -c "import json,sys; d = json.loads(sys.stdin.readline()); print(d['session_id'], d['flow']['src_ip'])")"
echo "session $sid, client $addr"
out=$(mktemp -d)
times=()
for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    "$kyoka" export --data "$data" "session_id:$sid" -o "$out/kyoka.pcap" 2>/dev/null
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
done
printf '%s\n' "${times[@]}" | sort -n | python3 -c "
import sys
v = [int(x) / 1000 for x in sys.stdin]
p = lambda q: v[min(len(v), max(1, -(-len(v) * q // 100))) - 1]
print(f'kyoka export: median {p(50):.1f} ms, p99 {p(99):.1f} ms, max {v[-1]:.1f} ms over {len(v)} runs (process start included)')"
echo "kyoka packets: $(capinfos -c -M "$out/kyoka.pcap" | awk '/Number of packets/ {print $NF}')"
t0=$(date +%s%N)
for seed in 1 2; do
    tshark -r "bench-data/bench-${seed}-${size_mb}m.pcap" -Y "ip.addr==$addr" -F pcap -w "$out/tshark-$seed.pcap"
done
t1=$(date +%s%N)
echo "tshark -r RAW.pcap -Y 'ip.addr==$addr' -F pcap -w (both raw files): $(( (t1 - t0) / 1000000 )) ms"
mergecap -a -F pcap -w "$out/tshark.pcap" "$out/tshark-1.pcap" "$out/tshark-2.pcap"
echo "tshark packets: $(capinfos -c -M "$out/tshark.pcap" | awk '/Number of packets/ {print $NF}')"
# Same records byte for byte (the 24-byte file headers may differ in snaplen).
if cmp -s <(tail -c +25 "$out/kyoka.pcap") <(tail -c +25 "$out/tshark.pcap"); then
    echo "records: identical"
else
    echo "records: DIFFER"
fi
rm -rf "$out"
