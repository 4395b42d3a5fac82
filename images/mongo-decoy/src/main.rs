//! `mongo-decoy [--bind ADDR] [--users FILE] [--version V] [--hostname H]`

use std::net::TcpListener;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let mut bind = "0.0.0.0:27017".to_string();
    let mut users_file: Option<String> = None;
    let mut version = "6.0.14".to_string();
    let mut hostname = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "db01".into());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bind" => bind = value()?,
            "--users" => users_file = Some(value()?),
            "--version" => version = value()?,
            "--hostname" => hostname = value()?,
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    let users = match users_file {
        Some(path) => mongo_decoy::Config::parse_users(&std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?),
        None => vec![("admin".into(), "admin".into())],
    };
    let listener = TcpListener::bind(&bind).with_context(|| format!("binding {bind}"))?;
    eprintln!("mongo-decoy {version} listening on {bind} with {} users", users.len());
    mongo_decoy::serve(listener, mongo_decoy::Config { version, hostname, users })?;
    Ok(())
}
