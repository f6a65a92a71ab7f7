//! Drives TestNode over raw HTTP/1.1 on std TcpStreams and checks what it answers and records.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use cluster_testnode::{Fault, Rule, Slashes, TestNode, cluster};

/// Upper bound for anything that should happen promptly; only reached when a test fails.
const WAIT: Duration = Duration::from_secs(10);

/// A response as read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// One client connection, kept alive across requests.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(node: &TestNode) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", node.port())).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("set timeout");
        Conn {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        self.write_raw(request.as_bytes());
    }

    fn write_raw(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    /// Reads one response; an EOF before the status line is `UnexpectedEof`.
    fn read(&mut self) -> io::Result<Reply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header colon");
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = reply
            .header("Content-Length")
            .expect("Content-Length")
            .parse()
            .expect("numeric Content-Length");
        reply.body = vec![0; len];
        self.reader.read_exact(&mut reply.body)?;
        Ok(reply)
    }

    fn call(&mut self, method: &str, path: &str, body: &str) -> Reply {
        self.send(method, path, body, &[]);
        self.read().expect("a response")
    }

    /// Asserts the server closed the connection without sending anything more.
    fn assert_closed(&mut self) {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).expect("clean close");
        assert_eq!(String::from_utf8_lossy(&rest), "", "bytes after close");
    }
}

fn call(node: &TestNode, method: &str, path: &str, body: &str) -> Reply {
    Conn::open(node).call(method, path, body)
}

fn create(node: &TestNode, id: &str) -> Reply {
    call(node, "POST", "/v1/group/", &group_body(id))
}

fn delete(node: &TestNode, id: &str) -> Reply {
    call(node, "DELETE", "/v1/group/", &group_body(id))
}

fn get(node: &TestNode, encoded_id: &str) -> Reply {
    call(node, "GET", &format!("/v1/group/{encoded_id}/"), "")
}

fn group_body(id: &str) -> String {
    serde_json::json!({ "groupId": id }).to_string()
}

// --- The API itself ---

#[test]
fn create_answers_201_with_the_id_then_400_when_the_group_exists() {
    let node = TestNode::start();

    let first = create(&node, "g1");
    assert_eq!(first.status, 201);
    assert_eq!(first.header("Content-Type"), Some("application/json"));
    assert_eq!(first.json(), serde_json::json!({ "groupId": "g1" }));
    assert!(node.has_group("g1"));

    let again = create(&node, "g1");
    assert_eq!(again.status, 400);
    assert_eq!(again.json(), serde_json::json!({ "error": "group exists" }));
    assert_eq!(node.groups().into_iter().collect::<Vec<_>>(), ["g1"]);
}

#[test]
fn get_answers_200_for_a_held_group_and_404_otherwise() {
    let node = TestNode::start();
    node.insert_group("here");

    let found = get(&node, "here");
    assert_eq!(found.status, 200);
    assert_eq!(found.json(), serde_json::json!({ "groupId": "here" }));
    assert_eq!(get(&node, "missing").status, 404);
}

#[test]
fn delete_answers_200_and_removes_whether_or_not_the_group_exists() {
    let node = TestNode::start();
    node.insert_group("g");

    assert_eq!(delete(&node, "g").status, 200);
    assert!(!node.has_group("g"));
    assert_eq!(delete(&node, "g").status, 200);
    assert_eq!(delete(&node, "never-there").status, 200);
    assert!(node.groups().is_empty());
}

#[test]
fn write_without_a_string_group_id_is_400_and_still_recorded() {
    let node = TestNode::start();

    assert_eq!(call(&node, "POST", "/v1/group/", "not json").status, 400);
    assert_eq!(
        call(&node, "DELETE", "/v1/group/", r#"{"id":"g"}"#).status,
        400
    );

    let requests = node.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, "not json");
    assert_eq!(requests[0].group, None);
    assert_eq!(node.writes(), 2);
    assert!(node.groups().is_empty());
}

#[test]
fn get_decodes_one_percent_encoded_segment_into_the_id() {
    let node = TestNode::start();
    let id = "a/b c?#é";
    node.insert_group(id);

    let found = get(&node, "a%2Fb%20c%3F%23%C3%A9");
    assert_eq!(found.status, 200);
    assert_eq!(found.json(), serde_json::json!({ "groupId": id }));
    assert_eq!(node.requests()[0].group.as_deref(), Some(id));
    assert_eq!(node.requests()[0].path, "/v1/group/a%2Fb%20c%3F%23%C3%A9/");
}

