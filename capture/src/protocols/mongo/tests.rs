//! Unit and property tests on real bytes (the DeepTrace capture's TCP
//! payloads, one segment a line in `testdata/deeptrace.segments`: `C` is
//! client to server, `S` server to client) and on messages written from the
//! specification.

use model::events::mongo::{MongoAuth, MongoCommand, MongoEvent};
use model::{Direction, Event, EventBody};
use proptest::prelude::*;

use super::*;
use crate::protocols::testkit::{chunked, run, Step};

const SEGMENTS: &str = include_str!("testdata/deeptrace.segments");

fn segments() -> Vec<(Direction, Vec<u8>)> {
    SEGMENTS
        .lines()
        .filter_map(|line| {
            let (side, hex) = line.split_once(' ')?;
            let dir = if side == "C" {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            Some((dir, hex::decode(hex.trim()).ok()?))
        })
        .collect()
}

fn stream(dir: Direction) -> Vec<u8> {
    segments()
        .into_iter()
        .filter(|(d, _)| *d == dir)
        .flat_map(|(_, b)| b)
        .collect()
}

fn dissect(steps: &[Step<'_>]) -> Vec<Event> {
    run(new(), 27017, steps).events
}

fn commands(events: &[Event]) -> Vec<MongoCommand> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Mongo(MongoEvent::Command(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn auths(events: &[Event]) -> Vec<MongoAuth> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Mongo(MongoEvent::Auth(a)) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

use crate::protocols::testkit::anomalies;

fn deeptrace_events() -> Vec<Event> {
    let segments = segments();
    let steps: Vec<Step<'_>> = segments.iter().map(|(d, b)| Step::Data(*d, b)).collect();
    dissect(&steps)
}

/// A message: header + body.
fn message(request_id: i32, response_to: i32, opcode: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((body.len() + 16) as i32).to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&opcode.to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn bson_bytes(doc: bson::Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.to_writer(&mut out).unwrap();
    out
}

fn op_msg(request_id: i32, response_to: i32, flags: u32, doc: bson::Document) -> Vec<u8> {
    let mut body = flags.to_le_bytes().to_vec();
    body.push(0);
    body.extend_from_slice(&bson_bytes(doc));
    message(request_id, response_to, 2013, &body)
}

#[test]
fn deeptrace_commands_in_order_with_replies() {
    let events = deeptrace_events();
    let commands = commands(&events);
    let names: Vec<_> = commands
        .iter()
        .map(|c| c.command.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "isMaster",
            "saslContinue",
            "saslContinue",
            "whatsmyuri",
            "buildinfo",
            "getLog",
            "isMaster",
            "buildInfo",
            "getCmdLineOpts",
            "buildInfo",
            "isMaster",
            "replSetGetStatus",
            "getLog",
            "isMaster",
            "endSessions",
        ]
    );
    let first = &commands[0];
    assert_eq!(first.opcode, "OP_QUERY");
    assert_eq!(first.database.as_deref(), Some("admin"));
    assert_eq!(first.collection.as_deref(), Some("$cmd"));
    assert_eq!(first.ok, Some(true));
    assert_eq!(first.reply_documents, Some(1));
    let second = &commands[1];
    assert_eq!(second.opcode, "OP_MSG");
    assert_eq!(second.database.as_deref(), Some("admin"));
    assert_eq!(second.request_id, 1);
    let repl = &commands[11];
    assert_eq!(repl.ok, Some(false));
    assert_eq!(repl.error.as_deref(), Some("not running with --replSet"));
    assert_eq!(repl.code, Some(76));
    assert_eq!(repl.code_name.as_deref(), Some("NoReplicationEnabled"));
    let get_log = &commands[5];
    assert_eq!(
        get_log.collection, None,
        "getLog's argument is not a collection"
    );
    assert!(commands.iter().all(|c| c.replied && !c.truncated));
    // The shell sets checksumPresent; every CRC-32C matches.
    assert_eq!(anomalies(&events), Vec::<String>::new());
}

#[test]
fn deeptrace_scram_login_succeeds() {
    let auths = auths(&deeptrace_events());
    assert_eq!(
        auths,
        [MongoAuth {
            mechanism: Some("SCRAM-SHA-256".into()),
            user: Some("admin".into()),
            password: None,
            database: Some("admin".into()),
            success: Some(true),
            error: None,
        }]
    );
}

#[test]
fn deeptrace_document_is_relaxed_json() {
    let commands = commands(&deeptrace_events());
    let doc = commands[3].document.as_ref().unwrap();
    assert_eq!(doc, &serde_json::json!({"whatsmyuri": 1, "$db": "admin"}));
}

#[test]
fn probe_finds_mongo_on_any_port_and_only_mongo() {
    let client = stream(Direction::ToServer);
    let server = stream(Direction::ToClient);
    assert_eq!(probe(Direction::ToServer, &client[..300]), Probe::Match);
    assert_eq!(probe(Direction::ToClient, &server[..300]), Probe::Match);
    assert_eq!(probe(Direction::ToServer, &client[..10]), Probe::NeedMore);
    assert_eq!(probe(Direction::ToServer, &server[..300]), Probe::NoMatch);
    for other in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"*1\r\n$4\r\nPING\r\n",
        b"@RSYNCD: 31.0\n",
        b"USER anonymous\r\n",
        b"220 ProFTPD ready\r\n",
        // MySQL handshake response (client) and greeting (server).
        b"\x55\x00\x00\x01\x8d\xa6\x0f\x00\x00\x00\x00\x01\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\x4a\x00\x00\x00\x0a\x35\x2e\x35\x2e\x35\x2d\x31\x30\x2e\x31\x31\x00\x10\x00\x00\x00",
        // TLS ClientHello.
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x11\x22\x33\x44\x55\x66\x77\x88\x99",
    ] {
        assert_eq!(probe(Direction::ToServer, other), Probe::NoMatch, "{other:?}");
        assert_eq!(probe(Direction::ToClient, other), Probe::NoMatch, "{other:?}");
    }
    let flow = crate::protocols::identify(&client[..300], &server[..300], 3717);
    assert_eq!(flow.flatten().map(|s| s.name), Some("mongo"));
}

#[test]
fn op_msg_find_with_reply_counts() {
    let request = op_msg(
        7,
        0,
        0,
        bson::doc! {"find": "users", "filter": {"name": "x"}, "$db": "shop"},
    );
    let reply = op_msg(
        90,
        7,
        0,
        bson::doc! {"cursor": {"id": 0i64, "ns": "shop.users", "firstBatch": [{"a": 1}, {"a": 2}]}, "ok": 1.0},
    );
    let events = dissect(&[
        Step::Data(Direction::ToServer, &request),
        Step::Data(Direction::ToClient, &reply),
    ]);
    let commands = commands(&events);
    assert_eq!(commands.len(), 1);
    let c = &commands[0];
    assert_eq!(c.database.as_deref(), Some("shop"));
    assert_eq!(c.collection.as_deref(), Some("users"));
    assert_eq!(c.command.as_deref(), Some("find"));
    assert_eq!(
        (c.ok, c.reply_documents, c.cursor_id),
        (Some(true), Some(2), Some(0))
    );
    // Stamped with the request's time though emitted on the reply.
    assert_eq!(
        events[0].ts,
        model::Timestamp::from_timeval(1_700_000_000, 0)
    );
}

#[test]
fn a_message_carries_the_time_of_its_first_byte() {
    let request = op_msg(
        1,
        0,
        parser::MSG_MORE_TO_COME,
        bson::doc! {"ping": 1, "$db": "d"},
    );
    let events = dissect(&[
        Step::Data(Direction::ToServer, &request[..20]),
        Step::Data(Direction::ToServer, &request[20..]),
    ]);
    assert_eq!(
        events[0].ts,
        model::Timestamp::from_timeval(1_700_000_000, 0)
    );
}

#[test]
fn op_msg_document_sequence_is_merged_and_counted() {
    let mut body = 0u32.to_le_bytes().to_vec();
    body.push(0);
    body.extend_from_slice(&bson_bytes(bson::doc! {"insert": "logs", "$db": "app"}));
    let docs = [
        bson_bytes(bson::doc! {"m": 1}),
        bson_bytes(bson::doc! {"m": 2}),
    ]
    .concat();
    body.push(1);
    body.extend_from_slice(&((4 + 10 + docs.len()) as i32).to_le_bytes());
    body.extend_from_slice(b"documents\0");
    body.extend_from_slice(&docs);
    let request = message(3, 0, 2013, &body);
    let reply = op_msg(4, 3, 0, bson::doc! {"n": 2, "ok": 1});
    let commands = commands(&dissect(&[
        Step::Data(Direction::ToServer, &request),
        Step::Data(Direction::ToClient, &reply),
    ]));
    let c = &commands[0];
    assert_eq!(c.sequences[0].identifier, "documents");
    assert_eq!(c.sequences[0].documents, 2);
    assert_eq!(c.n, Some(2));
    assert_eq!(
        c.document.as_ref().unwrap(),
        &serde_json::json!({"insert": "logs", "$db": "app", "documents": [{"m": 1}, {"m": 2}]})
    );
}

#[test]
fn more_to_come_is_emitted_without_waiting() {
    let request = op_msg(
        5,
        0,
        parser::MSG_MORE_TO_COME,
        bson::doc! {"insert": "t", "$db": "d"},
    );
    let out = run(new(), 27017, &[Step::Data(Direction::ToServer, &request)]);
    let c = &commands(&out.events)[0];
    assert!(c.more_to_come && !c.replied);
}

#[test]
fn unanswered_command_is_emitted_on_close() {
    let request = op_msg(5, 0, 0, bson::doc! {"ping": 1, "$db": "admin"});
    let c = &commands(&dissect(&[Step::Data(Direction::ToServer, &request)]))[0];
    assert_eq!(c.command.as_deref(), Some("ping"));
    assert!(!c.replied);
}

#[test]
fn plain_login_failure_keeps_user_and_password() {
    let payload = bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: b"\0mallory\0hunter2".to_vec(),
    };
    let request = op_msg(
        1,
        0,
        0,
        bson::doc! {"saslStart": 1, "mechanism": "PLAIN", "payload": payload, "$db": "$external"},
    );
    let reply = op_msg(
        2,
        1,
        0,
        bson::doc! {"ok": 0.0, "errmsg": "Authentication failed.", "code": 18},
    );
    let events = dissect(&[
        Step::Data(Direction::ToServer, &request),
        Step::Data(Direction::ToClient, &reply),
    ]);
    let auths = auths(&events);
    assert_eq!(auths.len(), 1);
    assert_eq!(auths[0].user.as_deref(), Some("mallory"));
    assert_eq!(auths[0].password.as_deref(), Some("hunter2"));
    assert_eq!(auths[0].database.as_deref(), Some("$external"));
    assert_eq!(auths[0].success, Some(false));
    assert_eq!(auths[0].error.as_deref(), Some("Authentication failed."));
}

#[test]
fn legacy_ops_are_named() {
    let mut insert = 0i32.to_le_bytes().to_vec();
    insert.extend_from_slice(b"db.things\0");
    insert.extend_from_slice(&bson_bytes(bson::doc! {"x": 1}));
    let mut delete = 0i32.to_le_bytes().to_vec();
    delete.extend_from_slice(b"db.things\0");
    delete.extend_from_slice(&0i32.to_le_bytes());
    delete.extend_from_slice(&bson_bytes(bson::doc! {"x": 1}));
    let mut kill = 0i32.to_le_bytes().to_vec();
    kill.extend_from_slice(&1i32.to_le_bytes());
    kill.extend_from_slice(&42i64.to_le_bytes());
    let stream = [
        message(1, 0, 2002, &insert),
        message(2, 0, 2006, &delete),
        message(3, 0, 2007, &kill),
    ]
    .concat();
    let commands = commands(&dissect(&[Step::Data(Direction::ToServer, &stream)]));
    let got: Vec<_> = commands
        .iter()
        .map(|c| {
            (
                c.opcode.as_str(),
                c.command.as_deref(),
                c.collection.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("OP_INSERT", Some("insert"), Some("things")),
            ("OP_DELETE", Some("delete"), Some("things")),
            ("OP_KILL_CURSORS", Some("killCursors"), None),
        ]
    );
    assert_eq!(commands[0].sequences[0].documents, 1);
}

#[test]
fn compressed_is_flagged_and_noop_is_decoded() {
    let inner = op_msg(9, 0, 0, bson::doc! {"count": "c", "$db": "d"});
    let mut noop = 2013i32.to_le_bytes().to_vec();
    noop.extend_from_slice(&((inner.len() - 16) as i32).to_le_bytes());
    noop.push(0);
    noop.extend_from_slice(&inner[16..]);
    let mut snappy = 2013i32.to_le_bytes().to_vec();
    snappy.extend_from_slice(&100i32.to_le_bytes());
    snappy.push(1);
    snappy.extend_from_slice(&[0xab; 20]);
    let stream = [message(9, 0, 2012, &noop), message(10, 0, 2012, &snappy)].concat();
    let commands = commands(&dissect(&[Step::Data(Direction::ToServer, &stream)]));
    assert_eq!(commands[0].command.as_deref(), Some("count"));
    assert_eq!(commands[0].compressor.as_deref(), Some("noop"));
    assert!(commands[1].compressed);
    assert_eq!(commands[1].compressor.as_deref(), Some("snappy"));
    assert_eq!(commands[1].opcode, "OP_MSG");
    assert_eq!(commands[1].command, None);
}

#[test]
fn bad_length_stops_the_direction_and_unknown_opcode_is_skipped() {
    let good = op_msg(1, 0, 0, bson::doc! {"ping": 1, "$db": "a"});
    let unknown = message(2, 0, 4242, &[0; 8]);
    let mut bad = 8i32.to_le_bytes().to_vec();
    bad.extend_from_slice(&[0; 12]);
    let stream = [unknown, good.clone(), bad, good].concat();
    let events = dissect(&[Step::Data(Direction::ToServer, &stream)]);
    assert_eq!(anomalies(&events), ["unknown_opcode", "bad_length"]);
    assert_eq!(commands(&events).len(), 1);
}

#[test]
fn oversized_message_is_decoded_from_its_prefix_and_streamed_past() {
    let big = "x".repeat(600 * 1024);
    let request = op_msg(
        1,
        0,
        0,
        bson::doc! {"insert": "big", "blob": big, "$db": "d"},
    );
    let after = op_msg(2, 0, 0, bson::doc! {"ping": 1, "$db": "d"});
    let stream = [request.clone(), after].concat();
    let events = dissect(&chunked(Direction::ToServer, &stream, 1460));
    let commands = commands(&events);
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[0].command.as_deref(), Some("insert"));
    assert!(commands[0].truncated);
    assert_eq!(commands[0].message_length as usize, request.len());
    assert_eq!(commands[1].command.as_deref(), Some("ping"));
    assert!(anomalies(&events).is_empty(), "{:?}", anomalies(&events));
}

#[test]
fn gap_inside_a_skipped_message_keeps_framing() {
    let big = "x".repeat(600 * 1024);
    let request = op_msg(
        1,
        0,
        0,
        bson::doc! {"insert": "big", "blob": big, "$db": "d"},
    );
    let after = op_msg(2, 0, 0, bson::doc! {"ping": 1, "$db": "d"});
    let head = &request[..300 * 1024];
    let tail = &request[400 * 1024..];
    let events = dissect(&[
        Step::Data(Direction::ToServer, head),
        Step::Gap(Direction::ToServer, 100 * 1024),
        Step::Data(Direction::ToServer, tail),
        Step::Data(Direction::ToServer, &after),
    ]);
    assert_eq!(commands(&events).len(), 2);
}

#[test]
fn gap_resynchronises_on_the_next_header() {
    let first = op_msg(1, 0, 0, bson::doc! {"ping": 1, "$db": "d"});
    let second = op_msg(2, 0, 0, bson::doc! {"find": "c", "$db": "d"});
    let events = dissect(&[
        Step::Data(Direction::ToServer, &first[..10]),
        Step::Gap(Direction::ToServer, 7),
        Step::Data(Direction::ToServer, &first[17..]),
        Step::Data(Direction::ToServer, &second),
    ]);
    let names: Vec<_> = commands(&events)
        .into_iter()
        .filter_map(|c| c.command)
        .collect();
    assert_eq!(names, ["find"]);
}

#[test]
fn resynchronises_mid_stream_whatever_the_chunking() {
    let first = op_msg(1, 0, 0, bson::doc! {"ping": 1, "$db": "d"});
    let second = op_msg(2, 0, 0, bson::doc! {"find": "c", "$db": "d"});
    let stream = [&first[23..], &second[..]].concat();
    for size in [1, 3, 7, 16, 64] {
        let mut steps = vec![Step::Gap(Direction::ToServer, 0)];
        steps.extend(chunked(Direction::ToServer, &stream, size));
        let names: Vec<_> = commands(&dissect(&steps))
            .into_iter()
            .filter_map(|c| c.command)
            .collect();
        assert_eq!(names, ["find"], "chunks of {size}");
    }
}

#[test]
fn bad_checksum_is_an_anomaly() {
    let mut request = op_msg(
        1,
        0,
        parser::MSG_CHECKSUM_PRESENT,
        bson::doc! {"ping": 1, "$db": "d"},
    );
    request.extend_from_slice(&[1, 2, 3, 4]);
    let length = request.len() as i32;
    request[..4].copy_from_slice(&length.to_le_bytes());
    let events = dissect(&[Step::Data(Direction::ToServer, &request)]);
    assert_eq!(anomalies(&events), ["bad_checksum"]);
    assert_eq!(commands(&events).len(), 1);
}

fn strip_ts(events: Vec<Event>) -> Vec<EventBody> {
    events.into_iter().map(|e| e.body).collect()
}

/// Events (without their timestamps, which follow the steps) of the capture
/// with each direction's stream cut into chunks of `size`, requests and
/// replies interleaved as in the capture.
fn rechunked(size: usize) -> Vec<EventBody> {
    let segments = segments();
    let mut steps = Vec::new();
    for (dir, bytes) in &segments {
        steps.extend(chunked(*dir, bytes, size));
    }
    strip_ts(dissect(&steps))
}

fn oversized_stream() -> Vec<u8> {
    let big = "x".repeat(600 * 1024);
    let request = op_msg(
        1,
        0,
        0,
        bson::doc! {"insert": "big", "blob": big, "$db": "d"},
    );
    let after = op_msg(2, 0, 0, bson::doc! {"ping": 1, "$db": "d"});
    [request, after].concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn oversized_message_gives_the_same_events_however_chunked(size in 500usize..70_000) {
        let stream = oversized_stream();
        let whole = strip_ts(dissect(&[Step::Data(Direction::ToServer, &stream)]));
        prop_assert_eq!(strip_ts(dissect(&chunked(Direction::ToServer, &stream, size))), whole);
    }
}

proptest! {
    #[test]
    fn same_events_however_chunked(size in 1usize..2000) {
        prop_assert_eq!(rechunked(size), strip_ts(deeptrace_events()));
    }

    #[test]
    fn random_bytes_never_panic(
        client in proptest::collection::vec(any::<u8>(), 0..2000),
        server in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let _ = probe(Direction::ToServer, &client);
        let _ = probe(Direction::ToClient, &server);
        dissect(&[Step::Data(Direction::ToServer, &client), Step::Data(Direction::ToClient, &server)]);
    }

    #[test]
    fn mutated_capture_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40),
        cut in any::<prop::sample::Index>(),
        duplicate in any::<prop::sample::Index>(),
    ) {
        let mut segments = segments();
        let len = segments.len();
        for (index, byte) in &flips {
            let (_, bytes) = &mut segments[index.index(len)];
            let at = index.index(bytes.len());
            bytes[at] ^= byte;
        }
        let dup = segments[duplicate.index(segments.len())].clone();
        segments.insert(duplicate.index(segments.len()), dup);
        let keep = cut.index(segments.len()) + 1;
        let steps: Vec<Step<'_>> = segments[..keep].iter().map(|(d, b)| Step::Data(*d, b)).collect();
        dissect(&steps);
    }

    #[test]
    fn plausible_messages_with_random_bodies_never_panic(
        opcode in prop::sample::select(vec![1, 2001, 2002, 2004, 2005, 2006, 2007, 2010, 2011, 2012, 2013]),
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let request = message(1, 0, opcode, &body);
        let reply = message(2, 1, opcode, &body);
        dissect(&[Step::Data(Direction::ToServer, &request), Step::Data(Direction::ToClient, &reply)]);
    }
}

