//! The transport's unit tests: workers, Retry-After, failures, body previews, proxies.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

use super::answer::{LOGGED_BODY_CHARS, body_preview};
use super::workers::Workers;
use super::*;
use crate::vocab::secret::Token;

#[test]
fn a_job_never_waits_behind_a_hung_one_and_workers_are_reused() {
    let workers = Workers::new();
    let (release, held) = mpsc::channel::<()>();
    let (done, finished) = mpsc::channel::<&str>();
    let hung_done = done.clone();
    workers
        .run(Box::new(move || {
            let _ = held.recv();
            let _ = hung_done.send("hung");
        }))
        .expect("run");
    workers
        .run(Box::new(move || {
            let _ = done.send("quick");
        }))
        .expect("run");
    let first = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("the second job ran while the first was hung");
    assert_eq!(first, "quick");
    release.send(()).expect("release");
    assert_eq!(
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("hung job"),
        "hung"
    );
    // Both workers are back, idle: the next jobs reuse them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while workers.idle.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(workers.idle.load(Ordering::SeqCst), 2);
    // Note: the job is held, so its worker cannot come back idle before
    // the count is read; the reservation itself happens inside `run`.
    let (release, held) = mpsc::channel::<()>();
    workers
        .run(Box::new(move || {
            let _ = held.recv();
        }))
        .expect("run");
    assert_eq!(
        workers.idle.load(Ordering::SeqCst),
        1,
        "one worker reserved"
    );
    release.send(()).expect("release");
}

fn headers(value: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("header"));
    map
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(
        parse_retry_after(&headers("7"), now),
        Some(Duration::from_secs(7))
    );
    let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
    assert_eq!(
        parse_retry_after(&headers(&later), now),
        Some(Duration::from_secs(30))
    );
    let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
    assert_eq!(
        parse_retry_after(&headers(&earlier), now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after(&headers("soon"), now), None);
    assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
}

#[test]
fn only_connect_failures_are_known_not_applied() {
    let failure = |kind| Failure {
        kind,
        message: String::new(),
    };
    assert!(!failure(FailureKind::Connect).may_have_applied());
    assert!(!failure(FailureKind::Permanent).may_have_applied());
    assert!(failure(FailureKind::Timeout).may_have_applied());
    assert!(failure(FailureKind::Broken).may_have_applied());
}

#[test]
fn body_preview_escapes_redacts_and_truncates() {
    let token = Token::new("s3cr3t-token").expect("token");
    let preview = body_preview(
        b"{\"echo\":\"Bearer s3cr3t-token\"}\n[ERROR] forged\x1b[2J",
        Some(&token),
    );
    assert!(!preview.contains("s3cr3t"), "{preview}");
    assert!(preview.contains("<redacted>"), "{preview}");
    assert!(
        !preview.contains('\n') && !preview.contains('\x1b'),
        "{preview}"
    );
    let long = body_preview(&[b'x'; 70_000], None);
    assert!(long.len() < LOGGED_BODY_CHARS + 40, "{long}");
    assert!(long.ends_with("(70000 bytes read)"), "{long}");
    assert_eq!(body_preview(b"\xff", None), "\"\u{fffd}\"");
}

mod settings {
    use std::path::Path;

    use super::super::http::*;
    use super::super::*;
    use crate::vocab::secret::Token;

    fn settings(ca: Option<&Path>, token: Option<&str>) -> HttpSettings {
        HttpSettings {
            token: token.and_then(Token::new),
            ca_certificate: ca.map(Path::to_owned),
            ..HttpSettings::with_timeout(Duration::from_secs(1))
        }
    }

