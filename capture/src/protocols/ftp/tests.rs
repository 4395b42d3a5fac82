use std::net::{IpAddr, Ipv4Addr};

use model::events::ftp::{FtpCommand, FtpEvent, FtpLogin, FtpTransfer};
use model::{Direction, Event, EventBody, FlowRef, Timestamp, Transport};
use proptest::prelude::*;

use super::*;
use crate::artifact::ArtifactStore;
use crate::protocols::testkit::{self, Step};
use crate::protocols::Driver;

const S: Direction = Direction::ToServer;
const C: Direction = Direction::ToClient;

fn commands(events: &[Event]) -> Vec<FtpCommand> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Ftp(FtpEvent::Command(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn logins(events: &[Event]) -> Vec<FtpLogin> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Ftp(FtpEvent::Login(l)) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn transfers(events: &[Event]) -> Vec<(FtpTransfer, String)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Ftp(FtpEvent::Transfer(t)) => Some((t.clone(), e.flow.id.clone())),
            _ => None,
        })
        .collect()
}

use crate::protocols::testkit::anomalies;

fn summary(c: &FtpCommand) -> (String, String, Option<u16>, Option<String>) {
    (
        c.command.clone(),
        c.arg.clone(),
        c.reply_code,
        c.reply_msg.clone(),
    )
}