#[test]
fn id_with_an_unencoded_slash_is_a_404_path() {
    let node = TestNode::start();
    node.insert_group("a/b");

    let reply = get(&node, "a/b");
    assert_eq!(reply.status, 404);
    assert_eq!(node.requests()[0].group, None);
}

#[test]
fn create_with_special_characters_stores_the_exact_id() {
    let node = TestNode::start();
    let id = "a/b c?#é\"\\";

    assert_eq!(create(&node, id).status, 201);
    assert!(node.has_group(id));
    assert_eq!(create(&node, id).json()["error"], "group exists");
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let node = TestNode::start();

    assert_eq!(call(&node, "GET", "/v2/group/", "").status, 404);
    assert_eq!(
        call(&node, "GET", "/v1/group/no-trailing-slash", "").status,
        404
    );
    let wrong = call(&node, "PUT", "/v1/group/", &group_body("g"));
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("Allow"), Some("POST, DELETE"));
    assert_eq!(call(&node, "POST", "/v1/group/g/", "").status, 405);
    assert!(node.groups().is_empty());
}

#[test]
fn keep_alive_connection_serves_several_requests() {
    let node = TestNode::start();
    let mut conn = Conn::open(&node);

    assert_eq!(
        conn.call("POST", "/v1/group/", &group_body("g")).status,
        201
    );
    assert_eq!(conn.call("GET", "/v1/group/g/", "").status, 200);
    assert_eq!(
        conn.call("DELETE", "/v1/group/", &group_body("g")).status,
        200
    );
    assert_eq!(conn.call("GET", "/v1/group/g/", "").status, 404);
    assert_eq!(node.requests().len(), 4);
}

#[test]
fn connection_close_is_answered_then_honoured() {
    let node = TestNode::start();
    let mut conn = Conn::open(&node);

    conn.send("GET", "/v1/group/g/", "", &[("Connection", "close")]);
    let reply = conn.read().expect("a response");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("Connection"), Some("close"));
    conn.assert_closed();
}

#[test]
fn chunked_body_is_read_like_a_content_length_one() {
    let node = TestNode::start();
    let mut conn = Conn::open(&node);

    conn.write_raw(
        b"POST /v1/group/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\n{\"gro\r\n9\r\nupId\":\"g\"\r\n1\r\n}\r\n0\r\n\r\n",
    );
    assert_eq!(conn.read().expect("a response").status, 201);
    assert!(node.has_group("g"));
}

#[test]
fn malformed_request_gets_400_and_a_close() {
    let node = TestNode::start();
    let mut conn = Conn::open(&node);

    conn.write_raw(b"NONSENSE\r\n\r\n");
    let reply = conn.read().expect("a response");
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("request line"), "{}", reply.text());
    conn.assert_closed();
    assert!(node.requests().is_empty(), "not a request, so not recorded");
}

#[test]
fn requests_are_recorded_in_order_with_headers_and_body() {
    let node = TestNode::start();
    let mut conn = Conn::open(&node);

    conn.send("POST", "/v1/group/", &group_body("g"), &[("X-Trace", "t1")]);
    conn.read().expect("a response");
    conn.call("GET", "/v1/group/g/?verbose=1", "");

    let requests = node.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/group/");
    assert_eq!(requests[0].group.as_deref(), Some("g"));
    assert_eq!(requests[0].header("x-trace"), Some("t1"));
    assert_eq!(requests[0].body, r#"{"groupId":"g"}"#);
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].path, "/v1/group/g/?verbose=1");
    assert_eq!(requests[1].group.as_deref(), Some("g"));
    assert_eq!(node.count("POST"), 1);
    assert_eq!(node.count("get"), 1);
    assert_eq!(node.writes(), 1);
}

// --- Faults ---

#[test]
fn status_fault_answers_it_without_applying() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Status(503)));

    assert_eq!(create(&node, "g").status, 503);
    assert!(!node.has_group("g"));
    let exchange = &node.exchanges()[0];
    assert_eq!(exchange.fault, Some(Fault::Status(503)));
    assert!(!exchange.applied);
    assert_eq!(exchange.status, Some(503));
}

