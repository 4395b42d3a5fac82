//! "Is this service answering?" the way a client sees it: a paused container
//! still completes the TCP handshake (the kernel answers), so every probe
//! waits for the daemon's own banner or reply.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A MongoDB OP_MSG `{ping: 1, $db: "admin"}`.
fn mongo_ping() -> Vec<u8> {
    let mut doc = Vec::new();
    doc.extend_from_slice(&[0x10]);
    doc.extend_from_slice(b"ping\0");
    doc.extend_from_slice(&1i32.to_le_bytes());
    doc.extend_from_slice(&[0x02]);
    doc.extend_from_slice(b"$db\0");
    doc.extend_from_slice(&6i32.to_le_bytes());
    doc.extend_from_slice(b"admin\0");
    doc.push(0);
    let mut body = ((doc.len() + 4) as i32).to_le_bytes().to_vec();
    body.extend_from_slice(&doc);
    let mut msg = Vec::new();
    msg.extend_from_slice(&((16 + 5 + body.len()) as i32).to_le_bytes());
    msg.extend_from_slice(&1i32.to_le_bytes());
    msg.extend_from_slice(&0i32.to_le_bytes());
    msg.extend_from_slice(&2013i32.to_le_bytes());
    msg.extend_from_slice(&0u32.to_le_bytes());
    msg.push(0);
    msg.extend_from_slice(&body);
    msg
}

/// What to send (if anything) and what the answer starts with.
fn dialogue(service: &str) -> (Vec<u8>, &'static [u8]) {
    match service {
        "ssh" => (vec![], b"SSH-"),
        "ftp" => (vec![], b"220"),
        "rsync" => (vec![], b"@RSYNCD"),
        "http" => (b"HEAD / HTTP/1.0\r\n\r\n".to_vec(), b"HTTP/"),
        "redis" => (b"PING\r\n".to_vec(), b""),
        // The server greeting (any bytes) is the answer.
        "mysql" => (vec![], b""),
        "mongo" => (mongo_ping(), b""),
        _ => (vec![], b""),
    }
}

/// One attempt: connect, say hello, read the answer's first bytes.
pub async fn answers(service: &str, addr: SocketAddr, timeout: Duration) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let (hello, expect) = dialogue(service);
        if !hello.is_empty() {
            s.write_all(&hello).await.ok()?;
        }
        let mut buf = [0u8; 16];
        let mut got = 0;
        while got < expect.len().max(1) {
            let n = s.read(&mut buf[got..]).await.ok()?;
            if n == 0 {
                return None;
            }
            got += n;
        }
        buf[..got].starts_with(expect).then_some(())
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(())))
}

/// Retries until the service answers or `deadline` passes.
pub async fn wait_until_answers(service: &str, addr: SocketAddr, deadline: Duration) -> bool {
    let start = tokio::time::Instant::now();
    loop {
        let left = deadline.saturating_sub(start.elapsed());
        if left.is_zero() {
            return false;
        }
        if answers(service, addr, left.min(Duration::from_millis(500))).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