    fn error(settings: &HttpSettings) -> String {
        HttpTransport::new(settings)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn debug_never_shows_the_token() {
        let transport = HttpTransport::new(&settings(None, Some("s3cr3t-token"))).expect("client");
        let debug = format!("{transport:?} {transport:#?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused_without_showing_it() {
        let err = error(&settings(None, Some("s3cr3t\nline-two")));
        assert!(err.contains("bearer token"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn unusable_ca_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases: [(&str, &[u8], &str); 4] = [
            ("empty.pem", b"", "holds no certificate"),
            ("text.pem", b"not a certificate\n", "holds no certificate"),
            (
                "base64.pem",
                b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                "not valid PEM",
            ),
            (
                "der.pem",
                b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
                "cannot use the CA certificates",
            ),
        ];
        for (name, bytes, expected) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            let err = error(&settings(Some(&path), None));
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains(expected), "{name}: {err}");
            assert!(err.contains("--cacert"), "{err}");
        }
        let missing = dir.path().join("missing.pem");
        let err = error(&settings(Some(&missing), None));
        assert!(err.contains("cannot read the CA certificate file"), "{err}");
    }
}

mod http {
    use std::io::Read;

    use super::super::http::*;
    use super::super::*;
    use crate::retry::{Mode, Retrier, RetryPolicy};
    use crate::vocab::cancel::Cancel;
    use crate::vocab::secret::Token;
    use mockito::Matcher;

    fn transport(timeout_ms: u64) -> HttpTransport {
        HttpTransport::new(&HttpSettings::with_timeout(Duration::from_millis(
            timeout_ms,
        )))
        .expect("client")
    }

    fn node(url: &str) -> Node {
        Node::parse(url).expect("node")
    }

    fn group(id: &str) -> GroupId {
        GroupId::new(id).expect("group")
    }

    fn policy(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    #[test]
    fn sends_the_id_verbatim_in_json_bodies() {
        let mut server = mockito::Server::new();
        let id = "a \"b\" c;é";
        let post = server
            .mock("POST", "/v1/group/")
            .match_header("content-type", "application/json")
            .match_body(Matcher::Json(serde_json::json!({ "groupId": id })))
            .with_status(201)
            .expect(1)
            .create();
        let delete = server
            .mock("DELETE", "/v1/group/")
            .match_body(Matcher::Json(serde_json::json!({ "groupId": id })))
            .with_status(200)
            .expect(1)
            .create();
        let t = transport(2000);
        let n = node(&server.url());
        assert_eq!(
            t.send(&n, Action::Create, &group(id)).map(|r| r.status),
            Ok(201)
        );
        assert_eq!(
            t.send(&n, Action::Delete, &group(id)).map(|r| r.status),
            Ok(200)
        );
        post.assert();
        delete.assert();
    }

    #[test]
    fn get_encodes_the_id_as_one_path_segment() {
        let mut server = mockito::Server::new();
        let get = server
            .mock("GET", "/api/v1/group/a%20b%22c%20%C3%A9/")
            .with_status(200)
            .with_body(r#"{"groupId":"a b\"c é"}"#)
            .expect(1)
            .create();
        let n = node(&format!("{}/api/", server.url()));
        let reply = transport(2000).send(&n, Action::Read, &group("a b\"c é"));
        assert_eq!(reply.map(|r| r.status), Ok(200));
        get.assert();
    }

    #[test]
    fn retries_only_transient_statuses() {
        for (status, expected_attempts) in [
            (500, 4),
            (502, 4),
            (503, 4),
            (504, 4),
            (408, 4),
            (429, 4),
            (404, 1),
            (409, 1),
            (501, 1),
        ] {
            let mut server = mockito::Server::new();
            let mock = server
                .mock("POST", "/v1/group/")
                .with_status(status)
                .expect(expected_attempts)
                .create();
            let t = transport(2000);
            let (p, cancel) = (policy(3), Cancel::new());
            let exchange = Retrier::new(&t, &p, &cancel).call(
                &node(&server.url()),
                Action::Create,
                &group("g"),
                Mode::Forward,
            );
            assert_eq!(
                exchange.attempts as usize, expected_attempts,
                "status {status}"
            );
            mock.assert();
        }
    }

    #[test]
    fn retry_after_reaches_the_retry_policy() {
        let mut server = mockito::Server::new();
        server
            .mock("POST", "/v1/group/")
            .with_status(429)
            .with_header("retry-after", "120")
            .create();
        let reply = transport(2000).send(&node(&server.url()), Action::Create, &group("g"));
        assert_eq!(
            reply,
            Ok(Reply {
                retry_after: Some(Duration::from_secs(120)),
                ..Reply::status(429)
            })
        );
    }

    #[test]
    fn a_307_is_followed_on_the_same_origin_with_method_and_body() {
        let mut server = mockito::Server::new();
        let first = server
            .mock("POST", "/v1/group/")
            .with_status(307)
            .with_header("location", "/v1/group")
            .expect(1)
            .create();
        let moved = server
            .mock("POST", "/v1/group")
            .match_header("content-type", "application/json")
            .match_body(Matcher::Json(serde_json::json!({ "groupId": "g" })))
            .with_status(201)
            .expect(1)
            .create();
        let reply = transport(2000).send(&node(&server.url()), Action::Create, &group("g"));
        assert_eq!(reply, Ok(Reply::status(201)));
        first.assert();
        moved.assert();
    }

    #[test]
    fn a_303_to_a_write_is_not_followed_and_named_with_its_reason() {
        let mut server = mockito::Server::new();
        server
            .mock("DELETE", "/v1/group/")
            .with_status(303)
            .with_header("location", "/elsewhere/")
            .create();
        let elsewhere = server.mock("GET", "/elsewhere/").expect(0).create();
        let reply = transport(2000)
            .send(&node(&server.url()), Action::Delete, &group("g"))
            .expect("an answer");
        assert_eq!(reply.status, 303);
        let text = reply.describe();
        assert!(
            text.starts_with("HTTP 303 See Other: to `/elsewhere/`: not followed, because"),
            "{text}"
        );
        elsewhere.assert();
    }

    #[test]
    fn a_name_that_does_not_exist_is_a_final_dns_failure() {
        // Note: .invalid never resolves (RFC 6761).
        let failure = transport(5000)
            .send(
                &node("http://no-such-node.invalid:8080"),
                Action::Create,
                &group("g"),
            )
            .expect_err("no such host");
        assert!(failure.message.starts_with("DNS: "), "{failure}");
        assert!(!failure.may_have_applied());
        if failure.message == "DNS: no such host" {
            assert_eq!(failure.kind, FailureKind::Permanent);
            assert!(!failure.is_retryable());
        }
    }

    #[test]
    fn a_silent_node_times_out_as_possibly_applied() {
        // Note: the kernel completes the handshake for a listener that
        // never accepts, so the request is sent and never answered.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let failure = transport(200)
            .send(&node(&url), Action::Create, &group("g"))
            .expect_err("no answer");
        assert_eq!(failure.kind, FailureKind::Timeout, "{failure}");
        assert_eq!(failure.message, "timed out after 200ms");
        assert!(failure.may_have_applied());
        drop(listener);
    }

    #[test]
    fn a_closed_port_is_a_connect_failure_that_sent_nothing() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let failure = transport(2000)
            .send(&node(&url), Action::Create, &group("g"))
            .expect_err("refused");
        assert_eq!(failure.kind, FailureKind::Connect, "{failure}");
        assert_eq!(failure.message, "connection refused");
        assert!(!failure.may_have_applied());
        assert!(failure.is_retryable());
    }

    #[test]
    fn the_token_is_sent_as_a_bearer_header_on_every_request() {
        let mut server = mockito::Server::new();
        let mocks: Vec<_> = [
            ("POST", "/v1/group/"),
            ("DELETE", "/v1/group/"),
            ("GET", "/v1/group/g/"),
        ]
        .into_iter()
        .map(|(method, path)| {
            server
                .mock(method, path)
                .match_header("authorization", "Bearer s3cr3t-token")
                .with_status(200)
                .expect(1)
                .create()
        })
        .collect();
        let settings = HttpSettings {
            token: Token::new("s3cr3t-token\n"),
            ..HttpSettings::with_timeout(Duration::from_secs(2))
        };
        let t = HttpTransport::new(&settings).expect("client");
        for action in [Action::Create, Action::Delete, Action::Read] {
            let reply = t.send(&node(&server.url()), action, &group("g"));
            assert_eq!(reply.map(|r| r.status), Ok(200), "{action}");
        }
        for mock in mocks {
            mock.assert();
        }
    }

    #[test]
    fn no_authorization_header_without_a_token() {
        let mut server = mockito::Server::new();
        let get = server
            .mock("GET", "/v1/group/g/")
            .match_header("authorization", Matcher::Missing)
            .with_status(404)
            .expect(1)
            .create();
        let reply = transport(2000).send(&node(&server.url()), Action::Read, &group("g"));
        assert_eq!(reply.map(|r| r.status), Ok(404));
        get.assert();
    }

    #[test]
    fn the_timeout_covers_a_body_that_drips() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut request = [0; 4096];
            drop(stream.read(&mut request));
            let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            // One byte every 50 ms: each read is quick, the whole is not.
            for _ in 0..200 {
                std::thread::sleep(Duration::from_millis(50));
                if stream.write_all(b" ").is_err() {
                    return;
                }
            }
        });
        let start = Instant::now();
        let failure = transport(500)
            .send(&node(&url), Action::Read, &group("g"))
            .expect_err("cut off");
        assert_eq!(failure.kind, FailureKind::Timeout, "{failure}");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        server.join().expect("server thread");
    }

