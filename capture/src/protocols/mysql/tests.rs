//! Scripted connections: real streams from the peer fixtures, and
//! hand-made ones for what the fixtures lack.

use model::events::mysql::{MysqlCommand, MysqlEvent, MysqlGreeting, MysqlLogin};
use model::{Direction, Event, EventBody};
use proptest::prelude::*;

use super::SPEC;
use crate::protocols::testkit::{run, Step};

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

/// A stream file: one segment a line, `>` client to server, `<` back.
fn stream(name: &str) -> Vec<(Direction, Vec<u8>)> {
    let text = match name {
        "caching_sha2_password_0" => include_str!("testdata/caching_sha2_password_0.stream"),
        "caching_sha2_password_1" => include_str!("testdata/caching_sha2_password_1.stream"),
        "caching_sha2_password_2" => include_str!("testdata/caching_sha2_password_2.stream"),
        "change-user-error_0" => include_str!("testdata/change-user-error_0.stream"),
        "selects_with_new_proto_0" => include_str!("testdata/selects_with_new_proto_0.stream"),
        "wireshark_0" => include_str!("testdata/wireshark_0.stream"),
        "mariadb_0" => include_str!("testdata/mariadb_0.stream"),
        "mariadb_1" => include_str!("testdata/mariadb_1.stream"),
        "mariadb_2" => include_str!("testdata/mariadb_2.stream"),
        "own_native_password_0" => include_str!("testdata/own_native_password_0.stream"),
        _ => panic!("no stream {name}"),
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (dir, hex) = l.split_at(2);
            let dir = if dir.starts_with('>') { C } else { S };
            (dir, hex::decode(hex).unwrap())
        })
        .collect()
}

fn dissect(segments: &[(Direction, Vec<u8>)]) -> Vec<Event> {
    let steps: Vec<Step<'_>> = segments.iter().map(|(d, b)| Step::Data(*d, b)).collect();
    run((SPEC.new)(), 3306, &steps).events
}

/// Each segment cut into pieces of `size` bytes.
fn dissect_chunked(segments: &[(Direction, Vec<u8>)], size: usize) -> Vec<Event> {
    let steps: Vec<Step<'_>> = segments
        .iter()
        .flat_map(|(d, b)| b.chunks(size.max(1)).map(move |c| Step::Data(*d, c)))
        .collect();
    run((SPEC.new)(), 3306, &steps).events
}

fn commands(events: &[Event]) -> Vec<MysqlCommand> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Mysql(MysqlEvent::Command(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn logins(events: &[Event]) -> Vec<MysqlLogin> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Mysql(MysqlEvent::Login(l)) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn greetings(events: &[Event]) -> Vec<MysqlGreeting> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Mysql(MysqlEvent::Greeting(g)) => Some(g.clone()),
            _ => None,
        })
        .collect()
}

fn anomalies(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.type_name() == "anomaly")
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

/// (command, arg, success, rows, affected rows, error)
type Row = (
    String,
    String,
    Option<bool>,
    Option<u64>,
    Option<u64>,
    Option<String>,
);

fn rows(events: &[Event]) -> Vec<Row> {
    commands(events)
        .into_iter()
        .map(|c| {
            (
                c.command,
                c.arg,
                c.success,
                c.rows,
                c.affected_rows,
                c.error,
            )
        })
        .collect()
}

