#!/usr/bin/env bash
# Times `kyoka dissect` against `tshark -T fields` extracting the same
# protocol facts from one seeded multi-protocol capture, on this machine, in
# one run. Prints wall time, MB/s and peak memory of each.
#
#   bash bench/dissect.sh [SIZE_MB=1024] [SEED=1]
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup puts cargo here; a non-login shell may not have it on PATH.
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
size_mb=${1:-1024}
seed=${2:-1}
bash scripts/deps.sh
cargo build --release --quiet --bin kyoka --example gen_capture
mkdir -p bench-data
capture="bench-data/bench-${seed}-${size_mb}m.pcap"
if [[ ! -s $capture ]]; then
    ./target/release/examples/gen_capture "$seed" "$size_mb" "$capture"
fi
bytes=$(stat -c %s "$capture")
mb=$(python3 -c "print(f'{$bytes / 1e6:.0f}')")

# The same facts tshark can extract: FTP commands, arguments and reply codes;
# HTTP method, host, URI, user agent and status; MySQL commands, queries and
# users; SSH versions and key exchange lists; MongoDB opcodes and collections;
# Redis (RESP) strings; with the 5-tuple.
tshark_fields=(-e frame.time_epoch -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport
    -e ftp.request.command -e ftp.request.arg -e ftp.response.code
    -e http.request.method -e http.host -e http.request.uri -e http.user_agent -e http.response.code
    -e mysql.command -e mysql.query -e mysql.user -e ssh.protocol -e ssh.kex_algorithms
    -e mongo.opcode -e mongo.full_collection_name -e resp.string)

# Warm the page cache so both read from memory.
cat "$capture" >/dev/null

run() {
    local name=$1
    shift
    local t
    /usr/bin/time -o "bench-data/$name.time" -f "%e %M" "$@" >/dev/null 2>"bench-data/$name.stderr"
    t=$(tail -1 "bench-data/$name.time")
    local secs=${t% *} kb=${t#* }
    python3 -c "
secs, kb, mb = $secs, $kb, $mb
print(f'{\"$name\":8} {secs:7.2f} s  {mb / secs:8.1f} MB/s  peak {kb / 1024:7.1f} MiB')
"
    echo "$secs" >"bench-data/$name.secs"
}

echo "capture: $capture ($mb MB, seed $seed), $(nproc) cores"
run kyoka taskset -c 0 ./target/release/kyoka dissect "$capture"
run tshark taskset -c 0 tshark -r "$capture" -n -d tcp.port==3717,mongo -T fields "${tshark_fields[@]}"
python3 -c "
k = float(open('bench-data/kyoka.secs').read()); t = float(open('bench-data/tshark.secs').read())
print(f'kyoka is {t / k:.1f}x tshark')
"
