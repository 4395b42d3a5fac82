//! HTTPS with a certificate made on first start: kept on the next start,
//! its key readable by the owner only, its fingerprint the one openssl
//! computes; curl signs in over TLS and gets Secure cookies; curl without
//! `-k` trusts it only when given the certificate.

mod common;

use std::process::Command;

use common::*;

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl must be installed (scripts/deps.sh)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_made_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = forensics_ui::tls::load_or_create(&data, &["ui.example".into()]).unwrap();
    assert!(first.created);
    let again = forensics_ui::tls::load_or_create(&data, &[]).unwrap();
    assert!(!again.created, "the second start keeps the certificate");
    assert_eq!(first.fingerprint, again.fingerprint);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first.key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is the owner's alone");
    }
    // The fingerprint printed at start is the one openssl shows.
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&first.cert_path)
        .output()
        .expect("openssl must be installed");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.trim().split_once('=').map(|x| x.1), Some(first.fingerprint.as_str()), "{shown}");
    let out = Command::new("openssl").args(["x509", "-noout", "-ext", "subjectAltName", "-in"]).arg(&first.cert_path).output().unwrap();
    let names = String::from_utf8_lossy(&out.stdout);
    for n in ["DNS:localhost", "IP Address:127.0.0.1", "DNS:ui.example"] {
        assert!(names.contains(n), "the certificate is for {n}: {names}");
    }

    // Serve it, as `kyoka ui --tls` does.
    let (state, _) = forensics_ui::AppState::new(forensics_ui::Config {
        data: data.clone(),
        secure_cookies: true,
        redis_url: None,
    })
    .unwrap();
    state
        .update_accounts(|a| a.set_user(ANALYST.0, forensics_ui::Role::Analyst, ANALYST.1))
        .unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = forensics_ui::tls::TlsListener::new(tcp, again.server_config().unwrap()).unwrap();
    tokio::spawn(forensics_ui::serve_tls(state, listener));
    let base = format!("https://127.0.0.1:{port}");
    let cert = first.cert_path.display().to_string();
    let work = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let mut results = Vec::new();
        // Untrusted without -k or the certificate.
        results.push(curl(&[&format!("{base}/health")]));
        // Trusted with the certificate, by name and by address.
        results.push(curl(&["--cacert", &cert, "--resolve", &format!("localhost:{port}:127.0.0.1"), &format!("https://localhost:{port}/health")]));
        results.push(curl(&["--cacert", &cert, &format!("{base}/health")]));
        // Plain HTTP to the HTTPS port gets nothing.
        results.push(curl(&[&format!("http://127.0.0.1:{port}/health")]));
        // Sign in over TLS with curl -k and a cookie jar.
        let jar = work.join("jar.txt").display().to_string();
        let form = curl(&["-k", "-c", &jar, "-D", "-", &format!("{base}/login")]);
        let jar_text = std::fs::read_to_string(&jar).unwrap();
        let pre = jar_text
            .lines()
            .find(|l| l.contains("kyoka_pre"))
            .and_then(|l| l.split('\t').next_back())
            .unwrap()
            .to_string();
        let login = curl(&[
            "-k", "-b", &jar, "-c", &jar, "-D", "-", "-o", "/dev/null",
            "--data-urlencode", &format!("user={}", ANALYST.0),
            "--data-urlencode", &format!("password={}", ANALYST.1),
            "--data-urlencode", &format!("csrf={pre}"),
            &format!("{base}/login"),
        ]);
        let me = curl(&["-k", "-b", &jar, &format!("{base}/api/v1/me")]);
        results.extend([form, login, me]);
        results
    })
    .await
    .unwrap();
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!out[0].status.success(), "a self-signed certificate is not trusted by default");
    assert_eq!(text(&out[1]), "ok\n", "trusted by name with the certificate: {}", String::from_utf8_lossy(&out[1].stderr));
    assert_eq!(text(&out[2]), "ok\n", "trusted by address with the certificate: {}", String::from_utf8_lossy(&out[2].stderr));
    assert!(!out[3].status.success() || !text(&out[3]).contains("ok"), "no plain HTTP on the HTTPS port");
    let form_headers = text(&out[4]).to_lowercase();
    assert!(form_headers.contains("set-cookie: kyoka_pre=") && form_headers.contains("; secure"), "{form_headers}");
    let login_headers = text(&out[5]);
    assert!(login_headers.starts_with("HTTP/1.1 303"), "{login_headers}");
    let session = login_headers
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie: kyoka_session="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(session.contains(attr), "{session} has {attr}");
    }
    let me: serde_json::Value = serde_json::from_str(&text(&out[6])).unwrap();
    assert_eq!(me["name"], ANALYST.0, "signed in over HTTPS");
}

#[test]
fn half_a_certificate_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let made = forensics_ui::tls::load_or_create(dir.path(), &[]).unwrap();
    std::fs::remove_file(&made.key_path).unwrap();
    let e = forensics_ui::tls::load_or_create(dir.path(), &[]).err().expect("refused").to_string();
    assert!(e.contains("only one of cert.pem and key.pem"), "{e}");
    std::fs::write(&made.key_path, "not a key").unwrap();
    let e = forensics_ui::tls::load_or_create(dir.path(), &[]).err().expect("refused").to_string();
    assert!(e.contains("private key"), "{e}");
}