fn run(steps: &[Step<'_>]) -> Vec<Event> {
    testkit::run(new(), 21, steps).events
}

#[test]
fn probes_greetings_and_first_commands_strictly() {
    assert_eq!(
        probe(C, b"220 ftp.NetBSD.org FTP server ready.\r\n"),
        Probe::Match
    );
    assert_eq!(probe(C, b"220-FileZilla Server 1.9.1\r\n"), Probe::Match);
    assert_eq!(probe(C, b"22"), Probe::NeedMore);
    assert_eq!(probe(C, b"220 still typing"), Probe::NeedMore);
    assert_eq!(
        probe(C, b"220 mail.example.org ESMTP Postfix\r\n"),
        Probe::NoMatch
    );
    assert_eq!(probe(C, b"SSH-2.0-OpenSSH_9.2\r\n"), Probe::NoMatch);
    assert_eq!(probe(C, b"HTTP/1.1 200 OK\r\n"), Probe::NoMatch);
    assert_eq!(probe(C, b"+OK\r\n"), Probe::NoMatch);
    assert_eq!(probe(C, b"220 \x00\x01\r\n"), Probe::NoMatch);
    assert_eq!(probe(S, b"USER anonymous\r\n"), Probe::Match);
    assert_eq!(probe(S, b"user bob\r\n"), Probe::Match);
    assert_eq!(probe(S, b"AUTH TLS\r\n"), Probe::Match);
    assert_eq!(probe(S, b"FEAT\r\n"), Probe::Match);
    assert_eq!(probe(S, b"US"), Probe::NeedMore);
    assert_eq!(probe(S, b"AUTH"), Probe::NeedMore);
    assert_eq!(probe(S, b"AUTH default pass\r\n"), Probe::NoMatch);
    assert_eq!(probe(S, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    assert_eq!(probe(S, b"*1\r\n$4\r\nPING\r\n"), Probe::NoMatch);
    assert_eq!(probe(S, b"USER \x00\x01\x02\r\n"), Probe::NoMatch);
}

/// The control connection of Zeek's `ftp/ipv4.pcap` (banner shortened).
const IPV4_CLIENT: &[u8] = b"USER anonymous\r\nPASS test\r\nSYST\r\nPASV\r\nLIST\r\nTYPE I\r\nPASV\r\nRETR robots.txt\r\n\
TYPE A\r\nPORT 141,142,220,235,131,46\r\nLIST\r\nTYPE I\r\nPORT 141,142,220,235,147,203\r\nRETR robots.txt\r\nQUIT\r\n";

fn ipv4_steps() -> Vec<Step<'static>> {
    vec![
        Step::Data(C, b"220 ftp.NetBSD.org FTP server (NetBSD-ftpd 20100320) ready.\r\n"),
        Step::Data(S, b"USER anonymous\r\n"),
        Step::Data(C, b"331 Guest login ok, type your name as password.\r\n"),
        Step::Data(S, b"PASS test\r\n"),
        Step::Data(C, b"230-\r\n    The NetBSD Project FTP Server\r\n230-\r\n    EXPORT NOTICE\r\n"),
        Step::Data(C, b"230 Guest login ok, access restrictions apply.\r\n"),
        Step::Data(S, b"SYST\r\n"),
        Step::Data(C, b"215 UNIX Type: L8 Version: NetBSD-ftpd 20100320\r\n"),
        Step::Data(S, b"PASV\r\n"),
        Step::Data(C, b"227 Entering Passive Mode (199,233,217,249,221,90)\r\n"),
        Step::Data(S, b"LIST\r\n"),
        Step::Data(C, b"150 Opening ASCII mode data connection for '/bin/ls'.\r\n"),
        Step::Data(C, b"226 Transfer complete.\r\n"),
        Step::Data(S, b"TYPE I\r\n"),
        Step::Data(C, b"200 Type set to I.\r\n"),
        Step::Data(S, b"PASV\r\n"),
        Step::Data(C, b"227 Entering Passive Mode (199,233,217,249,221,91)\r\n"),
        Step::Data(S, b"RETR robots.txt\r\n"),
        Step::Data(C, b"150 Opening BINARY mode data connection for 'robots.txt' (77 bytes).\r\n"),
        Step::Data(C, b"226 Transfer complete.\r\n"),
        Step::Data(S, b"TYPE A\r\n"),
        Step::Data(C, b"200 Type set to A.\r\n"),
        Step::Data(S, b"PORT 141,142,220,235,131,46\r\n"),
        Step::Data(C, b"200 PORT command successful.\r\n"),
        Step::Data(S, b"LIST\r\n"),
        Step::Data(C, b"150 Opening ASCII mode data connection for '/bin/ls'.\r\n"),
        Step::Data(C, b"226 Transfer complete.\r\n"),
        Step::Data(S, b"TYPE I\r\n"),
        Step::Data(C, b"200 Type set to I.\r\n"),
        Step::Data(S, b"PORT 141,142,220,235,147,203\r\n"),
        Step::Data(C, b"200 PORT command successful.\r\n"),
        Step::Data(S, b"RETR robots.txt\r\n"),
        Step::Data(C, b"150 Opening BINARY mode data connection for 'robots.txt' (77 bytes).\r\n"),
        Step::Data(C, b"226 Transfer complete.\r\n"),
        Step::Data(S, b"QUIT\r\n"),
        Step::Data(C, b"221-\r\n    Data traffic for this session was 154 bytes in 2 files.\r\n221 Thank you for using the FTP service on ftp.NetBSD.org.\r\n"),
    ]
}

#[test]
fn pairs_every_command_with_its_final_reply() {
    let out = testkit::run(new(), 21, &ipv4_steps());
    let cmds = commands(&out.events);
    let got: Vec<_> = cmds.iter().map(summary).collect();
    let s = |c: &str, a: &str, code: u16, m: &str| {
        (
            c.to_string(),
            a.to_string(),
            Some(code),
            Some(m.to_string()),
        )
    };
    assert_eq!(
        got[0],
        s(
            "<init>",
            "",
            220,
            "ftp.NetBSD.org FTP server (NetBSD-ftpd 20100320) ready."
        )
    );
    assert_eq!(
        got[2],
        s(
            "PASS",
            "test",
            230,
            "Guest login ok, access restrictions apply."
        )
    );
    assert_eq!(got[5], s("LIST", "", 226, "Transfer complete."));
    assert_eq!(got[8], s("RETR", "robots.txt", 226, "Transfer complete."));
    assert_eq!(got[15].0, "QUIT");
    assert_eq!(got.len(), 16);
    assert_eq!(cmds[2].reply_text.as_deref(), Some("230-\n    The NetBSD Project FTP Server\n230-\n    EXPORT NOTICE\n230 Guest login ok, access restrictions apply."));
    assert_eq!(cmds[8].preliminary_code, Some(150));
    assert_eq!(cmds[8].file_size, Some(77));
    assert_eq!(cmds[8].path.as_deref(), Some("./robots.txt"));
    assert!(cmds
        .iter()
        .skip(1)
        .all(|c| c.user.as_deref() == Some("anonymous")));
    assert_eq!(
        logins(&out.events),
        vec![FtpLogin {
            user: "anonymous".into(),
            password: "test".into(),
            success: true
        }]
    );
    assert!(
        anomalies(&out.events).is_empty(),
        "{:?}",
        anomalies(&out.events)
    );

    // PASV: the FTP server listens; PORT: the FTP client does.
    let pasv = cmds[4].data_channel.clone().unwrap();
    assert!(pasv.passive);
    assert_eq!(pasv.server_ip, "199.233.217.249".parse::<IpAddr>().unwrap());
    assert_eq!(pasv.server_port, 56666);
    let port = cmds[10].data_channel.clone().unwrap();
    assert!(!port.passive);
    assert_eq!(
        (port.server_ip, port.server_port),
        ("141.142.220.235".parse().unwrap(), 33582)
    );
    assert_eq!(port.client_ip, testkit::flow(21).dst_ip);
    // Announced addresses differ from the test flow's, so the flow's own
    // addresses are expected too.
    assert_eq!(out.expectations.len(), 8);
    let e = &out.expectations[0];
    assert_eq!(
        (e.server_ip, e.server_port, e.client_ip),
        (pasv.server_ip, 56666, Some(testkit::flow(21).src_ip))
    );

    // No data connection was run: the transfers are reported from the
    // control connection with what it knows.
    let t = transfers(&out.events);
    let dirs: Vec<_> = t.iter().map(|(t, _)| t.direction.as_str()).collect();
    assert_eq!(dirs, ["listing", "download", "listing", "download"]);
    assert_eq!(t[1].0.path.as_deref(), Some("./robots.txt"));
    assert_eq!(t[1].0.size, None);
    assert_eq!(t[1].0.expected_size, Some(77));
    assert_eq!(t[1].0.reply_code, Some(226));
}

#[test]
fn same_events_however_the_stream_is_chunked() {
    let whole = run(&ipv4_steps());
    for size in [1, 2, 3, 7, 64] {
        let mut steps = Vec::new();
        for step in ipv4_steps() {
            if let Step::Data(dir, bytes) = step {
                steps.extend(testkit::chunked(dir, bytes, size));
            }
        }
        let chunked = run(&steps);
        assert_eq!(bodies(&chunked), bodies(&whole), "chunk size {size}");
    }
}

fn bodies(events: &[Event]) -> Vec<EventBody> {
    events.iter().map(|e| e.body.clone()).collect()
}

#[test]
fn multi_line_reply_keeps_the_last_line_and_all_text() {
    let events = run(&[
        Step::Data(
            C,
            b"220-     Welcome to FTP.JPIX.ad.jp,\r\n220- \r\n220 FTP server ready.\r\n",
        ),
        Step::Data(S, b"USER anonymous\r\n"),
        Step::Data(
            C,
            b"331 Guest login ok, send your email address as password.\r\n",
        ),
    ]);
    let cmds = commands(&events);
    assert_eq!(cmds[0].command, "<init>");
    assert_eq!(cmds[0].reply_msg.as_deref(), Some("FTP server ready."));
    assert_eq!(
        cmds[0].reply_text.as_deref(),
        Some("220-     Welcome to FTP.JPIX.ad.jp,\n220- \n220 FTP server ready.")
    );
    assert_eq!(cmds[1].reply_code, Some(331));
}

#[test]
fn tracks_the_working_directory() {
    let events = run(&[
        Step::Data(C, b"220 ready\r\n"),
        Step::Data(S, b"PWD\r\n"),
        Step::Data(C, b"257 \"/\" is current directory.\r\n"),
        Step::Data(S, b"CWD pub/FreeBSD/ports\r\n"),
        Step::Data(C, b"250 CWD command successful.\r\n"),
        Step::Data(S, b"CWD nope\r\n"),
        Step::Data(C, b"550 nope: No such file or directory.\r\n"),
        Step::Data(S, b"CDUP\r\n"),
        Step::Data(C, b"250 CDUP command successful.\r\n"),
        Step::Data(S, b"STOR ../x.sh\r\n"),
        Step::Data(C, b"150 Ok to send data.\r\n226 Transfer complete.\r\n"),
    ]);
    let cmds = commands(&events);
    assert_eq!(cmds[5].path.as_deref(), Some("/pub/x.sh"));
    let t = transfers(&events);
    assert_eq!(t[0].0.direction, "upload");
    assert_eq!(t[0].0.path.as_deref(), Some("/pub/x.sh"));
}

#[test]
fn logins_succeed_fail_and_need_no_password() {
    let events = run(&[
        Step::Data(C, b"220 py.fake ready\r\n"),
        Step::Data(S, b"USER zeek\r\n"),
        Step::Data(C, b"230 USER OK\r\n"),
        Step::Data(S, b"USER Admin\r\n"),
        Step::Data(C, b"331 Please, specify the password.\r\n"),
        Step::Data(S, b"PASS qwerty\r\n"),
        Step::Data(C, b"530 Login incorrect.\r\n"),
        Step::Data(S, b"USER root\r\n"),
        Step::Data(C, b"530 Permission denied.\r\n"),
    ]);
    let l = |u: &str, p: &str, ok: bool| FtpLogin {
        user: u.into(),
        password: p.into(),
        success: ok,
    };
    assert_eq!(
        logins(&events),
        vec![
            l("zeek", "", true),
            l("Admin", "qwerty", false),
            l("root", "", false)
        ]
    );
}

#[test]
fn reply_without_code_is_an_anomaly_and_still_answers() {
    let events = run(&[
        Step::Data(C, b"220 py.fake ready\r\n"),
        Step::Data(S, b"SYST\r\n"),
        Step::Data(C, b"SYST not supported\r\n"),
        Step::Data(S, b"QUIT\r\n"),
        Step::Data(C, b"221 Bye\r\n"),
    ]);
    let cmds = commands(&events);
    assert_eq!(
        summary(&cmds[1]),
        (
            "SYST".into(),
            "".into(),
            None,
            Some("SYST not supported".into())
        )
    );
    assert_eq!(cmds[2].reply_code, Some(221));
    assert_eq!(anomalies(&events), ["bad_reply"]);
}

#[test]
fn unanswered_and_unsolicited() {
    let events = run(&[
        Step::Data(C, b"220 ready\r\n"),
        Step::Data(S, b"RETR a\r\n"),
        Step::Data(
            C,
            b"550 a: No such file.\r\n221 You could at least say goodbye.\r\n",
        ),
        Step::Data(S, b"NOOP\r\n"),
    ]);
    let got: Vec<_> = commands(&events)
        .iter()
        .map(|c| (c.command.clone(), c.reply_code))
        .collect();
    assert_eq!(
        got,
        [
            ("<init>".to_string(), Some(220)),
            ("RETR".to_string(), Some(550)),
            ("<unsolicited>".to_string(), Some(221)),
            ("NOOP".to_string(), None)
        ]
    );
}

#[test]
fn overlong_lines_are_skipped_and_parsing_resumes() {
    let mut long = b"USER ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 5000));
    long.extend_from_slice(b"\r\nUSER bob\r\n");
    for size in [100, 10_000] {
        let mut steps = vec![Step::Data(C, b"220 ready\r\n")];
        steps.extend(testkit::chunked(S, &long, size));
        steps.push(Step::Data(C, b"331 Password?\r\n"));
        let events = run(&steps);
        assert_eq!(anomalies(&events), ["line_too_long"]);
        let cmds = commands(&events);
        assert_eq!(
            (
                cmds[1].command.as_str(),
                cmds[1].arg.as_str(),
                cmds[1].reply_code
            ),
            ("USER", "bob", Some(331))
        );
    }
}

#[test]
fn gaps_resynchronise_at_the_next_line() {
    let events = run(&[
        Step::Data(C, b"220 ready\r\n"),
        Step::Data(S, b"USER bob\r\nPA"),
        Step::Gap(S, 10),
        Step::Data(S, b"ss\r\nSYST\r\n"),
        Step::Data(C, b"331 Password?\r\n"),
        Step::Gap(C, 20),
        Step::Data(C, b"215 UNIX Type: L8\r\n"),
    ]);
    let got: Vec<_> = commands(&events)
        .iter()
        .map(|c| (c.command.clone(), c.reply_code))
        .collect();
    assert_eq!(
        got,
        [
            ("<init>".to_string(), Some(220)),
            ("USER".to_string(), Some(331)),
            ("SYST".to_string(), Some(215))
        ]
    );
}

#[test]
fn auth_tls_ends_the_readable_part() {
    let out = testkit::run(
        new(),
        21,
        &[
            Step::Data(C, b"220 ready\r\n"),
            Step::Data(S, b"AUTH TLS\r\n"),
            Step::Data(C, b"234 Proceed with negotiation.\r\n\x16\x03\x01\x02\x00"),
            Step::Data(S, b"\x16\x03\x01\x00\xa5\x01\x00"),
        ],
    );
    assert_eq!(commands(&out.events).len(), 2);
    assert!(anomalies(&out.events).is_empty());
}

/// Runs a control and a data connection interleaved, as the engine does.
struct Net {
    events: Vec<Event>,
    expectations: Vec<Expectation>,
    artifacts: ArtifactStore,
    ts: Timestamp,
}

impl Net {
    fn new() -> Net {
        Net {
            events: Vec::new(),
            expectations: Vec::new(),
            artifacts: ArtifactStore::hash_only(),
            ts: Timestamp::from_timeval(1_700_000_000, 0),
        }
    }

    fn data(&mut self, driver: &mut Driver, flow: &FlowRef, dir: Direction, bytes: &[u8]) {
        self.ts = Timestamp(self.ts.0 + 1000);
        let mut ctx = Ctx::new(
            self.ts,
            flow,
            &mut self.events,
            &self.artifacts,
            &mut self.expectations,
        );
        driver.data(dir, bytes, &mut ctx);
    }

    fn close(&mut self, driver: &mut Driver, flow: &FlowRef) {
        self.ts = Timestamp(self.ts.0 + 1000);
        let mut ctx = Ctx::new(
            self.ts,
            flow,
            &mut self.events,
            &self.artifacts,
            &mut self.expectations,
        );
        driver.close(&mut ctx);
    }

    /// Opens the data connection an expectation announced.
    fn open(&mut self, client: IpAddr, server: IpAddr, port: u16) -> (Driver, FlowRef) {
        let at = self
            .expectations
            .iter()
            .position(|e| {
                e.server_ip == server
                    && e.server_port == port
                    && e.client_ip.is_none_or(|c| c == client)
            })
            .expect("expectation");
        let e = self.expectations.remove(at);
        let flow = FlowRef {
            id: format!("1:data-{port}"),
            src_ip: client,
            src_port: 50000,
            dst_ip: server,
            dst_port: port,
            transport: Transport::Tcp,
        };
        (Driver::new(e.dissector), flow)
    }
}

#[test]
fn links_data_connections_to_their_transfers() {
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let server = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let control = FlowRef {
        id: "1:control".into(),
        src_ip: client,
        src_port: 40000,
        dst_ip: server,
        dst_port: 21,
        transport: Transport::Tcp,
    };
    let mut net = Net::new();
    let mut ftp = Driver::new(new());
    net.data(&mut ftp, &control, C, b"220 ready\r\n");
    net.data(&mut ftp, &control, S, b"PASV\r\n");
    net.data(
        &mut ftp,
        &control,
        C,
        b"227 Entering Passive Mode (10,0,0,2,19,137).\r\n",
    );
    // The client connects before it sends the command, as curl does.
    let (mut download, down_flow) = net.open(client, server, 5001);
    net.data(&mut ftp, &control, S, b"RETR /etc/passwd\r\n");
    net.data(
        &mut ftp,
        &control,
        C,
        b"150 Opening BINARY mode data connection (11 bytes).\r\n",
    );
    net.data(&mut download, &down_flow, C, b"hello ");
    net.data(&mut download, &down_flow, C, b"world");
    net.data(&mut ftp, &control, C, b"226 Transfer complete.\r\n");
    net.close(&mut download, &down_flow);

    // Active mode upload: the server connects to the client's port.
    net.data(&mut ftp, &control, S, b"EPRT |1|10.0.0.1|6000|\r\n");
    net.data(&mut ftp, &control, C, b"200 EPRT command successful.\r\n");
    net.data(&mut ftp, &control, S, b"STOR x.sh\r\n");
    net.data(&mut ftp, &control, C, b"150 Ok to send data.\r\n");
    let (mut upload, up_flow) = net.open(server, client, 6000);
    net.data(&mut upload, &up_flow, S, b"#!/bin/sh\n");
    net.close(&mut upload, &up_flow);
    net.data(&mut ftp, &control, C, b"226 Transfer complete.\r\n");
    net.close(&mut ftp, &control);

    let t = transfers(&net.events);
    assert_eq!(t.len(), 2);
    let (down, down_emitter) = &t[0];
    assert_eq!(
        down_emitter, "1:data-5001",
        "emitted by the data connection, which closed last"
    );
    assert_eq!(down.direction, "download");
    assert_eq!(down.path.as_deref(), Some("/etc/passwd"));
    assert_eq!(down.size, Some(11));
    assert_eq!(
        down.sha256.as_deref(),
        Some("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
    );
    assert_eq!(down.control_flow, "1:control");
    assert_eq!(down.data_flow.as_deref(), Some("1:data-5001"));
    assert_eq!(
        (down.reply_code, down.expected_size, down.passive),
        (Some(226), Some(11), Some(true))
    );
    let (up, up_emitter) = &t[1];
    assert_eq!(
        up_emitter, "1:control",
        "emitted by the control connection, whose reply came last"
    );
    assert_eq!(up.direction, "upload");
    assert_eq!(up.path.as_deref(), Some("./x.sh"));
    assert_eq!(up.size, Some(10));
    assert_eq!(up.data_flow.as_deref(), Some("1:data-6000"));
    assert_eq!(up.passive, Some(false));
}

#[test]
fn transfer_without_final_reply_is_reported_at_close() {
    let out = testkit::run(
        new(),
        21,
        &[
            Step::Data(C, b"220 ready\r\n"),
            Step::Data(S, b"PASV\r\nRETR a\r\n"),
        ],
    );
    let t = transfers(&out.events);
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].0.direction.as_str(), t[0].0.reply_code),
        ("download", None)
    );
    assert_eq!(commands(&out.events).len(), 3);
}