fn row(
    cmd: &str,
    arg: &str,
    success: Option<bool>,
    rows: Option<u64>,
    affected: Option<u64>,
) -> Row {
    (cmd.into(), arg.into(), success, rows, affected, None)
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut p = len.to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

#[test]
fn old_server_with_eof_packets() {
    let events = dissect(&stream("wireshark_0"));
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    let g = &greetings(&events)[0];
    assert_eq!(g.server_version.as_deref(), Some("5.0.54"));
    assert_eq!(g.connection_id, Some(94));
    let l = &logins(&events)[0];
    assert_eq!((l.user.as_str(), l.success), ("tfoerste", Some(true)));
    let got = rows(&events);
    let t = Some(true);
    assert_eq!(
        got[0],
        row(
            "query",
            "select @@version_comment limit 1",
            t,
            Some(1),
            None
        )
    );
    assert_eq!(got[1], row("query", "SELECT DATABASE()", t, Some(1), None));
    assert_eq!(got[2], row("init_db", "test", t, None, Some(0)));
    assert_eq!(got[3], row("query", "show databases", t, Some(2), None));
    assert_eq!(got[5], row("field_list", "agent", t, None, None));
    assert_eq!(commands(&events)[5].columns, Some(4));
    assert_eq!(
        got[7],
        row(
            "query",
            "insert into foo (animal, name) values (\"dog\", \"Goofy\")",
            t,
            None,
            Some(1)
        )
    );
    assert_eq!(got[9], row("query", "select * from foo", t, Some(2), None));
    assert_eq!(got.last().unwrap(), &row("quit", "", None, None, None));
    assert_eq!(got.len(), 17);
    assert!(commands(&events)
        .iter()
        .all(|c| c.user.as_deref() == Some("tfoerste")));
}

#[test]
fn caching_sha2_full_auth_deprecate_eof_and_query_attributes() {
    let events = dissect(&stream("caching_sha2_password_1"));
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    let l = &logins(&events)[0];
    assert_eq!(l.user, "root");
    assert_eq!(l.database.as_deref(), Some("test"));
    assert_eq!(l.auth_plugin.as_deref(), Some("caching_sha2_password"));
    assert_eq!(l.success, Some(true));
    assert_eq!(
        l.client_attributes.get("_client_name").map(String::as_str),
        Some("libmysql")
    );
    let got = rows(&events);
    let t = Some(true);
    assert_eq!(got[0], row("query", "show databases", t, Some(5), None));
    assert_eq!(got[1], row("query", "show tables", t, Some(1), None));
    assert_eq!(got[2], row("field_list", "t", t, None, None));
    assert_eq!(
        got[3],
        row(
            "query",
            "select @@version_comment limit 1",
            t,
            Some(1),
            None
        )
    );
    assert_eq!(got[4], row("quit", "", None, None, None));
    assert_eq!(got.len(), 5);
}

#[test]
fn failed_login_reports_the_error() {
    let events = dissect(&stream("caching_sha2_password_0"));
    let l = &logins(&events)[0];
    assert_eq!(l.success, Some(false));
    assert_eq!(
        l.error.as_deref(),
        Some("Got an error reading communication packets")
    );
    assert_eq!(l.error_code, Some(1158));
    assert!(commands(&events).is_empty());
}

#[test]
fn change_user_reauthenticates() {
    let events = dissect(&stream("change-user-error_0"));
    let l = logins(&events);
    assert_eq!(l.len(), 2);
    assert_eq!((l[0].user.as_str(), l[0].success), ("root", Some(true)));
    assert_eq!(
        l[0].auth_plugin.as_deref(),
        Some("mysql_native_password"),
        "after the auth switch"
    );
    assert!(l[1].change_user);
    assert_eq!(
        (l[1].user.as_str(), l[1].success, l[1].error_code),
        ("root2", Some(false), Some(1045))
    );
    let c = commands(&events);
    assert_eq!(
        (c[0].command.as_str(), c[0].success, c[0].affected_rows),
        ("ping", Some(true), Some(0))
    );
    assert_eq!(
        (c[1].command.as_str(), c[1].arg.as_str(), c[1].success),
        ("change_user", "root2", Some(false))
    );
    assert_eq!(
        c[1].error.as_deref(),
        Some("Access denied for user 'root2'@'127.0.0.1' (using password: YES)")
    );
    assert_eq!(c[1].user.as_deref(), Some("root"));
}

#[test]
fn fixture_streams_give_the_same_events_however_cut() {
    for name in STREAMS {
        let segments = stream(name);
        let whole: Vec<_> = dissect(&segments).into_iter().map(|e| e.body).collect();
        for size in [1, 2, 3, 5, 7, 64] {
            let cut: Vec<_> = dissect_chunked(&segments, size)
                .into_iter()
                .map(|e| e.body)
                .collect();
            assert_eq!(cut, whole, "{name} in chunks of {size}");
        }
    }
}

#[test]
fn mariadb_sessions() {
    // Failed login: the handshake response carries MariaDB's extended
    // capabilities in the filler.
    let events = dissect(&stream("mariadb_0"));
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    let g = &greetings(&events)[0];
    assert!(g.mariadb);
    assert_eq!(
        g.server_version.as_deref(),
        Some("10.11.19-MariaDB-0+deb12u1")
    );
    let l = &logins(&events)[0];
    assert_eq!(
        (l.user.as_str(), l.success, l.error_code),
        ("shop", Some(false), Some(1045))
    );
    assert_eq!(
        l.client_attributes.get("_client_name").map(String::as_str),
        Some("libmariadb")
    );

    let events = dissect(&stream("mariadb_1"));
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    assert_eq!(logins(&events)[0].success, Some(true));
    let c = commands(&events);
    let load = &c[4];
    assert_eq!(load.infile.as_deref(), Some("/tmp/mdb/in.txt"));
    assert_eq!(load.infile_size, Some(22));
    let digest = <sha2::Sha256 as sha2::Digest>::digest(b"alice\t1\nbob\t2\ncarol\t3\n");
    assert_eq!(
        load.infile_sha256.as_deref(),
        Some(hex::encode(digest).as_str())
    );
    // A progress report (ERR 0xffff) came before the OK.
    assert_eq!((load.success, load.affected_rows), (Some(true), Some(3)));
    let got = rows(&events);
    let t = Some(true);
    assert_eq!(got[5], row("query", "select * from t", t, Some(3), None));
    assert_eq!(
        got[7],
        row("query", "update t set n = n + 1", t, None, Some(5))
    );
    assert_eq!(c[8].error_code, Some(1146));
    // Two result sets chained by SERVER_MORE_RESULTS_EXISTS, then an OK.
    assert_eq!(got[10], row("query", "call p()", t, Some(6), Some(0)));
    assert_eq!(got.last().unwrap(), &row("quit", "", None, None, None));

    let got = rows(&dissect(&stream("mariadb_2")));
    let names: Vec<_> = got.iter().map(|r| (r.0.as_str(), r.2)).collect();
    assert_eq!(
        names,
        [
            ("ping", Some(true)),
            ("statistics", Some(true)),
            ("quit", None)
        ]
    );
}

#[test]
fn mid_stream_capture_follows_commands() {
    // Drop the greeting, the handshake and its OK, and the first query.
    let segments: Vec<_> = stream("wireshark_0").into_iter().skip(4).collect();
    let events = dissect(&segments);
    let got = rows(&events);
    assert_eq!(
        got[0],
        row("query", "SELECT DATABASE()", Some(true), Some(1), None)
    );
    assert_eq!(got.len(), 16);
    // Starting inside a packet: bytes are dropped until a packet that can
    // start a message.
    let mut segments: Vec<_> = stream("wireshark_0").into_iter().skip(4).collect();
    segments[0].1.drain(..7);
    segments[1].1.drain(..9);
    let events = dissect(&segments);
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    let got = rows(&events);
    assert_eq!(got[0], row("init_db", "test", Some(true), None, Some(0)));
    assert_eq!(got.len(), 15);
    // Starting with a server packet: skipped until the next command.
    let segments: Vec<_> = stream("selects_with_new_proto_0")
        .into_iter()
        .skip(4)
        .collect();
    let got = rows(&dissect(&segments));
    assert_eq!(
        got[0],
        row("query", "show databases", Some(true), Some(4), None)
    );
}

#[test]
fn tls_request_stops_the_dissector() {
    let mut segments = stream("selects_with_new_proto_0");
    segments.truncate(1);
    let mut ssl = (super::parser::caps::PROTOCOL_41 | super::parser::caps::SSL)
        .to_le_bytes()
        .to_vec();
    ssl.extend_from_slice(&[0, 0, 0, 1, 0x21]);
    ssl.extend_from_slice(&[0; 23]);
    segments.push((C, packet(1, &ssl)));
    segments.push((C, vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    let events = dissect(&segments);
    let l = logins(&events);
    assert_eq!(l.len(), 1);
    assert!(l[0].tls);
    assert_eq!(l[0].success, None);
    assert!(anomalies(&events).is_empty());
    let mut d = (SPEC.new)();
    let steps: Vec<Step<'_>> = segments.iter().map(|(d, b)| Step::Data(*d, b)).collect();
    let _ = &mut d;
    let out = run(d, 3306, &steps);
    assert_eq!(out.events.len(), events.len());
}

#[test]
fn mariadb_greeting_and_old_handshake() {
    let mut g = vec![10];
    g.extend_from_slice(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0");
    g.extend_from_slice(&7u32.to_le_bytes());
    g.extend_from_slice(b"abcdefgh\0");
    g.extend_from_slice(&0xf7feu16.to_le_bytes());
    g.extend_from_slice(&[8, 2, 0]);
    g.extend_from_slice(&0x81bfu16.to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0; 6]);
    g.extend_from_slice(&[0x1d, 0, 0, 0]);
    g.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    // Pre-4.1 handshake: caps (no PROTOCOL_41, CONNECT_WITH_DB), max packet, user, scramble, db.
    let mut hs = 0x0008u16.to_le_bytes().to_vec();
    hs.extend_from_slice(&[0, 0, 1]);
    hs.extend_from_slice(b"admin\0XYZXYZXY\0shop\0");
    let segments = vec![
        (S, packet(0, &g)),
        (C, packet(1, &hs)),
        (S, packet(2, b"\x00\x00\x00\x02\x00\x00\x00")),
        (C, packet(0, b"\x03DROP DATABASE shop")),
        (S, packet(1, b"\x00\x03\x00\x00\x00\x00\x00")),
    ];
    let events = dissect(&segments);
    let g = &greetings(&events)[0];
    assert!(g.mariadb);
    assert_eq!(
        g.server_version.as_deref(),
        Some("10.11.6-MariaDB-0+deb12u1")
    );
    assert_eq!(g.plugin.as_deref(), Some("mysql_native_password"));
    let l = &logins(&events)[0];
    assert!(l.old_protocol);
    assert_eq!(
        (l.user.as_str(), l.database.as_deref(), l.success),
        ("admin", Some("shop"), Some(true))
    );
    assert_eq!(
        rows(&events)[0],
        row("query", "DROP DATABASE shop", Some(true), None, Some(3))
    );
}

#[test]
fn error_unknown_command_infile_and_multiple_results() {
    let eof = b"\xfe\x00\x00\x02\x00".as_slice();
    let more_eof = b"\xfe\x00\x00\x0a\x00".as_slice();
    let col = b"\x03def\x00\x00\x00\x01a\x00\x0c\x21\x00\x01\x00\x00\x00\xfd\x00\x00\x00\x00\x00"
        .as_slice();
    let segments = vec![
        (C, packet(0, b"\x03select * from nope")),
        (
            S,
            packet(1, b"\xff\x7a\x04#42S02Table 'nope' doesn't exist"),
        ),
        (C, packet(0, b"\x99\x01\x02")),
        (S, packet(1, b"\xff\x2f\x04#08S01Unknown command")),
        (
            C,
            packet(0, b"\x03LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t"),
        ),
        (S, packet(1, b"\xfb/etc/passwd")),
        (C, [packet(2, b"root:x:0:0\n"), packet(3, b"")].concat()),
        (S, packet(4, b"\x00\x01\x00\x00\x00\x00\x00")),
        (C, packet(0, b"\x03call p()")),
        (
            S,
            [
                packet(1, b"\x01"),
                packet(2, col),
                packet(3, eof),
                packet(4, b"\x01x"),
                packet(5, more_eof),
                packet(6, b"\x01"),
                packet(7, col),
                packet(8, eof),
                packet(9, b"\x01y"),
                packet(10, b"\x01z"),
                packet(11, eof),
            ]
            .concat(),
        ),
        (C, packet(0, b"\x16select ? from t")),
        // stmt 5, 1 column, 1 parameter, then their definitions and EOFs.
        (
            S,
            [
                packet(1, b"\x00\x05\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00"),
                packet(2, col),
                packet(3, eof),
                packet(4, col),
                packet(5, eof),
            ]
            .concat(),
        ),
        (C, packet(0, b"\x17\x05\x00\x00\x00\x00\x01\x00\x00\x00")),
        (S, packet(1, b"\x00\x00\x00\x02\x00\x00\x00")),
        // Execute with a cursor: no rows until fetched.
        (C, packet(0, b"\x17\x05\x00\x00\x00\x01\x01\x00\x00\x00")),
        (
            S,
            [
                packet(1, b"\x01"),
                packet(2, col),
                packet(3, b"\xfe\x00\x00\x42\x00"),
            ]
            .concat(),
        ),
        (C, packet(0, b"\x1c\x05\x00\x00\x00\x10\x00\x00\x00")),
        (
            S,
            [
                packet(1, b"\x00\x00\x01x"),
                packet(2, b"\x00\x00\x01y"),
                packet(3, b"\xfe\x00\x00\x82\x00"),
            ]
            .concat(),
        ),
        (C, packet(0, b"\x19\x05\x00\x00\x00")),
        (C, packet(0, b"\x17\x05\x00\x00\x00\x00\x01\x00\x00\x00")),
    ];
    let events = dissect(&segments);
    let c = commands(&events);
    assert_eq!((c[0].success, c[0].error_code), (Some(false), Some(1146)));
    assert_eq!(c[0].error.as_deref(), Some("Table 'nope' doesn't exist"));
    assert_eq!(c[1].command, "unknown_153");
    assert_eq!(c[1].success, Some(false));
    assert_eq!(anomalies(&events).len(), 1);
    assert_eq!(c[2].infile.as_deref(), Some("/etc/passwd"));
    assert_eq!(c[2].infile_size, Some(11));
    assert_eq!(
        c[2].infile_sha256.as_deref(),
        Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"root:x:0:0\n")).as_str())
    );
    assert_eq!((c[2].success, c[2].affected_rows), (Some(true), Some(1)));
    assert_eq!(
        (c[3].rows, c[3].columns, c[3].success),
        (Some(3), Some(1), Some(true))
    );
    assert_eq!(
        (c[4].command.as_str(), c[4].success, c[4].columns),
        ("stmt_prepare", Some(true), Some(1))
    );
    assert_eq!(
        (c[5].command.as_str(), c[5].arg.as_str(), c[5].success),
        ("stmt_execute", "5", Some(true))
    );
    assert_eq!(c[5].statement.as_deref(), Some("select ? from t"));
    let brief: Vec<_> = c[6..]
        .iter()
        .map(|c| {
            (
                c.command.as_str(),
                c.success,
                c.rows,
                c.statement.as_deref(),
            )
        })
        .collect();
    let sql = Some("select ? from t");
    assert_eq!(
        brief,
        [
            ("stmt_execute", Some(true), None, sql),
            ("stmt_fetch", Some(true), Some(2), sql),
            ("stmt_close", None, None, sql),
            ("stmt_execute", None, None, None),
        ]
    );
}

