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
    /// Serve HTTPS with the certificate in DATA/ui/tls/ (cert.pem, key.pem),
    /// made self-signed on first start; its SHA-256 fingerprint is printed.
    #[arg(long)]
    tls: bool,
    /// A host name or address the made certificate is also for (besides
    /// localhost, 127.0.0.1 and ::1); may be repeated.
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls")]
    tls_names: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = args.data.dir();
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let (state, first_password) = forensics_ui::AppState::new(forensics_ui::Config {
        data: data.clone(),
        secure_cookies: args.secure_cookies || args.tls,
        redis_url: args.redis,
    })?;
    let identity = match args.tls {
        true => Some(forensics_ui::tls::load_or_create(&data, &args.tls_names)?),
        false => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("kyoka ui: data {}", data.display());
        let scheme = if identity.is_some() { "https" } else { "http" };
        println!("kyoka ui: open {scheme}://{addr}/");
        if let Some(id) = &identity {
            println!(
                "kyoka ui: {} certificate {}\nkyoka ui: its SHA-256 fingerprint (compare with what the browser shows): {}",
                if id.created { "made a self-signed" } else { "serving the" },
                id.cert_path.display(),
                id.fingerprint
            );
        }
        match first_password {
            Some(p) => println!(
                "kyoka ui: first start: sign in as user \"admin\" with password {p}\n\
                 (shown once; change it with `kyoka user add admin --role admin --data {}`)",
                data.display()
            ),
            None => println!("kyoka ui: sign in with an account from `kyoka user add`"),
        }
        match identity {
            Some(id) => {
                let tls = forensics_ui::tls::TlsListener::new(listener, id.server_config()?)?;
                forensics_ui::serve_tls(state, tls).await?
            }
            None => forensics_ui::serve(state, listener).await?,
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