proptest! {
    #[test]
    fn chunking_never_changes_events(cuts in proptest::collection::vec(1usize..40, 1..20)) {
        let client: Vec<u8> = IPV4_CLIENT.to_vec();
        let whole = run(&ipv4_steps());
        // Same conversation, client bytes cut at arbitrary points, with
        // every server reply sent before the next command.
        let mut steps = Vec::new();
        let mut at = 0;
        for (i, step) in ipv4_steps().into_iter().enumerate() {
            if let Step::Data(dir, bytes) = step {
                let size = cuts[i % cuts.len()];
                steps.extend(testkit::chunked(dir, bytes, size));
                if dir == S { at += bytes.len(); }
            }
        }
        prop_assert_eq!(at, client.len());
        prop_assert_eq!(bodies(&run(&steps)), bodies(&whole));
    }

    #[test]
    fn never_panics_on_any_bytes(
        chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..30),
        gap_at in proptest::option::of(0usize..30),
    ) {
        let mut steps = Vec::new();
        for (i, (to_server, bytes)) in chunks.iter().enumerate() {
            let dir = if *to_server { S } else { C };
            if gap_at == Some(i) { steps.push(Step::Gap(dir, 7)); }
            steps.push(Step::Data(dir, bytes));
        }
        let _ = run(&steps);
    }

    #[test]
    fn never_panics_on_damaged_sessions(flips in proptest::collection::vec((0usize..2000, any::<u8>()), 0..20), cut in 0usize..2000, dup in 0usize..36) {
        let steps = ipv4_steps();
        let mut owned: Vec<(Direction, Vec<u8>)> = steps.iter().filter_map(|s| match s {
            Step::Data(d, b) => Some((*d, b.to_vec())),
            Step::Gap(..) => None,
        }).collect();
        let mut total = 0;
        for (_, b) in owned.iter_mut() {
            for &(at, x) in &flips {
                if at >= total && at < total + b.len() { b[at - total] ^= x; }
            }
            total += b.len();
        }
        if let Some(copy) = owned.get(dup % owned.len()).cloned() { owned.insert(dup % owned.len(), copy); }
        let mut left = cut;
        let mut truncated = Vec::new();
        for (d, b) in owned {
            if left == 0 { break; }
            let n = b.len().min(left);
            left -= n;
            truncated.push((d, b[..n].to_vec()));
        }
        let steps: Vec<Step<'_>> = truncated.iter().map(|(d, b)| Step::Data(*d, b)).collect();
        let _ = run(&steps);
    }
}