#[test]
fn apply_then_status_applies_before_answering_it() {
    let node = TestNode::start();
    node.insert_group("old");
    node.add_rule(Rule::new(Fault::ApplyThenStatus(500)));

    assert_eq!(create(&node, "g").status, 500);
    assert_eq!(delete(&node, "old").status, 500);
    assert_eq!(node.groups().into_iter().collect::<Vec<_>>(), ["g"]);
    assert!(node.exchanges().iter().all(|e| e.applied));
}

#[test]
fn hang_answers_nothing_until_released_and_does_not_apply() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Hang));
    let mut conn = Conn::open(&node);

    conn.send("POST", "/v1/group/", &group_body("g"), &[]);
    assert!(node.wait_for_requests(1, WAIT));
    assert!(!node.has_group("g"));

    // Note: proving an absence needs some bound; a short read timeout is that bound.
    let stream = conn.reader.get_ref();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("set timeout");
    let early = conn.read().expect_err("no answer while hanging");
    assert!(
        matches!(early.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{early:?}"
    );

    conn.reader
        .get_ref()
        .set_read_timeout(Some(WAIT))
        .expect("set timeout");
    node.release_hangs();
    conn.assert_closed();
    assert!(!node.has_group("g"));
    assert_eq!(node.exchanges()[0].status, None);
}

#[test]
fn apply_then_hang_applies_and_drop_releases_the_connection() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::ApplyThenHang));
    let mut conn = Conn::open(&node);

    conn.send("POST", "/v1/group/", &group_body("g"), &[]);
    assert!(node.wait_for_requests(1, WAIT));
    assert!(node.has_group("g"));

    let started = Instant::now();
    drop(node);
    conn.assert_closed();
    assert!(started.elapsed() < WAIT);
}

#[test]
fn release_hangs_does_not_release_later_hangs() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Hang));
    node.release_hangs();
    let mut conn = Conn::open(&node);

    conn.send("GET", "/v1/group/g/", "", &[]);
    assert!(node.wait_for_requests(1, WAIT));
    conn.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("set timeout");
    let early = conn.read().expect_err("still hanging");
    assert!(
        matches!(early.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{early:?}"
    );
}

#[test]
fn reset_fails_the_read_with_connection_reset_and_does_not_apply() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Reset));
    let mut conn = Conn::open(&node);

    conn.send("POST", "/v1/group/", &group_body("g"), &[]);
    let error = conn.read().expect_err("reset");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error:?}");
    assert!(!node.has_group("g"));
    assert!(!node.exchanges()[0].applied);
}

#[test]
fn apply_then_reset_applies_then_resets() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::ApplyThenReset));
    let mut conn = Conn::open(&node);

    conn.send("POST", "/v1/group/", &group_body("g"), &[]);
    let error = conn.read().expect_err("reset");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error:?}");
    assert!(node.has_group("g"));
}

#[test]
fn too_many_requests_carries_retry_after_only_when_given() {
    let node = TestNode::start();
    node.add_rule(
        Rule::new(Fault::TooManyRequests {
            retry_after: Some("2".to_owned()),
        })
        .times(1),
    );
    node.add_rule(Rule::new(Fault::TooManyRequests { retry_after: None }).times(1));

    let first = create(&node, "g");
    assert_eq!(first.status, 429);
    assert_eq!(first.header("Retry-After"), Some("2"));
    let second = create(&node, "g");
    assert_eq!(second.status, 429);
    assert_eq!(second.header("Retry-After"), None);
    assert!(!node.has_group("g"));
}

#[test]
fn delay_fault_answers_normally_after_the_delay() {
    let node = TestNode::start();
    let delay = Duration::from_millis(200);
    node.add_rule(Rule::new(Fault::Delay(delay)));

    let started = Instant::now();
    assert_eq!(create(&node, "g").status, 201);
    assert!(started.elapsed() >= delay);
    assert!(node.has_group("g"));
}

#[test]
fn redirect_answers_307_with_location_without_applying() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Redirect(
        "http://127.0.0.1:1/v1/group/".to_owned(),
    )));

    let reply = create(&node, "g");
    assert_eq!(reply.status, 307);
    assert_eq!(
        reply.header("Location"),
        Some("http://127.0.0.1:1/v1/group/")
    );
    assert!(!node.has_group("g"));
}

