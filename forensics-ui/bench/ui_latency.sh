#!/usr/bin/env bash
# Forensics UI latency over >= 1 M indexed events, through a real socket:
# builds (once) the data folder of bench/search.sh (two seeded ~1 GB
# generated captures, about 1.1 M events), starts `kyoka ui` on it, then
# times with curl (time to the whole answer) the search page for twenty
# analyst queries RUNS times each, and opening a session of about 10,000
# packets (one made by session_10k.py) (the page, its summary, the first timeline page, the density).
#
#   bash forensics-ui/bench/ui_latency.sh [RUNS=20] [SIZE_MB=1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
size_mb=${2:-1000}
target=${CARGO_TARGET_DIR:-target}
kyoka="$target/release/kyoka"
[[ -x $kyoka && -x $target/release/examples/gen_capture ]] || cargo build --release --quiet --bin kyoka --example gen_capture
mkdir -p bench-data
data="bench-data/search-${size_mb}m"
if [[ ! -s $data/manifest.json ]]; then
    for seed in 1 2; do
        capture="bench-data/bench-${seed}-${size_mb}m.pcap"
        [[ -s $capture ]] || "$target/release/examples/gen_capture" "$seed" "$size_mb" "$capture"
    done
    "$kyoka" ingest --data "$data" "bench-data/bench-1-${size_mb}m.pcap" "bench-data/bench-2-${size_mb}m.pcap"
fi
# The generated traffic has no session as large as 10,000 packets (one
# client address per conversation): add one (ingesting it twice adds nothing).
python3 forensics-ui/bench/session_10k.py bench-data/session-10k.pcap
"$kyoka" ingest --data "$data" bench-data/session-10k.pcap
"$kyoka" stats --data "$data"
printf 'bench-password-1\n' | "$kyoka" user add --data "$data" bench --role analyst
token=$("$kyoka" token create --data "$data" --user bench)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$kyoka" ui --data "$data" --listen "127.0.0.1:$port" >/dev/null &
ui=$!
trap 'kill $ui' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
export PORT=$port TOKEN=$token RUNS=$runs DATA=$data KYOKA=$kyoka
python3 - <<'PY'
import json, os, subprocess, urllib.parse
port, token, runs = os.environ["PORT"], os.environ["TOKEN"], int(os.environ["RUNS"])
def t(path):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                          "-H", "Authorization: Bearer " + token, f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "200", (path, out)
    return float(out[1]) * 1000
def stats(v):
    v = sorted(v)
    return v[len(v) // 2], v[min(len(v) - 1, round((len(v) - 1) * 0.95))], v[-1]
queries = [
    ("events", "type:ftp.login success:false"), ("events", "type:ftp.login"), ("events", "password:123456"),
    ("events", "user:webadmin"), ("events", "src_ip:10.0.102.203"), ("flows", "src_ip:10.0.0.0/8 AND dst_port:22"),
    ("events", "dst_ip:172.16.3.10"), ("events", "query:select"), ("events", "type:mysql.command AND command:query"),
    ("events", "type:redis.command AND command:config"), ("events", "protocol:http AND uri:admin"),
    ("events", "method:POST"), ("events", "type:ssh.auth AND success:true"),
    ("events", "ts:[2023-11-14T22:13:30Z TO 2023-11-14T22:13:31Z]"), ("events", "type:anomaly"),
    ("events", "customers"), ("events", '"SELECT COUNT"'), ("events", "host:files.example"),
    ("sessions", "logins:>0"), ("events", ""),
]
print(f"search page GET /search (50 results rendered), {runs} runs after a warm-up, ms:")
print(f"{'median':>8} {'p95':>8}  query")
every = []
for kind, q in queries:
    path = "/search?" + urllib.parse.urlencode({"kind": kind, "q": q})
    t(path)
    v = [t(path) for _ in range(runs)]
    every += v
    m, p, _ = stats(v)
    print(f"{m:8.2f} {p:8.2f}  {kind}: {q}")
m, p, x = stats(every)
print(f"all {len(every)} search pages: median {m:.2f} ms, p95 {p:.2f} ms, max {x:.2f} ms")
hist = []
for kind, q in queries:
    path = "/api/v1/histogram?" + urllib.parse.urlencode({"kind": kind, "q": q, "buckets": 100})
    t(path)
    hist += [t(path) for _ in range(max(1, runs // 4))]
m, p, x = stats(hist)
print(f"histograms (100 buckets): median {m:.2f} ms, p95 {p:.2f} ms, max {x:.2f} ms")
out = subprocess.run([os.environ["KYOKA"], "search", "--data", os.environ["DATA"], "--kind", "sessions", "--format", "jsonl",
                      "--limit", "1000", "packets:>=10000"], capture_output=True, text=True, check=True).stdout
sessions = [json.loads(l) for l in out.splitlines() if l.strip()]
if not sessions:
    print("no session of 10,000 packets or more"); raise SystemExit
s = min(sessions, key=lambda s: s["packets"])
sid = s["session_id"]
print(f"session {sid}: {s['packets']} packets, {s['flows']} flows, {s['events']} events")
parts = [f"/sessions/{sid}", f"/api/v1/sessions/{sid}", f"/api/v1/sessions/{sid}/timeline?offset=0&limit=200",
         f"/api/v1/sessions/{sid}/density?buckets=300"]
for p_ in parts: t(p_)
each = {p_: [] for p_ in parts}
total = []
for _ in range(runs):
    sum_ = 0
    for p_ in parts:
        x = t(p_); each[p_].append(x); sum_ += x
    total.append(sum_)
for p_ in parts:
    m, p, _ = stats(each[p_]); print(f"{m:8.2f} {p:8.2f}  {p_}")
m, p, x = stats(total)
print(f"opening the session (the four one after the other): median {m:.2f} ms, p95 {p:.2f} ms, max {x:.2f} ms")
PY