#[test]
fn empty_data_connection_closing_after_the_reply_adds_no_record() {
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let server = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let control = FlowRef {
        id: "1:control".into(),
        src_ip: client,
        src_port: 40000,
        dst_ip: server,
        dst_port: 21,
        transport: Transport::Tcp,
    };
    let mut net = Net::new();
    let mut ftp = Driver::new(new());
    net.data(&mut ftp, &control, C, b"220 ready\r\n");
    net.data(&mut ftp, &control, S, b"EPSV\r\n");
    net.data(
        &mut ftp,
        &control,
        C,
        b"229 Entering Extended Passive Mode (|||5001|)\r\n",
    );
    let (mut empty, flow) = net.open(client, server, 5001);
    net.data(&mut ftp, &control, S, b"RETR empty\r\n");
    net.data(&mut ftp, &control, C, b"150 Here.\r\n226 Done.\r\n");
    net.close(&mut empty, &flow);
    net.close(&mut ftp, &control);
    let t = transfers(&net.events);
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].0.size, t[0].0.reply_code), (None, Some(226)));
}

/// The real capture in `testdata/` (see its README), through the engine:
/// every kind of data connection is linked to its command.
#[test]
fn vsftpd_capture_links_every_transfer() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/protocols/ftp/testdata/vsftpd.pcap");
    let events = crate::engine::dissect_file(&path, &ArtifactStore::hash_only()).unwrap();
    const HELLO: &str = "d0a3dac3c348bbe1a05c55dc4f817cf8ac019bb1415d8e65eb9f12eafd1835b1";
    const BLOB: &str = "55ae4f23e07c5e2ff4fdaf2eeeffa626fd69cf3385c1bf8db5e1bd44bbaa8163";
    const SCRIPT: &str = "cebf25e0668376ce72d60cc05894de697b174396e5036fdb525363c351bf1f9b";
    const LISTING: &str = "36e14d88973bf94be54e14d45812625761cc6966ff28bb9c6bfd367bc4d67d3b";
    let got: Vec<_> = transfers(&events)
        .into_iter()
        .map(|(t, _)| {
            assert!(t.data_flow.is_some());
            assert_eq!((t.reply_code, t.missing_bytes), (Some(226), 0));
            (t.direction, t.path, t.size, t.sha256, t.passive)
        })
        .collect();
    let t = |d: &str, p: Option<&str>, size: u64, sha: &str, passive: bool| {
        (
            d.to_string(),
            p.map(String::from),
            Some(size),
            Some(sha.to_string()),
            Some(passive),
        )
    };
    assert_eq!(
        got,
        [
            t("listing", None, 133, LISTING, true),
            t("download", Some("/pub/hello.txt"), 23, HELLO, true),
            t("download", Some("/pub/blob.bin"), 20000, BLOB, true),
            t("download", Some("/pub/hello.txt"), 23, HELLO, false),
            t("download", Some("/pub/blob.bin"), 20000, BLOB, false),
            t("upload", Some("/upload/x.sh"), 21, SCRIPT, true),
            t("listing", None, 133, LISTING, true),
            t("download", Some("/pub/hello.txt"), 23, HELLO, true),
            t("upload", Some("/upload/y.sh"), 21, SCRIPT, true),
        ]
    );
    let l = logins(&events);
    assert_eq!(l.len(), 8);
    assert_eq!(l.iter().filter(|l| !l.success).count(), 1);
    assert_eq!((l[6].user.as_str(), l[6].success), ("root", false));
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    let cmds = commands(&events);
    assert!(
        cmds.iter().all(|c| c.reply_code.is_some()),
        "every command answered"
    );
    assert!(cmds.iter().any(|c| c.command == "EPRT"));
    assert!(cmds.iter().any(|c| c.command == "PORT"));
}

