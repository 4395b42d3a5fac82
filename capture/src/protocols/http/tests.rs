use model::events::http::{HttpEvent, HttpRequest, HttpUpload};
use model::{Direction, Event, EventBody};
use proptest::prelude::*;

use super::SPEC;
use crate::artifact::ArtifactStore;
use crate::protocols::testkit::{self, flow, run, Step};
use crate::protocols::Ctx;

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

fn requests(events: &[Event]) -> Vec<HttpRequest> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Http(HttpEvent::Request(r)) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

use crate::protocols::testkit::anomalies;

fn dissect(steps: &[Step<'_>]) -> Vec<Event> {
    run((SPEC.new)(), 80, steps).events
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

const GET: &[u8] = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: curl/8.0\r\n\
Authorization: Basic YWRtaW46aHVudGVyMg==\r\nReferer: http://example.org/\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn pairs_a_request_with_its_response() {
    let events = dissect(&[Step::Data(C, GET), Step::Data(S, OK)]);
    let r = requests(&events);
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.method.as_deref(), Some("GET"));
    assert_eq!(r.uri.as_deref(), Some("/a b?x=1"));
    assert_eq!(r.raw_uri.as_deref(), Some("/a%20b?x=1"));
    assert_eq!(r.host.as_deref(), Some("example.org"));
    assert_eq!(r.user_agent.as_deref(), Some("curl/8.0"));
    assert_eq!(r.referrer.as_deref(), Some("http://example.org/"));
    assert_eq!(
        (r.username.as_deref(), r.password.as_deref()),
        (Some("admin"), Some("hunter2"))
    );
    assert_eq!(
        (r.status_code, r.status_msg.as_deref()),
        (Some(200), Some("OK"))
    );
    assert_eq!(r.response_body_len, 5);
    assert_eq!(r.response_body_sha256, Some(sha256(b"hello")));
    assert_eq!(r.response_content_type.as_deref(), Some("text/html"));
    assert_eq!(
        (r.trans_depth, r.request_headers, r.response_headers),
        (1, 4, 2)
    );
    assert_eq!(
        events[0].ts,
        testkit_ts(0),
        "stamped with the request's time"
    );
    assert!(anomalies(&events).is_empty());
}

fn testkit_ts(step: u64) -> model::Timestamp {
    model::Timestamp(model::Timestamp::from_timeval(1_700_000_000, 0).0 + step as i64 * 1_000_000)
}

const PIPELINED_REQUESTS: &[u8] =
    b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n\
GET /3 HTTP/1.1\r\nHost: h\r\n\r\nGET /4 HTTP/1.1\r\nHost: h\r\n\r\n";
const PIPELINED_RESPONSES: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
HTTP/1.1 304 Not Modified\r\n\r\n\
HTTP/1.0 404 Not Found\r\n\r\nnot here";

#[test]
fn pipelined_requests_pair_in_order_whatever_the_framing() {
    let events = dissect(&[
        Step::Data(C, PIPELINED_REQUESTS),
        Step::Data(S, PIPELINED_RESPONSES),
    ]);
    let r = requests(&events);
    let got: Vec<_> = r
        .iter()
        .map(|r| {
            (
                r.trans_depth,
                r.uri.clone().unwrap(),
                r.status_code.unwrap(),
                r.response_body_len,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "/1".into(), 200, 11),
            (2, "/2".into(), 200, 0),
            (3, "/3".into(), 304, 0),
            (4, "/4".into(), 404, 8)
        ]
    );
    assert_eq!(r[0].response_body_sha256, Some(sha256(b"hello world")));
    assert!(anomalies(&events).is_empty());
}

#[test]
fn same_events_however_the_streams_are_cut() {
    let whole = dissect(&[
        Step::Data(C, PIPELINED_REQUESTS),
        Step::Data(S, PIPELINED_RESPONSES),
    ]);
    for size in [1, 2, 3, 7, 64] {
        let mut steps = testkit::chunked(C, PIPELINED_REQUESTS, size);
        steps.extend(testkit::chunked(S, PIPELINED_RESPONSES, size));
        assert_eq!(
            requests(&dissect(&steps)),
            requests(&whole),
            "chunks of {size}"
        );
    }
}