#[test]
fn huge_query_and_rows_are_streamed_and_capped() {
    // A 20 MB query: one full packet, then a continuation.
    let total = 20_000_000usize;
    let mut query = vec![b'x'; total];
    query[..7].copy_from_slice(b"select ");
    let mut first = vec![0xff, 0xff, 0xff, 0x00, 0x03];
    first.extend_from_slice(&query[..parser_max() - 1]);
    let rest = &query[parser_max() - 1..];
    let mut second = (rest.len() as u32).to_le_bytes()[..3].to_vec();
    second.push(1);
    second.extend_from_slice(rest);
    let mut stream_c = first;
    stream_c.extend_from_slice(&second);
    // The response: one column, one 17 MB row (two packets), EOF-less end.
    let col = b"\x03def\x00\x00\x00\x01a\x00\x0c\x21\x00\x01\x00\x00\x00\xfd\x00\x00\x00\x00\x00";
    let mut stream_s = [
        packet(1, b"\x01"),
        packet(2, col),
        packet(3, b"\xfe\x00\x00\x02\x00"),
    ]
    .concat();
    stream_s.extend_from_slice(&[0xff, 0xff, 0xff, 4]);
    stream_s.extend(std::iter::repeat_n(b'r', parser_max()));
    stream_s.extend_from_slice(&packet(5, &[b'r'; 1000]));
    stream_s.extend_from_slice(&packet(6, b"\xfe\x00\x00\x02\x00"));
    let mut steps: Vec<Step<'_>> = stream_c.chunks(65_000).map(|c| Step::Data(C, c)).collect();
    steps.extend(stream_s.chunks(65_000).map(|c| Step::Data(S, c)));
    let events = run((SPEC.new)(), 3306, &steps).events;
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
    let c = &commands(&events)[0];
    assert_eq!(c.arg.len(), super::session::QUERY_CAP);
    assert!(c.truncated);
    assert!(c.arg.starts_with("select xxx"));
    assert_eq!((c.rows, c.success), (Some(1), Some(true)));
}

