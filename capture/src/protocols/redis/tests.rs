use model::events::redis::{RedisAuth, RedisCommand, RedisEvent, RedisPush};
use model::{Direction, Event, EventBody};
use proptest::prelude::*;

use super::{probe, SPEC};
use crate::protocols::testkit::{chunked, run, Step};
use crate::protocols::Probe;

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

fn events(steps: &[Step<'_>]) -> Vec<Event> {
    run((SPEC.new)(), 6379, steps).events
}

fn commands(events: &[Event]) -> Vec<RedisCommand> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Redis(RedisEvent::Command(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn pushes(events: &[Event]) -> Vec<RedisPush> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Redis(RedisEvent::Push(p)) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn auths(events: &[Event]) -> Vec<RedisAuth> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Redis(RedisEvent::Auth(a)) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

use crate::protocols::testkit::anomalies;

/// (name, args, reply, success) of each command.
/// (name, args, reply, success)
type Summary = (String, Vec<String>, Option<String>, Option<bool>);

fn summary(events: &[Event]) -> Vec<Summary> {
    commands(events)
        .into_iter()
        .map(|c| (c.name, c.args, c.reply, c.success))
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// The subscriber of the pubsub fixture (Zeek's `pubsub.pcap`).
const PUBSUB_CLIENT: &[u8] =
    b"*2\r\n$9\r\nSUBSCRIBE\r\n$3\r\nFoo\r\n*2\r\n$10\r\nPSUBSCRIBE\r\n$2\r\nF*\r\n";
const PUBSUB_SERVER: &[u8] = b"*3\r\n$9\r\nsubscribe\r\n$3\r\nFoo\r\n:1\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\nF*\r\n:2\r\n\
*3\r\n$7\r\nmessage\r\n$3\r\nFoo\r\n$11\r\nHi there :)\r\n*4\r\n$8\r\npmessage\r\n$2\r\nF*\r\n$3\r\nFoo\r\n$11\r\nHi there :)\r\n";

#[test]
fn set_commands_pair_with_their_replies() {
    let ev = events(&[
        Step::Data(C, b"*3\r\n$3\r\nSET\r\n$4\r\ntest\r\n$2\r\nhi\r\n"),
        Step::Data(S, b"+OK\r\n"),
        Step::Data(C, b"*2\r\n$3\r\nGET\r\n$4\r\nnope\r\n"),
        Step::Data(S, b"$-1\r\n"),
        Step::Data(C, b"*1\r\n$4\r\nBLAH\r\n"),
        Step::Data(S, b"-ERR unknown command 'BLAH'\r\n"),
    ]);
    assert_eq!(
        summary(&ev),
        vec![
            (
                "SET".into(),
                s(&["test", "hi"]),
                Some("OK".into()),
                Some(true)
            ),
            ("GET".into(), s(&["nope"]), Some("(nil)".into()), Some(true)),
            (
                "BLAH".into(),
                s(&[]),
                Some("ERR unknown command 'BLAH'".into()),
                Some(false)
            ),
        ]
    );
    let cmds = commands(&ev);
    assert_eq!(cmds[0].key.as_deref(), Some("test"));
    // Stamped with the command's time, not the reply's.
    assert_eq!(ev[0].ts.0, 1_700_000_000_000_000);
}

#[test]
fn pipelined_inline_commands() {
    let ev = events(&[
        Step::Data(C, b"PING\r\nPING\r\nPING\r\n"),
        Step::Data(S, b"+PONG\r\n+PONG\r\n+PONG\r\n"),
    ]);
    let cmds = commands(&ev);
    assert_eq!(cmds.len(), 3);
    assert!(cmds
        .iter()
        .all(|c| c.name == "PING" && c.inline && c.reply.as_deref() == Some("PONG")));
}

#[test]
fn pubsub_messages_are_pushes_not_replies() {
    let ev = events(&[
        Step::Data(C, PUBSUB_CLIENT),
        Step::Data(S, PUBSUB_SERVER),
        Step::Data(C, b"*1\r\n$5\r\nRESET\r\n"),
        Step::Data(S, b"+RESET\r\n"),
        Step::Data(C, b"*2\r\n$3\r\nGET\r\n$12\r\nsanity_check\r\n"),
        Step::Data(S, b"$12\r\nyou_are_sane\r\n"),
    ]);
    assert_eq!(
        summary(&ev),
        vec![
            ("SUBSCRIBE".into(), s(&["Foo"]), None, None),
            ("PSUBSCRIBE".into(), s(&["F*"]), None, None),
            ("RESET".into(), s(&[]), Some("RESET".into()), Some(true)),
            (
                "GET".into(),
                s(&["sanity_check"]),
                Some("you_are_sane".into()),
                Some(true)
            ),
        ]
    );
    let p: Vec<_> = pushes(&ev).into_iter().map(|p| (p.kind, p.items)).collect();
    assert_eq!(
        p,
        vec![
            ("subscribe".into(), s(&["subscribe", "Foo", "1"])),
            ("psubscribe".into(), s(&["psubscribe", "F*", "2"])),
            ("message".into(), s(&["message", "Foo", "Hi there :)"])),
            (
                "pmessage".into(),
                s(&["pmessage", "F*", "Foo", "Hi there :)"])
            ),
        ]
    );
    assert!(anomalies(&ev).is_empty());
}

#[test]
fn ping_while_subscribed_is_a_reply() {
    let ev = events(&[
        Step::Data(C, b"SUBSCRIBE a\r\n"),
        Step::Data(S, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"),
        Step::Data(C, b"PING\r\nUNSUBSCRIBE\r\nLRANGE l 0 -1\r\n"),
        Step::Data(
            S,
            b"*2\r\n$4\r\npong\r\n$0\r\n\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n",
        ),
        Step::Data(S, b"*1\r\n$7\r\nmessage\r\n"),
    ]);
    let sum = summary(&ev);
    assert_eq!(
        sum[1],
        ("PING".into(), s(&[]), Some("[pong, ]".into()), Some(true))
    );
    assert_eq!(sum[2].0, "UNSUBSCRIBE");
    // After the last unsubscribe an array headed `message` is a reply again.
    assert_eq!(
        sum[3],
        (
            "LRANGE".into(),
            s(&["l", "0", "-1"]),
            Some("[message]".into()),
            Some(true)
        )
    );
}

#[test]
fn resp3_push_and_hello() {
    let ev = events(&[
        Step::Data(C, b"HELLO 3 AUTH alice s3cret\r\n"),
        Step::Data(
            S,
            b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n",
        ),
        Step::Data(C, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
        Step::Data(
            S,
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n|1\r\n+ttl\r\n:5\r\n,1.5\r\n",
        ),
    ]);
    assert_eq!(
        summary(&ev),
        vec![
            (
                "HELLO".into(),
                s(&["3", "AUTH", "alice", "s3cret"]),
                Some("{server: redis, proto: 3}".into()),
                Some(true)
            ),
            ("GET".into(), s(&["k"]), Some("1.5".into()), Some(true)),
        ]
    );
    assert_eq!(pushes(&ev)[0].kind, "invalidate");
    assert_eq!(
        auths(&ev),
        vec![RedisAuth {
            user: Some("alice".into()),
            password: "s3cret".into(),
            success: Some(true),
            error: None,
            command: "HELLO".into()
        }]
    );
}

#[test]
fn auth_facts() {
    let ev = events(&[
        Step::Data(C, b"AUTH noone password\r\nAUTH pw\r\n"),
        Step::Data(
            S,
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n",
        ),
    ]);
    let a = auths(&ev);
    assert_eq!(a[0].user.as_deref(), Some("noone"));
    assert_eq!(a[0].success, Some(false));
    assert!(a[0].error.as_deref().unwrap().starts_with("WRONGPASS"));
    assert_eq!(
        (a[1].user.clone(), a[1].password.as_str(), a[1].success),
        (None, "pw", Some(true))
    );
}

#[test]
fn client_reply_off_and_skip() {
    let ev = events(&[
        Step::Data(C, b"CLIENT REPLY SKIP\r\nSET a 1\r\nGET a\r\nCLIENT REPLY OFF\r\nSET b 2\r\nCLIENT REPLY ON\r\nGET b\r\n"),
        Step::Data(S, b"$1\r\n1\r\n+OK\r\n$1\r\n2\r\n"),
    ]);
    let sum = summary(&ev);
    let replies: Vec<_> = sum.iter().map(|c| c.2.as_deref()).collect();
    assert_eq!(
        replies,
        vec![None, None, Some("1"), None, None, Some("OK"), Some("2")]
    );
}

#[test]
fn monitor_lines_are_pushes() {
    let ev = events(&[
        Step::Data(C, b"MONITOR\r\n"),
        Step::Data(
            S,
            b"+OK\r\n+1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\"\r\n",
        ),
    ]);
    assert_eq!(
        summary(&ev),
        vec![("MONITOR".into(), s(&[]), Some("OK".into()), Some(true))]
    );
    assert_eq!(pushes(&ev)[0].kind, "monitor");
    assert_eq!(
        pushes(&ev)[0].items,
        s(&["1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\""])
    );
}

#[test]
fn almost_redis_stops_after_non_resp_replies() {
    let ev = events(&[
        Step::Data(C, b"AUTH noone password\r\nPING\r\n"),
        Step::Data(S, b"+OK\r\n+OK\r\nnot RESP\r\nStill not RESP\r\nNope\r\n"),
    ]);
    assert_eq!(
        summary(&ev),
        vec![
            (
                "AUTH".into(),
                s(&["noone", "password"]),
                Some("OK".into()),
                Some(true)
            ),
            ("PING".into(), s(&[]), Some("OK".into()), Some(true)),
        ]
    );
    assert_eq!(anomalies(&ev), vec!["bad_type", "bad_type", "bad_type"]);
}

#[test]
fn unanswered_commands_are_emitted_at_close() {
    let ev = events(&[
        Step::Data(C, b"GET a\r\nGET b\r\n"),
        Step::Data(S, b"$1\r\nA\r\n"),
    ]);
    let sum = summary(&ev);
    assert_eq!(sum[0].2.as_deref(), Some("A"));
    assert_eq!(sum[1].2, None);
}

#[test]
fn huge_set_value_is_streamed() {
    let header = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$104857600\r\n";
    let block = vec![b'A'; 1 << 20];
    let mut steps = vec![Step::Data(C, header)];
    for _ in 0..100 {
        steps.push(Step::Data(C, &block));
    }
    steps.push(Step::Data(C, b"\r\n"));
    steps.push(Step::Data(S, b"+OK\r\n"));
    let ev = events(&steps);
    let cmds = commands(&ev);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].args[1].len(), 4096);
    assert!(cmds[0].truncated);
    assert_eq!(cmds[0].reply.as_deref(), Some("OK"));
    assert!(anomalies(&ev).is_empty(), "{:?}", anomalies(&ev));
}

#[test]
fn gap_resynchronises_on_the_next_command() {
    let ev = events(&[
        Step::Data(C, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc"),
        Step::Gap(C, 4),
        Step::Data(C, b"hij\r\nnoise\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
        Step::Data(S, b"$10\r\nabcdefghij\r\n"),
    ]);
    let names: Vec<_> = commands(&ev).into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["GET"]);
}

#[test]
fn probe_is_strict() {
    let p = |d: Direction, b: &[u8]| probe(d, b);
    assert_eq!(p(C, b"*3\r\n$3\r\nSET\r\n"), Probe::Match);
    assert_eq!(p(C, b"*3\r"), Probe::NeedMore);
    assert_eq!(p(C, b"ping\r\n"), Probe::Match);
    assert_eq!(p(C, b"AUTH noone password\r\nPING\r\n"), Probe::Match);
    assert_eq!(p(C, b"PIN"), Probe::NeedMore);
    assert_eq!(p(C, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Probe::NoMatch);
    assert_eq!(p(C, b"POST / HTTP/1.1\r\n"), Probe::NoMatch);
    assert_eq!(p(C, b"AUTH TLS\r\n"), Probe::NoMatch);
    assert_eq!(p(C, b"USER anonymous\r\n"), Probe::NoMatch);
    assert_eq!(p(C, b"SSH-2.0-OpenSSH_9.2\r\n"), Probe::NoMatch);
    assert_eq!(p(C, b"@RSYNCD: 31.0\n"), Probe::NoMatch);
    assert_eq!(p(C, b"*\x00\x00\x00\xd4\x07\x00\x00"), Probe::NoMatch);
    assert_eq!(p(S, b"+OK\r\n"), Probe::NoMatch);
    assert_eq!(p(S, b"220 ProFTPD Server\r\n"), Probe::NoMatch);
    assert_eq!(p(S, b"SSH-2.0-OpenSSH\r\n"), Probe::NoMatch);
    assert_eq!(p(S, b"HTTP/1.1 200 OK\r\n"), Probe::NoMatch);
    assert_eq!(p(S, b"-NOAUTH Authentication required.\r\n"), Probe::Match);
    assert_eq!(p(S, b"$5\r\nhello\r\n"), Probe::Match);
    assert_eq!(p(S, b"$5\r"), Probe::NeedMore);
    assert_eq!(p(S, b"*2\r\n$1\r\n"), Probe::Match);
    assert_eq!(p(S, b"-ERR invalid command\r\n"), Probe::NoMatch);
}

/// A session exercising most of the dissector.
fn script() -> (Vec<u8>, Vec<u8>) {
    let mut client = PUBSUB_CLIENT.to_vec();
    client.extend_from_slice(
        b"*1\r\n$5\r\nRESET\r\nSET \"a b\" 'c'\r\nHELLO 3\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    );
    let mut server = PUBSUB_SERVER.to_vec();
    server.extend_from_slice(
        b"+RESET\r\n+OK\r\n%1\r\n$5\r\nproto\r\n:3\r\n>2\r\n$1\r\nx\r\n_\r\n=7\r\ntxt:abc\r\n",
    );
    (client, server)
}

proptest! {
    #[test]
    fn chunking_does_not_change_events(a in 1usize..64, b in 1usize..64) {
        let (client, server) = script();
        let whole = events(&[Step::Data(C, &client), Step::Data(S, &server)]);
        let mut steps = chunked(C, &client, a);
        steps.extend(chunked(S, &server, b));
        let pieces = events(&steps);
        let strip = |ev: &[Event]| ev.iter().map(|e| serde_json::to_value(&e.body).unwrap()).collect::<Vec<_>>();
        prop_assert_eq!(strip(&whole), strip(&pieces));
        prop_assert_eq!(commands(&whole).len(), 6);
    }

    #[test]
    fn random_bytes_never_panic(c in proptest::collection::vec(any::<u8>(), 0..512),
                                s in proptest::collection::vec(any::<u8>(), 0..512),
                                n in 1usize..40) {
        let mut steps = chunked(C, &c, n);
        steps.extend(chunked(S, &s, n));
        steps.push(Step::Gap(C, 3));
        steps.extend(chunked(C, &c, n));
        let _ = events(&steps);
        let _ = probe(C, &c);
        let _ = probe(S, &s);
    }

    #[test]
    fn mutated_sessions_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
                                    cut in any::<usize>(), dup in any::<usize>(), n in 1usize..40) {
        let (mut client, mut server) = script();
        for (at, bits) in &flips {
            let len = client.len();
            client[at % len] ^= bits;
            let len = server.len();
            server[at % len] ^= bits;
        }
        client.truncate(cut % (client.len() + 1));
        let mut steps = chunked(C, &client, n);
        // A duplicated chunk, as a bad retransmission would give.
        let chunk = dup % server.len();
        steps.push(Step::Data(S, &server[chunk..(chunk + n).min(server.len())]));
        steps.extend(chunked(S, &server, n));
        let _ = events(&steps);
    }

    #[test]
    fn nesting_and_lengths_are_bounded(depth in 0usize..200, len in any::<i64>()) {
        let mut data = "*1\r\n".repeat(depth).into_bytes();
        data.extend_from_slice(format!("${len}\r\n").as_bytes());
        let _ = events(&[Step::Data(S, &data), Step::Data(C, &data)]);
    }
}

/// `testdata/redis-session.pcap`, recorded with redis-server 7 and
/// redis-cli by `testdata/make-capture.sh`.
#[test]
fn own_capture_with_real_redis() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/protocols/redis/testdata/redis-session.pcap");
    let ev =
        crate::engine::dissect_file(&path, &crate::artifact::ArtifactStore::hash_only()).unwrap();
    assert!(anomalies(&ev).is_empty(), "{:?}", anomalies(&ev));
    let cmds = commands(&ev);
    let big = cmds
        .iter()
        .find(|c| c.key.as_deref() == Some("bigvalue"))
        .unwrap();
    assert!(big.truncated && big.args[1].len() == 4096 && big.success == Some(true));
    let names: Vec<&str> = cmds.iter().map(|c| c.name.as_str()).collect();
    for name in [
        "HELLO",
        "CLIENT",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "MONITOR",
        "PUBLISH",
    ] {
        assert!(names.contains(&name), "{name} missing");
    }
    let skipped: Vec<_> = cmds
        .iter()
        .filter(|c| c.key.as_deref() == Some("a"))
        .map(|c| c.reply.clone())
        .collect();
    assert_eq!(skipped, vec![None, Some("1".to_string())]);
    let a = auths(&ev);
    assert_eq!(a.iter().filter(|a| a.success == Some(false)).count(), 5);
    assert!(a
        .iter()
        .any(|a| a.command == "HELLO" && a.user.as_deref() == Some("alice")));
    let kinds: Vec<String> = pushes(&ev).into_iter().map(|p| p.kind).collect();
    for kind in [
        "subscribe",
        "psubscribe",
        "message",
        "pmessage",
        "monitor",
        "invalidate",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} push missing");
    }
    // Every command was answered except those CLIENT REPLY silenced and the
    // subscriptions (answered by pushes).
    let unanswered = cmds.iter().filter(|c| c.reply.is_none()).count();
    assert_eq!(unanswered, 6);
}

#[test]
fn psync_rdb_transfer_has_no_trailing_crlf() {
    let ev = events(&[
        Step::Data(C, b"PSYNC ? -1\r\n"),
        Step::Data(
            S,
            b"+FULLRESYNC 8de1787ba490483314a4d30f1c628bc5025eb761 0\r\n\n\n$9\r\nREDIS0011",
        ),
        Step::Data(S, b"*1\r\n$4\r\nPING\r\n"),
    ]);
    let cmds = commands(&ev);
    assert_eq!(cmds[0].name, "PSYNC");
    assert!(cmds[0].reply.as_deref().unwrap().starts_with("FULLRESYNC"));
    // The RDB and the replication stream answer no command.
    assert_eq!(anomalies(&ev), vec!["unmatched_reply"]);
}

#[test]
fn subscribe_refused_gets_the_error() {
    let ev = events(&[
        Step::Data(C, b"SUBSCRIBE a b\r\nPING\r\n"),
        Step::Data(
            S,
            b"-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n",
        ),
    ]);
    let sum = summary(&ev);
    assert_eq!(sum[0].0, "SUBSCRIBE");
    assert_eq!(sum[0].3, Some(false));
    assert_eq!(sum[1].0, "PING");
    assert_eq!(sum[1].3, Some(false));
}

#[test]
fn subscribe_waits_for_one_confirmation_per_channel() {
    let ev = events(&[
        Step::Data(C, b"SUBSCRIBE a b\r\nPING\r\n"),
        Step::Data(S, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n"),
        Step::Data(S, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
    ]);
    assert_eq!(
        summary(&ev),
        vec![
            ("SUBSCRIBE".into(), s(&["a", "b"]), None, None),
            ("PING".into(), s(&[]), Some("[pong, ]".into()), Some(true)),
        ]
    );
    assert_eq!(pushes(&ev).len(), 3);
    assert!(anomalies(&ev).is_empty());
}

#[test]
fn long_line_in_tiny_segments() {
    let mut line = b"SET k ".to_vec();
    line.extend(std::iter::repeat_n(b'v', 30_000));
    line.extend_from_slice(b"\r\n");
    let ev = events(&chunked(C, &line, 7));
    let cmds = commands(&ev);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].args[1].len(), 4096);
    assert!(cmds[0].truncated);
}
