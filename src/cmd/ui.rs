//! `kyoka ui`: the forensics web application on a data folder.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;

use super::data::DataArg;

/// Serve the forensics UI (search, sessions, replay, pcap export).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Redis of the detector (attackers, policy, agents), when it runs.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Mark cookies Secure (set when a TLS proxy serves the UI over HTTPS).
    #[arg(long)]
    secure_cookies: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = args.data.dir();
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let (state, first_password) = forensics_ui::AppState::new(forensics_ui::Config {
        data: data.clone(),
        secure_cookies: args.secure_cookies,
        redis_url: args.redis,
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("kyoka ui: data {}", data.display());
        println!("kyoka ui: open http://{addr}/");
        match first_password {
            Some(p) => println!(
                "kyoka ui: first start: sign in as user \"admin\" with password {p}\n\
                 (shown once; change it with `kyoka user add admin --role admin --data {}`)",
                data.display()
            ),
            None => println!("kyoka ui: sign in with an account from `kyoka user add`"),
        }
        forensics_ui::serve(state, listener).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