fn parser_max() -> usize {
    super::parser::MAX_PAYLOAD
}

#[test]
fn gap_in_the_responses_flushes_and_resynchronises() {
    let segments = stream("wireshark_0");
    let mut steps: Vec<Step<'_>> = Vec::new();
    for (i, (d, b)) in segments.iter().enumerate() {
        if i == 8 {
            steps.push(Step::Gap(*d, b.len() as u64));
        } else {
            steps.push(Step::Data(*d, b));
        }
    }
    let events = run((SPEC.new)(), 3306, &steps).events;
    let got = rows(&events);
    assert_eq!(got.len(), 17);
    assert_eq!(got[2].2, None, "its response was lost");
    assert_eq!(
        got[3],
        row("query", "show databases", Some(true), Some(2), None)
    );
}

#[test]
fn close_flushes_a_command_without_response() {
    let segments = vec![(C, packet(0, b"\x03select sleep(100)"))];
    let got = rows(&dissect(&segments));
    assert_eq!(
        got,
        vec![row("query", "select sleep(100)", None, None, None)]
    );
}

const STREAMS: [&str; 9] = [
    "wireshark_0",
    "caching_sha2_password_0",
    "caching_sha2_password_1",
    "caching_sha2_password_2",
    "change-user-error_0",
    "selects_with_new_proto_0",
    "mariadb_0",
    "mariadb_1",
    "mariadb_2",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn same_events_for_any_cuts(which in 0usize..STREAMS.len(), cuts in proptest::collection::vec(1usize..200, 1..40)) {
        let segments = stream(STREAMS[which]);
        let whole: Vec<_> = dissect(&segments).into_iter().map(|e| e.body).collect();
        let mut steps = Vec::new();
        for (d, b) in &segments {
            let mut rest = b.as_slice();
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                let (head, tail) = rest.split_at(n);
                steps.push(Step::Data(*d, head));
                rest = tail;
                i += 1;
            }
        }
        let cut: Vec<_> = run((SPEC.new)(), 3306, &steps).events.into_iter().map(|e| e.body).collect();
        prop_assert_eq!(cut, whole);
    }

    #[test]
    fn random_bytes_never_panic(chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20)) {
        let steps: Vec<Step<'_>> = chunks.iter().map(|(c, b)| Step::Data(if *c { C } else { S }, b)).collect();
        let _ = run((SPEC.new)(), 3306, &steps);
        for (c, b) in &chunks {
            let _ = super::probe(if *c { C } else { S }, b);
        }
    }

    #[test]
    fn damaged_fixtures_never_panic(
        which in 0usize..STREAMS.len(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        drop_at in any::<usize>(),
        dup in any::<usize>(),
        gap in any::<usize>(),
    ) {
        let name = STREAMS[which];
        let mut segments = stream(name);
        let n = segments.len();
        for (at, mask) in flips {
            let seg = &mut segments[at % n].1;
            if !seg.is_empty() {
                let i = at % seg.len();
                seg[i] ^= mask;
            }
        }
        let dup_seg = segments[dup % n].clone();
        segments.insert(dup % n, dup_seg);
        let cut = &mut segments[drop_at % n].1;
        let keep = drop_at % (cut.len() + 1);
        cut.truncate(keep);
        let mut steps: Vec<Step<'_>> = segments.iter().map(|(d, b)| Step::Data(*d, b)).collect();
        let g = gap % (steps.len() + 1);
        steps.insert(g, Step::Gap(if gap % 2 == 0 { C } else { S }, 17));
        let _ = run((SPEC.new)(), 3306, &steps);
    }
}