#[test]
fn body_fault_sends_the_canned_response_verbatim() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Body {
        status: 200,
        content_type: "text/html".to_owned(),
        body: b"<html>\xff</html>".to_vec(),
    }));

    let reply = create(&node, "g");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some("text/html"));
    assert_eq!(reply.body, b"<html>\xff</html>");
    assert!(!node.has_group("g"));
}

#[test]
fn apply_then_body_applies_then_sends_the_canned_response() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::ApplyThenBody {
        status: 201,
        content_type: "text/plain".to_owned(),
        body: b"{not json".to_vec(),
    }));

    let reply = create(&node, "g");
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("Content-Type"), Some("text/plain"));
    assert_eq!(reply.body, b"{not json");
    assert!(node.has_group("g"));
    assert!(node.exchanges()[0].applied);
}

#[test]
fn raw_sends_the_bytes_verbatim_then_closes_without_applying() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Raw(b"SMTP ready\r\n".to_vec())));
    let mut conn = Conn::open(&node);
    conn.send("POST", "/v1/group/", &group_body("g"), &[]);
    let mut rest = Vec::new();
    conn.reader.read_to_end(&mut rest).expect("clean close");
    assert_eq!(rest, b"SMTP ready\r\n");
    assert!(!node.has_group("g"));
    assert_eq!(node.exchanges()[0].status, None);
}

#[test]
fn redirect_status_answers_that_status_with_location_without_applying() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::RedirectStatus {
        status: 308,
        location: "http://127.0.0.1:1/elsewhere/".to_owned(),
    }));

    let reply = create(&node, "g");
    assert_eq!(reply.status, 308);
    assert_eq!(
        reply.header("Location"),
        Some("http://127.0.0.1:1/elsewhere/")
    );
    assert!(!node.has_group("g"));
    assert_eq!(node.exchanges()[0].status, Some(308));
}

#[test]
fn drip_sends_the_head_at_once_then_the_body_a_byte_at_a_time() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Drip {
        status: 200,
        every: Duration::from_millis(50),
    }));
    let mut conn = Conn::open(&node);
    conn.send("POST", "/v1/group/", &group_body("g"), &[]);

    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        conn.reader.read_line(&mut head).expect("head line");
    }
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.contains("Content-Length: 1048576\r\n"), "{head}");
    let start = Instant::now();
    let mut body = [0; 4];
    conn.reader.read_exact(&mut body).expect("four body bytes");
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "the body drips: {:?}",
        start.elapsed()
    );
    assert!(!node.has_group("g"), "a drip does not apply");
    assert_eq!(node.exchanges()[0].status, Some(200));
}

#[test]
fn dropping_the_node_ends_a_drip() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Drip {
        status: 200,
        every: Duration::from_millis(20),
    }));
    let mut conn = Conn::open(&node);
    conn.send("GET", "/v1/group/g/", "", &[]);
    let mut first = String::new();
    conn.reader.read_line(&mut first).expect("status line");
    let start = Instant::now();
    drop(node);
    let mut rest = Vec::new();
    // The close may be clean or a reset; either way the read ends promptly.
    drop(conn.reader.read_to_end(&mut rest));
    assert!(start.elapsed() < WAIT, "{:?}", start.elapsed());
    assert!(rest.len() < 1024 * 1024, "the body was cut short");
}

// --- Rules ---

#[test]
fn times_n_faults_only_the_next_n_matching_requests() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Status(500)).times(2));

    assert_eq!(create(&node, "g").status, 500);
    assert_eq!(create(&node, "g").status, 500);
    assert_eq!(create(&node, "g").status, 201);
    assert_eq!(create(&node, "g").status, 400);
}

#[test]
fn method_filter_leaves_other_methods_alone() {
    let node = TestNode::start();
    node.insert_group("g");
    node.add_rule(Rule::new(Fault::Status(500)).method("delete"));

    assert_eq!(get(&node, "g").status, 200);
    assert_eq!(create(&node, "h").status, 201);
    assert_eq!(delete(&node, "g").status, 500);
    assert!(node.has_group("g"));
}