#[test]
fn pymongo_capture_on_port_3717() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/protocols/mongo/testdata/pymongo.pcap");
    let events =
        crate::engine::dissect_file(&path, &crate::artifact::ArtifactStore::hash_only()).unwrap();
    let auths = auths(&events);
    assert_eq!(
        auths.len(),
        1,
        "the declined speculative attempt is not an event"
    );
    assert_eq!(auths[0].mechanism.as_deref(), Some("SCRAM-SHA-1"));
    assert_eq!(auths[0].user.as_deref(), Some("mallory"));
    assert_eq!(auths[0].success, Some(false));
    assert_eq!(auths[0].error.as_deref(), Some("Authentication failed."));
    let crud: Vec<_> = commands(&events)
        .into_iter()
        .filter(|c| c.database.as_deref() == Some("shop"))
        .map(|c| {
            (
                c.command.unwrap_or_default(),
                c.collection,
                c.ok,
                c.n,
                c.reply_documents,
                c.sequences.len(),
            )
        })
        .collect();
    let cards = Some("cards".to_string());
    assert_eq!(
        crud,
        [
            (
                "insert".to_string(),
                cards.clone(),
                Some(true),
                Some(3),
                None,
                1
            ),
            (
                "find".to_string(),
                cards.clone(),
                Some(true),
                None,
                Some(2),
                0
            ),
            (
                "update".to_string(),
                cards.clone(),
                Some(true),
                Some(1),
                None,
                1
            ),
            (
                "delete".to_string(),
                cards.clone(),
                Some(true),
                Some(1),
                None,
                1
            ),
            ("drop".to_string(), cards, Some(false), None, None, 0),
        ]
    );
    assert!(anomalies(&events).is_empty());
}
