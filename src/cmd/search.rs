//! `kyoka search QUERY`: sessions, flows or events, newest first.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use capture::index::Kind;
use serde_json::Value;

use super::data::DataArg;

/// Search the data folder (query syntax: docs/query.md).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// sessions, flows or events.
    #[arg(long, default_value = "events")]
    kind: Kind,
    /// table or jsonl.
    #[arg(long, default_value = "table")]
    format: Format,
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// The query; several words are joined (empty: everything).
    query: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Jsonl,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let query = args.query.join(" ");
    let hits = capture::ops::search(&args.data.dir(), Some(args.kind), &query, args.limit)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let result = match args.format {
        Format::Jsonl => hits.iter().try_for_each(|h| writeln!(out, "{h}")),
        Format::Table => table(&mut out, args.kind, &hits),
    };
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn s(v: &Value, path: &[&str]) -> String {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    match x {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|y| {
                y.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| y.to_string())
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn cut(mut x: String, n: usize) -> String {
    if x.chars().count() > n {
        x = x.chars().take(n - 1).collect::<String>() + "…";
    }
    x
}

fn table(out: &mut impl Write, kind: Kind, hits: &[Value]) -> std::io::Result<()> {
    match kind {
        Kind::Sessions => {
            writeln!(
                out,
                "{:<18} {:<27} {:<27} {:<39} {:>5} {:>6} {:>7} {:<20} users",
                "session",
                "first seen",
                "last seen",
                "source",
                "flows",
                "events",
                "logins",
                "protocols"
            )?;
            for h in hits {
                let logins = format!(
                    "{}/{}",
                    s(h, &["logins_succeeded"]),
                    s(h, &["logins_tried"])
                );
                writeln!(
                    out,
                    "{:<18} {:<27} {:<27} {:<39} {:>5} {:>6} {:>7} {:<20} {}",
                    s(h, &["session_id"]),
                    s(h, &["first_seen"]),
                    s(h, &["last_seen"]),
                    s(h, &["src_ip"]),
                    s(h, &["flows"]),
                    s(h, &["events"]),
                    logins,
                    cut(s(h, &["protocols"]), 20),
                    cut(s(h, &["users"]), 40)
                )?;
            }
        }
        Kind::Flows => {
            writeln!(
                out,
                "{:<27} {:<46} {:<46} {:<8} {:>7} {:>10} {:<14} flow",
                "start", "client", "server", "proto", "packets", "bytes", "reason"
            )?;
            for h in hits {
                let end = |side: &str| {
                    format!(
                        "{} {}",
                        s(h, &["flow", &format!("{side}_ip")]),
                        s(h, &["flow", &format!("{side}_port")])
                    )
                };
                let bytes = h["bytes_to_server"].as_u64().unwrap_or(0)
                    + h["bytes_to_client"].as_u64().unwrap_or(0);
                writeln!(
                    out,
                    "{:<27} {:<46} {:<46} {:<8} {:>7} {:>10} {:<14} {}",
                    s(h, &["ts"]),
                    end("src"),
                    end("dst"),
                    s(h, &["protocol"]),
                    s(h, &["packets_stored"]),
                    bytes,
                    s(h, &["reason"]),
                    s(h, &["flow", "id"])
                )?;
            }
        }
        Kind::Events => {
            writeln!(
                out,
                "{:<27} {:<16} {:<40} {:<40} details",
                "ts", "type", "client", "server"
            )?;
            for h in hits {
                let end = |side: &str| {
                    format!(
                        "{} {}",
                        s(h, &["flow", &format!("{side}_ip")]),
                        s(h, &["flow", &format!("{side}_port")])
                    )
                };
                let mut details = Vec::new();
                for k in [
                    "user", "password", "success", "command", "name", "arg", "args", "uri", "path",
                    "sha256", "kind", "detail",
                ] {
                    if !h[k].is_null() {
                        details.push(format!("{k}={}", s(h, &[k])));
                    }
                }
                writeln!(
                    out,
                    "{:<27} {:<16} {:<40} {:<40} {}",
                    s(h, &["ts"]),
                    s(h, &["type"]),
                    end("src"),
                    end("dst"),
                    cut(details.join(" "), 120)
                )?;
            }
        }
    }
    Ok(())
}