#[test]
fn group_filter_matches_the_decoded_id_from_body_or_path() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Status(503)).group("a/b"));

    assert_eq!(create(&node, "other").status, 201);
    assert_eq!(create(&node, "a/b").status, 503);
    assert_eq!(get(&node, "a%2Fb").status, 503);
    assert_eq!(get(&node, "other").status, 200);
    assert_eq!(call(&node, "POST", "/v1/group/", "bad").status, 400);
}

#[test]
fn first_live_matching_rule_wins_in_insertion_order() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Status(503)).method("POST").times(1));
    node.add_rule(Rule::new(Fault::Status(500)).times(1));
    node.add_rule(Rule::new(Fault::Status(408)).method("POST"));

    assert_eq!(create(&node, "g").status, 503);
    assert_eq!(create(&node, "g").status, 500);
    assert_eq!(create(&node, "g").status, 408);
    assert_eq!(get(&node, "g").status, 404, "GET matches no live rule");
}

#[test]
fn clear_rules_serves_normally_again() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Status(500)));
    assert_eq!(create(&node, "g").status, 500);

    node.clear_rules();
    assert_eq!(create(&node, "g").status, 201);
}

// --- Fail rate ---

#[test]
fn fail_rate_one_faults_every_write_and_no_get() {
    let node = TestNode::start();
    node.set_fail_rate(1.0, 7);

    for i in 0..12 {
        let mut conn = Conn::open(&node);
        conn.send("POST", "/v1/group/", &group_body(&format!("g{i}")), &[]);
        // Answered 500, or reset: either way, not a success.
        if let Ok(reply) = conn.read() {
            assert_eq!(reply.status, 500);
        }
    }
    assert_eq!(get(&node, "nothing").status, 404);
    let exchanges = node.exchanges();
    assert!(exchanges[..12].iter().all(|e| e.fault.is_some()));
    assert_eq!(exchanges[12].fault, None);
}

#[test]
fn fail_rate_with_the_same_seed_repeats_the_same_faults() {
    let faults = |seed| {
        let node = TestNode::start();
        node.set_fail_rate(0.5, seed);
        for i in 0..16 {
            let mut conn = Conn::open(&node);
            conn.send("POST", "/v1/group/", &group_body(&format!("g{i}")), &[]);
            drop(conn.read());
        }
        let faults: Vec<_> = node.exchanges().into_iter().map(|e| e.fault).collect();
        (faults, node.groups())
    };
    let (first, groups) = faults(42);
    assert_eq!(faults(42), (first.clone(), groups));
    assert!(first.iter().any(Option::is_some) && first.iter().any(Option::is_none));
}

// --- Lifecycle ---

#[test]
fn stop_refuses_connections_and_restart_listens_on_the_same_port() {
    let node = TestNode::start();
    let port = node.port();
    assert_eq!(create(&node, "g").status, 201);
    let mut idle = Conn::open(&node);
    assert_eq!(idle.call("GET", "/v1/group/g/", "").status, 200);

    node.stop();
    assert!(!node.is_running());
    let refused = TcpStream::connect(("127.0.0.1", port)).expect_err("refused");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    idle.assert_closed();

    node.restart();
    assert!(node.is_running());
    assert_eq!(node.port(), port);
    assert_eq!(node.url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(get(&node, "g").status, 200, "state survives a restart");
    assert_eq!(node.requests().len(), 3);
}

#[test]
fn stop_closes_hanging_connections() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Hang));
    let mut conn = Conn::open(&node);
    conn.send("GET", "/v1/group/g/", "", &[]);
    assert!(node.wait_for_requests(1, WAIT));

    node.stop();
    conn.assert_closed();
}

#[test]
fn stop_and_restart_twice_and_restart_while_running_are_harmless() {
    let node = TestNode::start();
    node.restart();
    node.stop();
    node.stop();
    node.restart();
    node.restart();
    assert_eq!(create(&node, "g").status, 201);
}

#[test]
fn start_on_a_taken_port_is_an_error() {
    let node = TestNode::start();
    let error = TestNode::start_on(node.port()).expect_err("port taken");
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
}

