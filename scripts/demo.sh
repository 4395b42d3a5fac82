#!/usr/bin/env bash
# Runs what the appliance has today on its demo data set: builds kyoka,
# dissects the bundled real captures (captures/) into
# target/demo-events.jsonl with a count and one example per event type, then
# stores and indexes them in the data folder target/demo-data and shows the
# attacker sessions and a few searches an analyst would type. It ends by
# starting the forensics UI on that data folder (KYOKA_UI_LISTEN, default
# 127.0.0.1:8080) and prints where to open it and how to sign in.
# Pass capture files or folders to use those instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup puts cargo here; a non-login shell may not have it on PATH.
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
bash scripts/deps.sh
cargo build --release --quiet
files=("$@")
if ((${#files[@]} == 0)); then
    files=(captures)
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
print(f"{sum(counts.values())} events\n")
for t, n in sorted(counts.items()):
    print(f"{t:16} {n:6}   {example[t][:150]}")
' "$out"
echo
echo "all events: $out    extracted files: target/demo-artifacts/"
echo
data=target/demo-data
search() {
    echo
    echo "\$ kyoka search --data $data $*"
    ./target/release/kyoka search --data "$data" --limit 10 "$@"
}
./target/release/kyoka ingest --data "$data" "${files[@]}"
search --kind sessions '*'
search 'type:ftp.login success:true'
search 'type:mysql.command query:passwd'
search 'type:redis.command command:config'
echo
# The forensics UI on the demo data. A fresh password for the user "admin"
# is set on every run, so this always prints a way to sign in.
listen=${KYOKA_UI_LISTEN:-127.0.0.1:8080}
password=$(head -c 15 /dev/urandom | base64 | tr '+/' '-_')
printf '%s\n' "$password" | ./target/release/kyoka user add --data "$data" admin --role admin
echo "forensics UI: open http://$listen/ and sign in as admin with password $password"
echo "(stop it with ctrl-c; \`kyoka ui --data $data\` starts it again)"
exec ./target/release/kyoka ui --data "$data" --listen "$listen"
