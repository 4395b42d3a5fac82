//! Every daemon's log lines (the containers' stdout and stderr: sshd,
//! snoopy's command log, vsftpd's protocol log, MariaDB's general log,
//! Redis MONITOR, nginx's JSON access log, rsyncd, the MongoDB decoy) go to
//! the detector as RFC 5424 syslog over UDP, tagged with sandbox, attacker
//! and service. Containers have no route out, so the host forwards.

use std::collections::HashSet;
use std::sync::Arc;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use tokio::net::UdpSocket;

use crate::orchestrator::Orchestrator;
use crate::sandbox::SandboxInfo;

/// local0.info
const PRI: u8 = 134;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace(']', "\\]")
}

pub fn format_line(sandbox: &str, attacker: &str, service: &str, hostname: &str, line: &str) -> String {
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    format!(
        "<{PRI}>1 {ts} {hostname} {service} - - [kyoka@53595 sandbox=\"{}\" attacker=\"{}\" service=\"{}\"] {}",
        escape(sandbox),
        escape(attacker),
        escape(service),
        line.trim_end_matches(['\r', '\n'])
    )
}

/// Follows the logs of every container of `sb` not followed yet.
pub fn follow(o: &Arc<Orchestrator>, target: &str, sb: &SandboxInfo, followed: &mut HashSet<String>) {
    for (service, container) in &sb.containers {
        if !followed.insert(container.clone()) {
            continue;
        }
        let (o, target, container) = (o.clone(), target.to_string(), container.clone());
        let (id, attacker, service) = (sb.id.clone(), sb.attacker.clone().unwrap_or_default(), service.clone());
        tokio::spawn(async move {
            let Ok(sock) = UdpSocket::bind("0.0.0.0:0").await else { return };
            let since = chrono::Utc::now().timestamp() as i32;
            let mut logs = o.docker.logs(
                &container,
                Some(LogsOptions { follow: true, stdout: true, stderr: true, since, ..Default::default() }),
            );
            while let Some(Ok(chunk)) = logs.next().await {
                let bytes = match chunk {
                    LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message } => message,
                    LogOutput::StdIn { .. } => continue,
                };
                for line in String::from_utf8_lossy(&bytes).lines().filter(|l| !l.trim().is_empty()) {
                    let msg = format_line(&id, &attacker, &service, &o.config.hostname, line);
                    let _ = sock.send_to(msg.as_bytes(), &target).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_rfc5424_with_structured_data() {
        let l = super::format_line("sb-1", "203.0.113.7", "ssh", "srv01", "snoopy: id\r\n");
        assert!(l.starts_with("<134>1 "), "{l}");
        assert!(l.ends_with(r#"[kyoka@53595 sandbox="sb-1" attacker="203.0.113.7" service="ssh"] snoopy: id"#), "{l}");
    }
}