    #[test]
    fn huge_bodies_are_read_only_up_to_the_limit() {
        use std::io::Write;
        // Note: an endless body (as far as the client can tell): the
        // server writes until the client hangs up, or gives up at
        // `GIVE_UP`, and reports how many body bytes it got out. It
        // paces its writes (4 KiB per ms) so that socket buffers stay
        // nearly empty: what it wrote is then close to what the client
        // read, and `SLACK` covers a client stalled for ~250 ms.
        const GIVE_UP: u64 = 8 * 1024 * 1024;
        const SLACK: u64 = 1024 * 1024;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut request = [0; 4096];
            drop(stream.read(&mut request));
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 1u64 << 40);
            stream.write_all(head.as_bytes()).expect("head");
            let chunk = [b'x'; 4096];
            let mut written = 0;
            while written < GIVE_UP {
                match stream.write(&chunk) {
                    Ok(n) => written += n as u64,
                    Err(_) => break,
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            written
        });
        let transport = transport(10_000);
        let reply = transport.send(&node(&url), Action::Read, &group("g"));
        drop(transport);
        let written = server.join().expect("server thread");
        assert!(
            written <= MAX_BODY_BYTES + SLACK,
            "the client took {written} bytes of an endless body"
        );
        assert_eq!(reply.map(|r| r.status), Ok(200));
    }
}