#[test]
fn large_local_infile_contents_are_hashed_whole() {
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let client = [
        packet(2, &file[..200_000]),
        packet(3, &file[200_000..]),
        packet(4, b""),
    ]
    .concat();
    let request = packet(0, b"\x03LOAD DATA LOCAL INFILE 'x' INTO TABLE t");
    let mut steps = vec![
        Step::Data(C, &request),
        Step::Data(S, b"\x02\x00\x00\x01\xfbx"),
    ];
    steps.extend(client.chunks(1000).map(|c| Step::Data(C, c)));
    let ok = packet(5, b"\x00\x07\x00\x00\x00\x00\x00");
    steps.push(Step::Data(S, &ok));
    let events = run((SPEC.new)(), 3306, &steps).events;
    let c = &commands(&events)[0];
    assert_eq!(c.infile.as_deref(), Some("x"));
    assert_eq!(c.infile_size, Some(300_000));
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&file);
    assert_eq!(
        c.infile_sha256.as_deref(),
        Some(hex::encode(digest).as_str())
    );
    assert_eq!((c.success, c.affected_rows), (Some(true), Some(7)));
}

/// `mysql_native_password`'s answer to a nonce.
fn native_password(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    let mask = h.finalize();
    stage1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()
}

#[test]
fn login_keeps_the_nonce_and_the_answer_to_check_a_password_offline() {
    // MariaDB 10.11 and its client (captures/mysql/mysql-session.pcap):
    // dbadmin tried the password `wrongpass`.
    let segments = stream("own_native_password_0");
    for size in [1, 7, 4096] {
        let l = logins(&dissect_chunked(&segments, size));
        assert_eq!(l.len(), 1);
        let scramble = hex::decode(l[0].scramble.as_deref().unwrap()).unwrap();
        assert_eq!(scramble.len(), 20, "the nonce is 20 bytes");
        let answer = l[0].auth_response.as_deref().unwrap();
        assert_eq!(
            answer,
            hex::encode(native_password(b"wrongpass", &scramble))
        );
        assert_ne!(answer, hex::encode(native_password(b"admin123", &scramble)));
        assert_eq!((l[0].success, l[0].error_code), (Some(false), Some(1045)));
    }
}

#[test]
fn an_auth_switch_drops_the_answer_to_the_old_nonce() {
    // An auth switch request (0xfe) brings its own nonce: the answer to the
    // greeting's is no longer the one that counts.
    let mut login = MysqlLogin {
        scramble: Some("00".into()),
        auth_response: Some("11".into()),
        ..MysqlLogin::default()
    };
    let _ = super::session::auth_step(
        &mut login,
        b"\xfemysql_native_password\0abcdefghijabcdefghij\0",
    );
    assert_eq!((login.scramble, login.auth_response), (None, None));
}