#[test]
fn hundred_continue_is_an_interim_response() {
    let head = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
    let events = dissect(&[
        Step::Data(C, head),
        Step::Data(S, b"HTTP/1.1 100 Continue\r\n\r\n"),
        Step::Data(C, b"data"),
        Step::Data(S, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    let r = requests(&events);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].info_code, r[0].info_msg.as_deref()),
        (Some(100), Some("Continue"))
    );
    assert_eq!(
        (
            r[0].status_code,
            r[0].request_body_len,
            r[0].response_body_len
        ),
        (Some(201), 4, 2)
    );
    assert_eq!(r[0].request_body_sha256, Some(sha256(b"data")));
}

#[test]
fn multipart_uploads_are_kept_with_their_file_names() {
    let body =
        b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.php\"\r\n\
Content-Type: application/octet-stream\r\n\r\n<?php eval($_POST[1]); ?>\r\n--b0undary--\r\n";
    let head = format!(
        "POST /upload.php HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=b0undary\r\n\
Content-Length: {}\r\n\r\n",
        body.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::in_dir(dir.path()).unwrap();
    let out = testkit::run_with(
        (SPEC.new)(),
        &flow(80),
        &store,
        &[
            Step::Data(C, head.as_bytes()),
            Step::Data(C, body),
            Step::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
    );
    let r = requests(&out.events);
    assert_eq!(r[0].filenames, ["x.php"]);
    assert_eq!(r[0].request_body_len, body.len() as u64);
    // The file part on its own: its content, hashed and kept.
    let content = b"<?php eval($_POST[1]); ?>";
    assert_eq!(
        r[0].uploads,
        [HttpUpload {
            filename: "x.php".to_string(),
            size: content.len() as u64,
            sha256: Some(sha256(content)),
        }]
    );
    assert_eq!(
        std::fs::read(dir.path().join(sha256(content))).unwrap(),
        content,
        "uploaded file kept as an artifact"
    );
    let sha = r[0].request_body_sha256.clone().unwrap();
    assert_eq!(
        std::fs::read(dir.path().join(&sha)).unwrap(),
        body,
        "upload kept as an artifact"
    );
}

#[test]
fn response_filename_and_until_close_body() {
    let events = dissect(&[
        Step::Data(C, b"GET /f HTTP/1.0\r\n\r\n"),
        Step::Data(
            S,
            b"HTTP/1.0 200 OK\r\nContent-Disposition: attachment; filename=\"test.json\"\r\n\r\n{}",
        ),
        Step::Data(S, b"[]"),
    ]);
    let r = requests(&events);
    assert_eq!(r[0].filenames, ["test.json"]);
    assert_eq!(r[0].response_body_len, 4);
}

#[test]
fn upgrade_stops_after_101() {
    let store = ArtifactStore::hash_only();
    let f = flow(80);
    let mut events = Vec::new();
    let mut expectations = Vec::new();
    let mut d = (SPEC.new)();
    let mut ctx = Ctx::new(testkit_ts(0), &f, &mut events, &store, &mut expectations);
    let req = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert_eq!(d.parse(C, req, &mut ctx), req.len());
    let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
    d.parse(S, resp, &mut ctx);
    assert!(!d.wants_more());
    d.close(&mut ctx);
    let r = requests(&events);
    assert_eq!(
        (r.len(), r[0].status_code, r[0].upgrade.as_deref()),
        (1, Some(101), Some("websocket"))
    );
}

#[test]
fn connect_tunnel_and_refused_connect() {
    let events = dissect(&[
        Step::Data(
            C,
            b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n\x16\x03\x01",
        ),
        Step::Data(
            S,
            b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03",
        ),
    ]);
    let r = requests(&events);
    assert_eq!((r.len(), r[0].upgrade.as_deref()), (1, Some("connect")));
    assert!(anomalies(&events).is_empty());

    let events = dissect(&[
        Step::Data(C, b"CONNECT h:443 HTTP/1.1\r\n\r\n"),
        Step::Data(S, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        Step::Data(C, b"GET / HTTP/1.1\r\n\r\n"),
        Step::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(requests(&events).len(), 2);
}

#[test]
fn bad_request_lines_get_a_record_and_resynchronise() {
    let events = dissect(&[
        Step::Data(
            C,
            b"\xc3\x83\xc3\x82 / HTTP/1.1\nHost: www.google.com\n\nGET /next HTTP/1.1\r\n\r\n",
        ),
        Step::Data(
            S,
            b"HTTP/1.0 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
        ),
        Step::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let r = requests(&events);
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].method.as_deref(), r[0].status_code),
        (None, Some(400))
    );
    assert_eq!(
        (r[1].uri.as_deref(), r[1].status_code),
        (Some("/next"), Some(200))
    );
    assert_eq!(anomalies(&events), ["bad_request_line"]);
}

#[test]
fn http09_request_takes_a_body_only_reply() {
    let events = dissect(&[
        Step::Data(C, b"GET /\r\n"),
        Step::Data(S, b"<html>hi</html>"),
    ]);
    let r = requests(&events);
    assert_eq!(
        (
            r[0].version.as_deref(),
            r[0].status_code,
            r[0].response_body_len
        ),
        (Some("0.9"), None, 15)
    );
}

#[test]
fn unanswered_requests_are_emitted_at_close() {
    let events = dissect(&[Step::Data(
        C,
        b"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
    )]);
    let r = requests(&events);
    assert_eq!(r.len(), 2);
    assert_eq!((r[1].status_code, r[1].request_body_len), (None, 3));
}

#[test]
fn gaps_inside_a_body_keep_the_framing() {
    let events = dissect(&[
        Step::Data(C, b"GET / HTTP/1.1\r\n\r\n"),
        Step::Data(S, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"),
        Step::Gap(S, 5),
        Step::Data(S, b"fgh"),
        Step::Data(S, b"HTTP/1.1 200 OK\r\n\r\n"),
    ]);
    let r = requests(&events);
    assert_eq!(
        (r[0].response_body_len, r[0].response_body_sha256.as_deref()),
        (10, None)
    );
    assert_eq!(r.len(), 2, "the next response is still found");
}

#[test]
fn oversized_heads_are_anomalies() {
    let mut big = b"GET / HTTP/1.1\r\n".to_vec();
    while big.len() < 70 * 1024 {
        big.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let events = dissect(&testkit::chunked(C, &big, 1500));
    assert!(anomalies(&events).contains(&"oversized_head".to_string()));
}

#[test]
fn smuggling_signs_are_anomalies() {
    let events = dissect(&[Step::Data(
        C,
        b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )]);
    assert_eq!(anomalies(&events), ["chunked_with_length"]);
    assert_eq!(requests(&events)[0].request_body_len, 0);
}

proptest! {
    #[test]
    fn chunking_never_changes_events(cuts in proptest::collection::vec(1usize..40, 1..20)) {
        let whole = requests(&dissect(&[Step::Data(C, PIPELINED_REQUESTS), Step::Data(S, PIPELINED_RESPONSES)]));
        let mut steps = Vec::new();
        for (dir, data) in [(C, PIPELINED_REQUESTS), (S, PIPELINED_RESPONSES)] {
            let mut at = 0;
            let mut i = 0;
            while at < data.len() {
                let end = (at + cuts[i % cuts.len()]).min(data.len());
                steps.push(Step::Data(dir, &data[at..end]));
                at = end;
                i += 1;
            }
        }
        prop_assert_eq!(requests(&dissect(&steps)), whole);
    }

    #[test]
    fn hostile_bytes_never_panic(
        req in proptest::collection::vec(any::<u8>(), 0..600),
        resp in proptest::collection::vec(any::<u8>(), 0..600),
        flip in any::<(usize, u8)>(),
        cut in 1usize..50,
    ) {
        // Random bytes, and a real exchange with one byte flipped,
        // duplicated chunks and truncation.
        dissect(&[Step::Data(C, &req), Step::Data(S, &resp), Step::Gap(C, 3), Step::Data(C, &req)]);
        let mut c = PIPELINED_REQUESTS.to_vec();
        let mut s = PIPELINED_RESPONSES.to_vec();
        let i = flip.0 % c.len();
        c[i] ^= flip.1;
        let j = flip.0 % s.len();
        s[j] ^= flip.1;
        let mut steps = testkit::chunked(C, &c, cut);
        steps.extend(testkit::chunked(S, &s[..s.len() - cut.min(s.len())], cut));
        let dup = steps.clone();
        steps.extend(dup);
        dissect(&steps);
    }
}

/// Real traffic: curl 7.88 and a pipelining client against Python's
/// http.server, recorded with `testdata/record.sh`.
#[test]
fn own_capture_of_curl_and_python_http_server() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/protocols/http/testdata/http-local.pcap"
    );
    let events =
        crate::engine::dissect_file(std::path::Path::new(path), &ArtifactStore::hash_only())
            .unwrap();
    let r = requests(&events);
    let got: Vec<_> = r
        .iter()
        .map(|r| {
            (
                r.trans_depth,
                r.method.clone().unwrap(),
                r.uri.clone().unwrap(),
                r.status_code.unwrap(),
                r.request_body_len,
            )
        })
        .collect();
    let expected: Vec<(u32, String, String, u16, u64)> = [
        (1, "GET", "/index.html?q='or 1=1", 200, 0),
        (1, "GET", "/secret", 200, 0),
        (1, "POST", "/upload", 201, r[2].request_body_len),
        (1, "POST", "/post", 201, 40000),
        (1, "PUT", "/put.bin", 201, 40000),
        (1, "HEAD", "/head", 200, 0),
        (1, "GET", "/a", 200, 0),
        (2, "GET", "/chunked", 200, 0),
        (3, "HEAD", "/h", 200, 0),
        (4, "GET", "/last", 200, 0),
    ]
    .into_iter()
    .map(|(d, m, u, s, l)| (d, m.to_string(), u.to_string(), s, l))
    .collect();
    assert_eq!(got, expected);
    assert_eq!(
        (r[1].username.as_deref(), r[1].password.as_deref()),
        (Some("admin"), Some("hunter2"))
    );
    assert_eq!(r[2].filenames, ["shell.php"]);
    let upload = sha256(&[b'A'; 40000]);
    assert_eq!(r[3].request_body_sha256.as_deref(), Some(upload.as_str()));
    assert_eq!(r[4].request_body_sha256.as_deref(), Some(upload.as_str()));
    assert_eq!((r[3].info_code, r[4].info_code), (Some(100), Some(100)));
    assert_eq!((r[5].response_body_len, r[7].response_body_len), (0, 19));
    assert!(anomalies(&events).is_empty());
}

#[test]
fn binary_garbage_gets_no_record_and_is_given_up_eventually() {
    let mut junk = Vec::new();
    for i in 0..40u8 {
        junk.extend_from_slice(&[0x00, i, 0x01, b'\n']);
    }
    let events = dissect(&[Step::Data(C, &junk)]);
    assert!(requests(&events).is_empty());
    let kinds = anomalies(&events);
    assert_eq!(
        kinds.iter().filter(|k| *k == "bad_request_line").count(),
        1,
        "one per resynchronisation"
    );

    let mut text = Vec::new();
    for _ in 0..40 {
        text.extend_from_slice(b"HELLO\n\nGET / HTTP/1.1\r\nContent-Length: 1\r\n\r\nxjunk\n");
    }
    let events = dissect(&[Step::Data(C, &text)]);
    assert!(anomalies(&events).contains(&"gave_up".to_string()));
}

const UPLOADS: &[u8] = b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=zz\r\n\
Content-Length: 106\r\n\r\n--zz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.sh\"\r\n\r\n\
#!/bin/sh\r\n--zz\r\n\r\nno headers\r\n--zz--\r\n\
PUT /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n";
const UPLOAD_REPLIES: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Created\r\n\r\n";

#[test]
fn uploads_are_hashed_and_named() {
    let r = requests(&dissect(&[
        Step::Data(C, UPLOADS),
        Step::Data(S, UPLOAD_REPLIES),
    ]));
    assert_eq!(r.len(), 2);
    assert_eq!(
        (
            r[0].filenames.clone(),
            r[0].request_body_len,
            r[0].info_code
        ),
        (vec!["a.sh".to_string()], 106, Some(100))
    );
    assert_eq!(
        r[0].uploads,
        [HttpUpload {
            filename: "a.sh".to_string(),
            size: 9,
            sha256: Some(sha256(b"#!/bin/sh")),
        }]
    );
    assert_eq!(
        (r[1].request_body_len, r[1].request_body_sha256.clone()),
        (5, Some(sha256(b"abcde")))
    );
    assert_eq!((r[1].status_code, r[1].response_body_len), (Some(201), 0));
}

proptest! {
    #[test]
    fn chunking_never_changes_upload_events(cuts in proptest::collection::vec(1usize..30, 1..20)) {
        let whole = requests(&dissect(&[Step::Data(C, UPLOADS), Step::Data(S, UPLOAD_REPLIES)]));
        let mut steps = Vec::new();
        // Requests first (a server answers only what it has read).
        for (dir, data) in [(C, UPLOADS), (S, UPLOAD_REPLIES)] {
            let (mut at, mut i) = (0, 0);
            while at < data.len() {
                let end = (at + cuts[i % cuts.len()]).min(data.len());
                steps.push(Step::Data(dir, &data[at..end]));
                at = end;
                i += 1;
            }
        }
        prop_assert_eq!(requests(&dissect(&steps)), whole);
    }
}
