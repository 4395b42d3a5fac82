//! Search latency over a data folder, in process (no process start):
//! twenty typical analyst queries, each run `RUNS` times after one warm-up
//! run, as the web UI runs them (index opened once; parse, search for the
//! newest 50, read their stored JSON).
//!
//! `cargo run --release --example search_latency -- DATA [RUNS]`

use std::path::PathBuf;
use std::time::Instant;

use capture::index::{query, Index, Kind};

/// (kind, query): what an analyst types.
const QUERIES: &[(Option<Kind>, &str)] = &[
    (None, "type:ftp.login success:false"),
    (None, "type:ftp.login"),
    (None, "password:123456"),
    (None, "user:webadmin"),
    (None, "src_ip:10.0.102.203"),
    (Some(Kind::Flows), "src_ip:10.0.0.0/8 AND dst_port:22"),
    (None, "dst_ip:172.16.3.10"),
    (None, "query:select"),
    (None, "type:mysql.command AND command:query"),
    (None, "type:redis.command AND command:config"),
    (None, "protocol:http AND uri:admin"),
    (None, "method:POST"),
    (None, "type:ssh.auth AND success:true"),
    (None, "ts:[2023-11-14T22:13:30Z TO 2023-11-14T22:13:31Z]"),
    (None, "type:anomaly"),
    (None, "customers"),
    (None, "\"SELECT COUNT\""),
    (None, "host:files.example"),
    (Some(Kind::Sessions), "logins:>0"),
    (Some(Kind::Flows), "dst_port:3306 AND src_ip:10.0.0.0/8"),
];

fn main() {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(args.next().expect("usage: search_latency DATA [RUNS]"));
    let runs: usize = args.next().map(|r| r.parse().expect("RUNS")).unwrap_or(20);
    let opened = Instant::now();
    let index = Index::open_or_create(&data.join("index")).expect("open the index");
    let searcher = index.searcher().expect("searcher");
    eprintln!(
        "index opened in {:.1} ms; {} documents",
        ms(opened.elapsed()),
        searcher.num_docs()
    );
    let now = model::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64,
    );
    let mut all = Vec::new();
    println!(
        "{:>8} {:>8} {:>8} {:>9}  query",
        "median", "p99", "max", "hits"
    );
    for (kind, text) in QUERIES {
        let mut times = Vec::with_capacity(runs);
        let mut hits = 0;
        for run in 0..=runs {
            let t = Instant::now();
            let q = query::parse(&index, text, now).expect("query");
            let q = index.restrict(q, *kind, None);
            let top = index.newest(&searcher, q.as_ref(), 50).expect("search");
            let mut docs = Vec::with_capacity(top.len());
            for at in top {
                docs.push(index.json(&index.doc(&searcher, at).expect("doc")));
            }
            let elapsed = ms(t.elapsed());
            hits = docs.len();
            if run > 0 {
                times.push(elapsed);
            }
        }
        let total = index
            .count(
                &searcher,
                index
                    .restrict(query::parse(&index, text, now).unwrap(), *kind, None)
                    .as_ref(),
            )
            .unwrap();
        all.extend(&times);
        let kind = kind
            .map(|k| format!("--kind {} ", k.term()))
            .unwrap_or_default();
        println!(
            "{:>6.2}ms {:>6.2}ms {:>6.2}ms {:>9}  {kind}{text} ({hits} shown)",
            pct(&mut times, 50.0),
            pct(&mut times, 99.0),
            pct(&mut times, 100.0),
            total
        );
    }
    println!(
        "all {} runs: median {:.2} ms, p99 {:.2} ms",
        all.len(),
        pct(&mut all, 50.0),
        pct(&mut all, 99.0)
    );
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile.
fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}
