//! A Redis MONITOR client: every command the server runs arrives as one
//! status line (`+1700000000.123 [0 10.0.0.9:5123] "SET" "k" "v"`), which is
//! shipped as it is. Redis does not log failed AUTH, but MONITOR shows it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::config::RedisMonitorConfig;

/// Longest MONITOR line read; longer ones are cut.
const LINE_MAX: usize = 64 * 1024;

pub(crate) fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Runs forever: connect, authenticate, MONITOR, emit each line; reconnect
/// with backoff when the connection ends.
pub fn run(
    config: RedisMonitorConfig,
    emit: &mut dyn FnMut(&[u8]),
    backoff_min: Duration,
    backoff_max: Duration,
) {
    let mut backoff = backoff_min;
    loop {
        match session(&config, emit, &mut backoff, backoff_min) {
            Ok(()) => {
                tracing::warn!(address = %config.address, "redis closed the MONITOR connection")
            }
            Err(e) => tracing::warn!(address = %config.address, error = %e, "redis MONITOR failed"),
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(backoff_max);
    }
}

fn session(
    config: &RedisMonitorConfig,
    emit: &mut dyn FnMut(&[u8]),
    backoff: &mut Duration,
    backoff_min: Duration,
) -> std::io::Result<()> {
    let (mut conn, mut reader) = connect(config)?;
    authenticate(config, &mut conn, &mut reader)?;
    conn.write_all(&command(&["MONITOR"]))?;
    expect_ok(&mut reader, "MONITOR")?;
    // Idle servers send nothing for long: no read timeout from here on.
    conn.set_read_timeout(None)?;
    *backoff = backoff_min;
    tracing::info!(address = %config.address, "redis MONITOR running");
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(LINE_MAX as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            // Cut: drop the rest of this line.
            let mut rest = Vec::new();
            reader.read_until(b'\n', &mut rest)?;
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        if let Some(text) = line.strip_prefix(b"+") {
            emit(text);
        }
    }
}

/// A connection to the server with a 10 s read timeout, and a reader on it.
pub(crate) fn connect(
    config: &RedisMonitorConfig,
) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let conn = TcpStream::connect_timeout(&config.address, Duration::from_secs(3))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let reader = BufReader::new(conn.try_clone()?);
    Ok((conn, reader))
}

/// Authenticates when the config has a password.
pub(crate) fn authenticate(
    config: &RedisMonitorConfig,
    conn: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
) -> std::io::Result<()> {
    if let Some(password) = &config.password {
        let auth = match &config.username {
            Some(user) => command(&["AUTH", user, password]),
            None => command(&["AUTH", password]),
        };
        conn.write_all(&auth)?;
        expect_ok(reader, "AUTH")?;
    }
    Ok(())
}

pub(crate) fn expect_ok(reader: &mut BufReader<TcpStream>, what: &str) -> std::io::Result<()> {
    let mut line = String::new();
    reader.by_ref().take(4096).read_line(&mut line)?;
    if line.starts_with("+OK") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("{what}: {}", line.trim())))
    }
}