/// IPv6 `EPSV`/`EPRT` and a hydra run against an anonymous-only server.
#[test]
fn vsftpd_ipv6_and_hydra_capture() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/protocols/ftp/testdata/vsftpd-ipv6-hydra.pcap");
    let events = crate::engine::dissect_file(&path, &ArtifactStore::hash_only()).unwrap();
    let got: Vec<_> = transfers(&events)
        .into_iter()
        .map(|(t, _)| (t.direction, t.path, t.size, t.passive))
        .collect();
    assert_eq!(
        got,
        [
            (
                "download".to_string(),
                Some("/pub/hello.txt".to_string()),
                Some(23),
                Some(true)
            ),
            (
                "download".to_string(),
                Some("/pub/blob.bin".to_string()),
                Some(20000),
                Some(false)
            ),
            (
                "upload".to_string(),
                Some("/upload/z.sh".to_string()),
                Some(21),
                Some(true)
            ),
        ]
    );
    let eprt = commands(&events)
        .into_iter()
        .find(|c| c.command == "EPRT")
        .unwrap();
    let channel = eprt.data_channel.unwrap();
    assert_eq!(
        (channel.server_ip, channel.passive),
        ("fd99::2".parse::<IpAddr>().unwrap(), false)
    );
    let failed: Vec<_> = logins(&events)
        .into_iter()
        .filter(|l| !l.success)
        .map(|l| l.user)
        .collect();
    assert_eq!(failed, ["root", "root", "admin", "admin"]);
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
}

#[test]
fn working_directory_stays_bounded() {
    let mut client = Vec::new();
    let component = "d".repeat(1000);
    for _ in 0..20 {
        client.extend_from_slice(format!("CWD {component}\r\n").as_bytes());
    }
    client.extend_from_slice(b"RETR f\r\n");
    let mut replies = Vec::new();
    for _ in 0..20 {
        replies.extend_from_slice(b"250 ok\r\n");
    }
    let events = run(&[
        Step::Data(C, b"220 ready\r\n"),
        Step::Data(S, &client),
        Step::Data(C, &replies),
    ]);
    let retr = commands(&events)
        .into_iter()
        .find(|c| c.command == "RETR")
        .unwrap();
    assert!(retr.path.unwrap().len() <= 2 * MAX_LINE);
}