#[test]
fn latency_delays_every_response_including_faults() {
    let node = TestNode::start();
    let latency = Duration::from_millis(150);
    node.set_latency(latency);
    node.add_rule(Rule::new(Fault::Status(500)).method("POST"));

    let started = Instant::now();
    assert_eq!(get(&node, "g").status, 404);
    assert!(started.elapsed() >= latency);
    let started = Instant::now();
    assert_eq!(create(&node, "g").status, 500);
    assert!(started.elapsed() >= latency);
}

#[test]
fn wait_for_requests_wakes_when_enough_requests_arrived() {
    let node = TestNode::start();
    thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..3 {
                create(&node, &format!("g{i}"));
            }
        });
        assert!(node.wait_for_requests(3, WAIT));
    });
    assert_eq!(node.count("POST"), 3);
}

#[test]
fn wait_for_requests_times_out_with_false() {
    let node = TestNode::start();
    assert!(!node.wait_for_requests(1, Duration::from_millis(20)));
    assert!(node.wait_for_requests(0, Duration::ZERO));
}

#[test]
fn wait_for_requests_counts_a_request_before_its_delay_ends() {
    let node = TestNode::start();
    node.add_rule(Rule::new(Fault::Delay(WAIT)));
    let mut conn = Conn::open(&node);
    conn.send("GET", "/v1/group/g/", "", &[]);

    assert!(node.wait_for_requests(1, WAIT));
    assert_eq!(node.exchanges()[0].status, Some(404));
    let started = Instant::now();
    node.stop();
    conn.assert_closed();
    assert!(started.elapsed() < WAIT, "stop cuts a delay short");
}

#[test]
fn subscribe_receives_each_exchange_as_it_is_decided() {
    let node = TestNode::start();
    let events = node.subscribe();
    node.add_rule(Rule::new(Fault::ApplyThenStatus(500)).times(1));

    create(&node, "g");
    get(&node, "g");

    let first = events.recv_timeout(WAIT).expect("first exchange");
    assert_eq!(first.fault, Some(Fault::ApplyThenStatus(500)));
    assert!(first.applied);
    assert_eq!(first.status, Some(500));
    let second = events.recv_timeout(WAIT).expect("second exchange");
    assert_eq!(second.request.method, "GET");
    assert_eq!(second.status, Some(200));

    drop(node);
    assert!(events.recv().is_err(), "the channel closes with the node");
}

#[test]
fn cluster_starts_independent_nodes_on_distinct_ports() {
    let nodes = cluster(3);
    assert_eq!(nodes.len(), 3);
    assert_eq!(create(&nodes[1], "g").status, 201);
    assert!(!nodes[0].has_group("g") && nodes[1].has_group("g") && !nodes[2].has_group("g"));
    let mut ports: Vec<_> = nodes.iter().map(TestNode::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3);
}

#[test]
fn nodes_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TestNode>();
}

#[test]
fn fastapi_slashes_redirect_a_trailing_slash_with_307_and_serve_the_bare_path() {
    let node = TestNode::start();
    node.set_slashes(Slashes::FastApi);
    let redirected = create(&node, "g");
    assert_eq!(redirected.status, 307);
    assert_eq!(
        redirected.header("location"),
        Some("http://127.0.0.1/v1/group")
    );
    assert!(!node.has_group("g"), "a redirect applies nothing");
    let served = call(&node, "POST", "/v1/group", &group_body("g"));
    assert_eq!(served.status, 201);
    assert!(node.has_group("g"));
    assert_eq!(get(&node, "g").status, 307);
    assert_eq!(call(&node, "GET", "/v1/group/g", "").status, 200);
}

#[test]
fn flask_slashes_redirect_a_missing_slash_with_308_and_serve_the_api_paths() {
    let node = TestNode::start();
    node.set_slashes(Slashes::Flask);
    let redirected = call(&node, "DELETE", "/v1/group", &group_body("g"));
    assert_eq!(redirected.status, 308);
    assert_eq!(
        redirected.header("location"),
        Some("http://127.0.0.1/v1/group/")
    );
    assert_eq!(
        node.requests()[0].group.as_deref(),
        Some("g"),
        "rules can still filter on the group"
    );
    assert_eq!(create(&node, "g").status, 201);
    assert_eq!(call(&node, "GET", "/v1/group/g", "").status, 308);
    assert_eq!(get(&node, "g").status, 200);
}
