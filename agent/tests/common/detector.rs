//! STAND-IN for the detector's policy API, for the agent's tests only until
//! the lead's end-to-end test joins the real detector and agent. It checks
//! request signatures and signs answers with `model::signing` exactly as
//! the contract says, and can be told to answer wrongly (unsigned, wrong
//! key, stale, another request's nonce) to prove the agent refuses that.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use model::policy::Policy;
use model::signing::{self, Signed, SignedMessage};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Good,
    Unsigned,
    WrongKey,
    Stale,
    OtherNonce,
    Unauthorized,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub signature_ok: bool,
    pub body: Vec<u8>,
}

struct State {
    key: String,
    policy: Option<Policy>,
    answer: Answer,
    streams: Vec<(TcpStream, String)>,
    seen: Vec<Seen>,
    nonces: Vec<String>,
}

#[derive(Clone)]
pub struct StandInDetector {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl StandInDetector {
    /// Serves on `listener` (bound by the caller, in any namespace).
    pub fn serve(listener: TcpListener, key: &str) -> StandInDetector {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            key: key.to_owned(),
            policy: None,
            answer: Answer::Good,
            streams: Vec::new(),
            seen: Vec::new(),
            nonces: Vec::new(),
        }));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || handle(conn, st));
            }
        });
        StandInDetector { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_answer(&self, answer: Answer) {
        self.state.lock().unwrap().answer = answer;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn open_streams(&self) -> usize {
        self.state.lock().unwrap().streams.len()
    }

    /// Makes `policy` current and pushes it to every open stream.
    pub fn publish(&self, policy: Policy) {
        let mut st = self.state.lock().unwrap();
        let body = serde_json::to_string(&policy).unwrap();
        st.policy = Some(policy);
        let key = st.key.clone();
        st.streams.retain_mut(|(s, nonce)| {
            send_event(s, &message(&key, nonce, &body, signing::now())).is_ok()
        });
    }

    /// Pushes raw event data built from each stream's nonce.
    pub fn push_raw(&self, make: impl Fn(&str, &str) -> String) {
        let mut st = self.state.lock().unwrap();
        let key = st.key.clone();
        st.streams
            .retain_mut(|(s, nonce)| send_event(s, &make(&key, nonce)).is_ok());
    }

    /// Cuts every open stream (as a detector restart would).
    pub fn drop_streams(&self) {
        let mut st = self.state.lock().unwrap();
        for (s, _) in st.streams.drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A signed push message, as the real detector must send it.
pub fn message(key: &str, nonce: &str, body: &str, timestamp: i64) -> String {
    let signature = Signed {
        first: signing::EVENT,
        path_and_query: "/api/v1/policy/stream",
        timestamp,
        nonce,
        body: body.as_bytes(),
    }
    .sign(key);
    serde_json::to_string(&SignedMessage {
        timestamp,
        nonce: nonce.to_owned(),
        signature,
        body: body.to_owned(),
    })
    .unwrap()
}

fn send_event(s: &mut TcpStream, data: &str) -> std::io::Result<()> {
    let chunk = format!("data: {data}\n\n");
    s.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
}

fn handle(conn: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut slots);
    if !matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) {
        return;
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let method = req.method.unwrap_or("").to_owned();
    let path = req.path.unwrap_or("").to_owned();
    let nonce = header(signing::NONCE_HEADER).unwrap_or_default();
    let key = state.lock().unwrap().key.clone();
    let signature_ok = match (
        header(signing::TIMESTAMP_HEADER),
        header(signing::SIGNATURE_HEADER),
        header(signing::AGENT_HEADER),
    ) {
        (Some(ts), Some(sig), Some(_agent)) => signing::parse_timestamp(&ts)
            .and_then(|timestamp| {
                Signed {
                    first: &method,
                    path_and_query: &path,
                    timestamp,
                    nonce: &nonce,
                    body: &body,
                }
                .verify(&key, &sig, signing::now())
            })
            .is_ok(),
        _ => false,
    };
    let answer = {
        let mut st = state.lock().unwrap();
        // A nonce seen before is a replay.
        let fresh = !st.nonces.contains(&nonce);
        st.nonces.push(nonce.clone());
        st.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            signature_ok: signature_ok && fresh,
            body: body.clone(),
        });
        if !(signature_ok && fresh) {
            Answer::Unauthorized
        } else {
            st.answer
        }
    };
    let mut conn = conn;
    if answer == Answer::Unauthorized {
        let _ = conn.write_all(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        return;
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/v1/policy/stream") => {
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
            );
            let mut st = state.lock().unwrap();
            let mut stream = conn;
            if let Some(p) = &st.policy {
                let body = serde_json::to_string(p).unwrap();
                if send_event(&mut stream, &message(&key, &nonce, &body, signing::now())).is_err() {
                    return;
                }
            }
            let _ = send_event_comment(&mut stream);
            st.streams.push((stream, nonce));
        }
        ("GET", "/api/v1/policy") => {
            let body = match &state.lock().unwrap().policy {
                Some(p) => serde_json::to_vec(p).unwrap(),
                None => {
                    let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
                    return;
                }
            };
            respond(&mut conn, answer, &key, &path, &nonce, &body);
        }
        ("POST", "/api/v1/agents/heartbeat") => {
            respond(&mut conn, answer, &key, &path, &nonce, b"{}")
        }
        _ => {
            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    }
}

fn send_event_comment(s: &mut TcpStream) -> std::io::Result<()> {
    let chunk = ": open\n\n";
    s.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
}

fn respond(conn: &mut TcpStream, answer: Answer, key: &str, path: &str, nonce: &str, body: &[u8]) {
    let mut timestamp = signing::now();
    let mut nonce = nonce.to_owned();
    let mut key = key.to_owned();
    match answer {
        Answer::Stale => timestamp -= 120,
        Answer::OtherNonce => nonce = signing::new_nonce(),
        Answer::WrongKey => key = signing::new_key(),
        _ => {}
    }
    let signature = Signed {
        first: signing::RESPONSE,
        path_and_query: path,
        timestamp,
        nonce: &nonce,
        body,
    }
    .sign(&key);
    let mut head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    if answer != Answer::Unsigned {
        head.push_str(&format!(
            "{}: {timestamp}\r\n{}: {nonce}\r\n{}: {signature}\r\n",
            signing::TIMESTAMP_HEADER,
            signing::NONCE_HEADER,
            signing::SIGNATURE_HEADER
        ));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
}
