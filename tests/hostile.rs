//! Black-box tests of node answers that are hostile or odd: huge and dripping bodies, wrong
//! content types, invalid JSON, 2xx with unexpected bodies, redirects, bytes that are not
//! HTTP, and bodies that try to forge log lines. None may make the client hang, follow the
//! node to another path or origin, take a page that is not the node's answer (a sign-in
//! page, another id) for "present", or take a write's body over its status code.

mod support;

use std::time::{Duration, Instant};

use cluster_testnode::Slashes;
use serde_json::Value;
use support::{Fault, Rule, TestEnv, TestNode, json_stdout};

/// A bound no case comes near; reached only when the client hangs on a node.
const WIDE: Duration = Duration::from_secs(20);

/// A body far larger than the 64 KiB the client reads.
const HUGE: usize = 16 * 1024 * 1024;

/// What one run of the binary gave.
struct Run {
    code: i32,
    report: Value,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    /// Each node's `result` (create, delete) or `state` (status), in hosts-file order.
    fn results(&self) -> Vec<String> {
        support::results(&self.report)
    }

    /// The error reported for node `i`, lowercased.
    fn error(&self, i: usize) -> String {
        self.report["nodes"][i]["error"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
    }
}

/// Runs the binary with `--output json` and these arguments.
fn run(env: &TestEnv, args: &[&str]) -> Run {
    let start = Instant::now();
    let output = env
        .cmd()
        .timeout(WIDE)
        .args(["--output", "json"])
        .args(args)
        .output()
        .expect("run");
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output
        .status
        .code()
        .unwrap_or_else(|| panic!("{args:?} was killed after {elapsed:?}: {stderr}"));
    Run {
        code,
        report: json_stdout(&output),
        stderr,
        elapsed,
    }
}

/// The methods node `node` received, in order.
fn methods(node: &TestNode) -> Vec<String> {
    node.requests().into_iter().map(|r| r.method).collect()
}

fn canned(status: u16, content_type: &str, body: &[u8]) -> Fault {
    Fault::Body {
        status,
        content_type: content_type.to_owned(),
        body: body.to_vec(),
    }
}

fn applied_canned(status: u16, content_type: &str, body: &[u8]) -> Fault {
    Fault::ApplyThenBody {
        status,
        content_type: content_type.to_owned(),
        body: body.to_vec(),
    }
}

// --- Bodies that are too big or too slow ---

#[test]
fn a_huge_body_is_read_only_up_to_the_limit_and_its_status_counts() {
    let env = TestEnv::new(3);
    let huge = vec![b'x'; HUGE];
    env.nodes[1].add_rule(Rule::new(canned(404, "application/json", &huge)).method("GET"));
    env.nodes[2].add_rule(Rule::new(applied_canned(201, "application/json", &huge)).method("POST"));

    let run = run(&env, &["create", "g"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.results(), ["created", "created", "created"]);
    assert_eq!(env.holders("g"), [0, 1, 2]);
    assert!(env.pending().is_empty());
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
}

#[test]
fn a_huge_error_body_is_still_an_error_and_the_run_rolls_back() {
    let env = TestEnv::new(2);
    // Note: a final 4xx, so the node definitely applied nothing (a 500 would
    // leave it verified, exit 3): the point is the body, not the status.
    env.nodes[1].add_rule(Rule::new(canned(422, "text/html", &vec![b'<'; HUGE])).method("POST"));

    let run = run(&env, &["create", "g"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.results(), ["rolled_back", "failed"]);
    assert_eq!(env.nodes[1].count("POST"), 1, "a final 4xx is not retried");
    assert!(run.error(1).contains("http 422"), "{}", run.error(1));
    assert!(env.holders("g").is_empty());
    assert_eq!(env.entries(), Vec::<Value>::new());
}

#[test]
fn a_read_that_drips_is_cut_off_by_the_timeout_and_nothing_is_written() {
    let env = TestEnv::new(3);
    let drip = Fault::Drip {
        status: 200,
        every: Duration::from_millis(100),
    };
    env.nodes[1].add_rule(Rule::new(drip).method("GET"));

    let status = run(&env, &["status", "g", "--timeout", "500ms"]);
    assert_eq!(status.code, 1, "{}", status.stderr);
    assert_eq!(status.results(), ["absent", "unreachable", "absent"]);
    assert!(status.error(1).contains("timed out"), "{}", status.error(1));
    assert_eq!(
        env.nodes[1].count("GET"),
        3,
        "each attempt cut off, then retried"
    );

    let create = run(&env, &["create", "g", "--timeout", "500ms"]);
    assert_eq!(create.code, 1, "{}", create.stderr);
    assert_eq!(create.results()[1], "unreachable");
    assert_eq!(env.total_writes(), 0);
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
    // Three attempts of 500 ms each, plus tiny backoffs; a drip runs for a minute.
    assert!(
        create.elapsed < Duration::from_secs(10),
        "{:?}",
        create.elapsed
    );
}

#[test]
fn a_create_answer_that_drips_is_settled_by_a_read_and_rolled_back() {
    let env = TestEnv::new(3);
    let drip = Fault::Drip {
        status: 201,
        every: Duration::from_millis(100),
    };
    env.nodes[1].add_rule(Rule::new(drip).method("POST"));

    let args = [
        "create",
        "g",
        "--timeout",
        "500ms",
        "--settle-horizon",
        "1s",
    ];
    let run = run(&env, &args);
    // Note: a cut-off answer may still be applied later, so the node stays
    // verified after the read says absent, and that is pending (3).
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.results(), ["rolled_back", "failed", "not_attempted"]);
    // A cut-off answer may have been applied, so the node is read again; it says absent.
    assert_eq!(
        methods(&env.nodes[1]),
        ["GET", "POST", "POST", "POST", "GET"]
    );
    let node2 = env.nodes[1].url();
    assert_eq!(run.report["verifying"][0]["host"], node2.as_str());
    assert!(run.report["verifying"][0]["until"].is_string());
    assert_eq!(
        env.verifying(),
        [("g".to_owned(), node2, "delete".to_owned())]
    );
    assert_eq!(env.nodes[2].writes(), 0);
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());

    env.nodes[1].clear_rules();
    env.rollback_past_the_horizon(WIDE * 3);
    assert_eq!(env.entries(), Vec::<Value>::new());
    assert!(env.holders("g").is_empty());
}

#[test]
fn an_undo_that_drips_is_kept_in_the_journal_and_replayed_later() {
    let env = TestEnv::new(3);
    let drip = Fault::Drip {
        status: 200,
        every: Duration::from_millis(100),
    };
    env.nodes[0].add_rule(Rule::new(drip).method("DELETE"));
    // A final 4xx: node 3 definitely applied nothing, so only node 1 is left to repair.
    env.nodes[2].add_rule(Rule::new(Fault::Status(422)).method("POST"));

    let run = run(&env, &["create", "g", "--timeout", "500ms"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.results(), ["rollback_pending", "rolled_back", "failed"]);
    assert_eq!(env.holders("g"), [0]);
    assert_eq!(
        env.pending(),
        [("g".to_owned(), env.nodes[0].url(), "delete".to_owned())]
    );

    // Note: the cut-off undo may still land, as the delete it is: a watch,
    // not pending; the create it undoes answered 201, so nothing is verified.
    assert!(env.verifying().is_empty());

    env.nodes[0].clear_rules();
    env.cmd().arg("rollback").assert().code(0);
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
    assert!(env.verifying().is_empty());
}

// --- Odd bodies on honest statuses ---

#[test]
fn a_wrong_content_type_does_not_change_what_a_status_means() {
    let env = TestEnv::new(3);
    env.seed("g", &[0]);
    env.nodes[0].add_rule(
        Rule::new(canned(
            200,
            "text/html; charset=utf-8",
            br#"{"groupId":"g"}"#,
        ))
        .method("GET"),
    );
    env.nodes[1].add_rule(Rule::new(canned(404, "text/plain", b"Not Found")).method("GET"));
    env.nodes[2].add_rule(
        Rule::new(applied_canned(
            201,
            "application/octet-stream",
            b"\x00\x01\xff",
        ))
        .method("POST"),
    );

    let run = run(&env, &["create", "g"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.results(), ["already_present", "created", "created"]);
    assert_eq!(env.nodes[0].writes(), 0);
    assert_eq!(env.holders("g"), [0, 1, 2]);
    assert!(env.pending().is_empty());
}

#[test]
fn invalid_json_bodies_are_never_parsed() {
    let env = TestEnv::new(2);
    env.nodes[0]
        .add_rule(Rule::new(canned(404, "application/json", b"{\"error\": ")).method("GET"));
    env.nodes[1].add_rule(
        Rule::new(applied_canned(
            201,
            "application/json",
            b"{\"groupId\": \"g\", \xff}",
        ))
        .method("POST"),
    );

    let create = run(&env, &["create", "g"]);
    assert_eq!(create.code, 0, "{}", create.stderr);
    assert_eq!(create.results(), ["created", "created"]);
    assert_eq!(env.holders("g"), [0, 1]);

    env.nodes[0].clear_rules();
    env.nodes[0]
        .add_rule(Rule::new(applied_canned(200, "application/json", b"]]")).method("DELETE"));
    let delete = run(&env, &["delete", "g"]);
    assert_eq!(delete.code, 0, "{}", delete.stderr);
    assert_eq!(delete.results(), ["deleted", "deleted"]);
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
}

#[test]
fn a_get_200_that_is_not_the_nodes_word_on_the_group_makes_it_unreadable() {
    // A 200 to a read counts as present only with an empty body or JSON naming the same
    // groupId: a sign-in or landing page, other text, other JSON or another id does not.
    for (content_type, body, why) in [
        (
            "application/json",
            &br#"{"groupId":"someone-else"}"#[..],
            "names another group",
        ),
        (
            "text/html",
            b"<html><form action=/oauth2/start>Sign in</form></html>",
            "body is not json",
        ),
        ("text/plain", b"OK", "body is not json"),
        (
            "application/json",
            b"[\"g\"]",
            "not an object naming the group",
        ),
        ("application/json", br#"{"id":"g"}"#, "without this group's"),
    ] {
        let env = TestEnv::new(2);
        env.seed("g", &[0]);
        env.nodes[1].add_rule(Rule::new(canned(200, content_type, body)).method("GET"));

        let status = run(&env, &["status", "g"]);
        assert_eq!(status.code, 1, "{}", status.stderr);
        assert_eq!(status.report["consistent"], false);
        assert_eq!(status.results(), ["present", "unreadable"]);
        let error = status.error(1);
        assert!(error.starts_with("http 200 ok: its "), "{error}");
        assert!(error.contains(why), "{why}: {error}");
        assert_eq!(env.nodes[1].count("GET"), 1, "a 200 is final, not retried");

        let create = run(&env, &["create", "g"]);
        assert_eq!(create.code, 1, "{}", create.stderr);
        assert_eq!(create.results()[1], "unreadable");
        let delete = run(&env, &["delete", "g"]);
        assert_eq!(delete.code, 1, "{}", delete.stderr);
        assert_eq!(env.total_writes(), 0, "nothing is written on a page's word");
        assert_eq!(env.holders("g"), [0]);
        assert!(env.pending().is_empty());
    }
}

#[test]
fn an_auth_proxys_sign_in_page_is_not_taken_for_a_group() {
    // An auth proxy in front of node 1: 302 to its sign-in page, which answers 200. Neither
    // the redirect (another path) nor such a page counts as "present".
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(
        Rule::new(Fault::RedirectStatus {
            status: 302,
            location: "/oauth2/sign_in".to_owned(),
        })
        .method("GET")
        .group("g"),
    );

    let create = run(&env, &["create", "g"]);
    assert_eq!(create.code, 1, "{}", create.stderr);
    assert_eq!(create.results()[1], "unreadable");
    let error = create.error(1);
    assert!(error.contains("/oauth2/sign_in"), "{error}");
    assert!(error.contains("leads away from the path asked"), "{error}");
    assert_eq!(paths(&env.nodes[1]), [pair("GET", "/v1/group/g/")]);
    assert_eq!(env.total_writes(), 0);

    let status = run(&env, &["status", "g"]);
    assert_eq!(status.code, 1, "{}", status.stderr);
    assert_eq!(status.results(), ["absent", "unreadable"]);
}

#[test]
fn a_write_answered_with_another_2xx_and_an_unexpected_body_counts_as_done() {
    let env = TestEnv::new(2);
    env.nodes[0].add_rule(
        Rule::new(applied_canned(
            202,
            "application/json",
            br#"{"groupId":"other","status":"queued"}"#,
        ))
        .method("POST"),
    );
    env.nodes[1].add_rule(Rule::new(applied_canned(200, "text/plain", b"OK")).method("POST"));

    let run = run(&env, &["create", "g"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.results(), ["created", "created"]);
    assert_eq!(env.holders("g"), [0, 1]);
    assert!(env.pending().is_empty());
}

#[test]
fn a_get_answering_a_2xx_other_than_200_is_a_failed_read_and_nothing_is_written() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(canned(204, "application/json", b"")).method("GET"));

    let run = run(&env, &["create", "g"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.results()[1], "unreadable");
    assert_eq!(env.nodes[1].count("GET"), 1, "204 is final, not retried");
    assert_eq!(env.total_writes(), 0);
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
}

// --- Redirects ---

/// A token the tests look for in every request a node recorded.
const TOKEN: &str = "redirect-test-token";

/// The bearer header of each request node `node` received, in order.
fn bearers(node: &TestNode) -> Vec<Option<String>> {
    node.requests()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect()
}

/// `(method, path)` of each request node `node` received, in order.
fn paths(node: &TestNode) -> Vec<(String, String)> {
    node.requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

fn pair(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

/// Runs the binary with the bearer token and `--output json`.
fn run_with_token(env: &TestEnv, args: &[&str]) -> std::process::Output {
    env.cmd()
        .timeout(WIDE)
        .env("CLUSTER_CLIENT_TOKEN", TOKEN)
        .args(["--output", "json"])
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn a_fastapi_node_is_followed_through_its_307s_with_method_body_and_token() {
    let env = TestEnv::new(3);
    env.nodes[1].set_slashes(Slashes::FastApi);
    let with_token = |args: &[&str]| {
        let output = run_with_token(&env, args);
        (output.status.code(), json_stdout(&output))
    };

    let (code, create) = with_token(&["create", "g"]);
    assert_eq!(code, Some(0), "{create}");
    assert_eq!(env.holders("g"), [0, 1, 2]);
    assert_eq!(
        paths(&env.nodes[1]),
        [
            pair("GET", "/v1/group/g/"),
            pair("GET", "/v1/group/g"),
            pair("POST", "/v1/group/"),
            pair("POST", "/v1/group"),
        ]
    );
    let bodies: Vec<String> = env.nodes[1]
        .requests()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies[3], r#"{"groupId":"g"}"#, "the body goes along");
    let bearer = Some(format!("Bearer {TOKEN}"));
    assert!(bearers(&env.nodes[1]).iter().all(|b| *b == bearer));

    let (code, status) = with_token(&["status", "g"]);
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["consistent"], true);

    let (code, delete) = with_token(&["delete", "g"]);
    assert_eq!(code, Some(0), "{delete}");
    assert!(env.holders("g").is_empty());
    assert!(paths(&env.nodes[1]).contains(&pair("DELETE", "/v1/group")));
    assert!(env.pending().is_empty());
}

#[test]
fn a_308_keeps_the_method_and_body_of_a_write() {
    let env = TestEnv::new(2);
    // A node that serves the bare paths (as FastAPI does), behind a hop that answers 308.
    env.nodes[1].set_slashes(Slashes::FastApi);
    for method in ["POST", "DELETE"] {
        env.nodes[1].add_rule(
            Rule::new(Fault::RedirectStatus {
                status: 308,
                location: "/v1/group".to_owned(),
            })
            .method(method)
            .times(1),
        );
    }

    let create = run(&env, &["create", "g"]);
    assert_eq!(create.code, 0, "{}", create.stderr);
    assert_eq!(env.holders("g"), [0, 1]);
    let delete = run(&env, &["delete", "g"]);
    assert_eq!(delete.code, 0, "{}", delete.stderr);
    assert!(env.holders("g").is_empty());
    let writes: Vec<_> = env.nodes[1]
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method, r.path, r.body))
        .collect();
    let body = r#"{"groupId":"g"}"#.to_owned();
    assert_eq!(
        writes,
        [
            ("POST".to_owned(), "/v1/group/".to_owned(), body.clone()),
            ("POST".to_owned(), "/v1/group".to_owned(), body.clone()),
            ("DELETE".to_owned(), "/v1/group/".to_owned(), body.clone()),
            ("DELETE".to_owned(), "/v1/group".to_owned(), body),
        ]
    );
}

#[test]
fn a_redirected_write_leaving_the_origin_or_turning_into_a_get_is_not_followed() {
    for status in [301, 302, 303, 307, 308] {
        let elsewhere = TestNode::start();
        let mut locations = vec![format!("{}/v1/group/", elsewhere.url())];
        if !matches!(status, 307 | 308) {
            // A followed 301, 302 or 303 would come back to this node as a GET.
            locations.push("/v1/group/g/".to_owned());
        }
        for location in locations {
            let env = TestEnv::new(3);
            env.nodes[1].add_rule(
                Rule::new(Fault::RedirectStatus {
                    status,
                    location: location.clone(),
                })
                .method("POST"),
            );

            let run = run(&env, &["create", "g"]);
            assert_eq!(run.code, 1, "{status} {location}: {}", run.stderr);
            assert_eq!(
                run.results(),
                ["rolled_back", "failed", "not_attempted"],
                "{status} {location}"
            );
            let error = run.error(1);
            assert!(error.starts_with(&format!("http {status} ")), "{error}");
            assert!(error.contains("not followed"), "{error}");
            assert!(error.contains(&location.to_lowercase()), "{error}");
            assert_eq!(
                methods(&env.nodes[1]),
                ["GET", "POST"],
                "{status} {location}: neither followed nor retried"
            );
            assert!(env.holders("g").is_empty());
            assert!(env.pending().is_empty());
        }
        assert!(elsewhere.requests().is_empty(), "{status}: followed");
    }
}

#[test]
fn the_token_never_reaches_another_origin() {
    let env = TestEnv::new(2);
    env.seed("g", &[0, 1]);
    // Same host, another port: another origin all the same.
    let elsewhere = TestNode::start();
    elsewhere.insert_group("g");
    for method in ["GET", "POST", "DELETE"] {
        let path = if method == "GET" { "g/" } else { "" };
        env.nodes[1].add_rule(
            Rule::new(Fault::RedirectStatus {
                status: 307,
                location: format!("{}/v1/group/{path}", elsewhere.url()),
            })
            .method(method),
        );
    }

    for args in [&["status", "g"][..], &["create", "h"], &["delete", "g"]] {
        let output = run_with_token(&env, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
    }
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    let bearer = Some(format!("Bearer {TOKEN}"));
    assert!(bearers(&env.nodes[1]).iter().all(|b| *b == bearer));
    assert_eq!(env.holders("g"), [0, 1], "the delete was undone");
    assert!(env.holders("h").is_empty());
}

#[test]
fn a_redirected_read_to_another_origin_is_an_unreadable_node_and_nothing_is_written() {
    let env = TestEnv::new(2);
    let elsewhere = TestNode::start();
    elsewhere.insert_group("g");
    let location = format!("{}/v1/group/g/", elsewhere.url());
    env.nodes[1].add_rule(
        Rule::new(Fault::RedirectStatus {
            status: 302,
            location: location.clone(),
        })
        .method("GET"),
    );

    let status = run(&env, &["status", "g"]);
    assert_eq!(status.code, 1, "{}", status.stderr);
    assert_eq!(status.results(), ["absent", "unreadable"]);
    let error = status.error(1);
    assert!(error.starts_with("http 302 found: to `"), "{error}");
    assert!(error.contains(&location), "{error}");

    let create = run(&env, &["create", "g"]);
    assert_eq!(create.code, 1, "{}", create.stderr);
    assert_eq!(create.results()[1], "unreadable");
    assert_eq!(env.total_writes(), 0);
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
    assert!(elsewhere.requests().is_empty());
}

#[test]
fn a_redirected_delete_to_another_origin_is_not_followed_and_the_delete_is_undone() {
    let env = TestEnv::new(2);
    env.seed("g", &[0, 1]);
    let elsewhere = TestNode::start();
    env.nodes[1].add_rule(
        Rule::new(Fault::Redirect(format!("{}/v1/group/", elsewhere.url()))).method("DELETE"),
    );

    let run = run(&env, &["delete", "g"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.results(), ["rolled_back", "failed"]);
    assert_eq!(
        env.holders("g"),
        [0, 1],
        "restored where this run removed it"
    );
    assert_eq!(methods(&env.nodes[1]), ["GET", "DELETE"]);
    assert!(env.pending().is_empty());
    assert!(elsewhere.requests().is_empty());
}

#[test]
fn a_redirect_loop_is_refused_at_once_and_not_retried() {
    // A slash-stripping hop in front of a Flask node: 307 to the bare path, 308 back.
    let env = TestEnv::new(2);
    env.nodes[1].set_slashes(Slashes::Flask);
    env.nodes[1].add_rule(
        Rule::new(Fault::RedirectStatus {
            status: 307,
            location: "/v1/group/g".to_owned(),
        })
        .method("GET")
        .group("g"),
    );

    let status = run(&env, &["status", "g"]);
    assert_eq!(status.code, 1, "{}", status.stderr);
    assert_eq!(status.results(), ["absent", "unreadable"]);
    assert!(
        status.error(1).contains("redirect loop"),
        "{}",
        status.error(1)
    );
    assert_eq!(
        paths(&env.nodes[1]),
        [pair("GET", "/v1/group/g/"), pair("GET", "/v1/group/g")],
        "one attempt, not retried"
    );
}

#[test]
fn a_redirect_to_another_path_or_query_on_the_same_node_is_not_followed() {
    for location in [
        "/v1/group/g/?hop=1",
        "/v1/group/other/",
        "/v1/group/",
        "/",
        "/v1/group/g//",
    ] {
        let env = TestEnv::new(1);
        env.seed("g", &[0]);
        env.nodes[0].add_rule(Rule::new(Fault::Redirect(location.to_owned())).method("GET"));

        let status = run(&env, &["status", "g"]);
        assert_eq!(status.code, 1, "{location}: {}", status.stderr);
        assert_eq!(status.results(), ["unreadable"]);
        let error = status.error(0);
        assert!(error.contains("leads away from the path asked"), "{error}");
        assert_eq!(
            env.nodes[0].count("GET"),
            1,
            "{location}: not followed, not retried"
        );
    }
}

// --- Answers that are not (acceptable) HTTP ---

#[test]
fn an_answer_that_is_not_http_is_a_broken_attempt() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Raw(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec())).method("GET"));

    let run = run(&env, &["create", "g"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.results()[1], "unreachable");
    assert_eq!(env.nodes[1].count("GET"), 3, "a broken answer is retried");
    assert_eq!(env.total_writes(), 0);
    assert!(env.pending().is_empty());
}

#[test]
fn an_oversized_header_is_refused_like_a_broken_answer() {
    let env = TestEnv::new(2);
    let mut raw = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    raw.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    env.nodes[1].add_rule(Rule::new(Fault::Raw(raw)).method("GET"));

    let run = run(&env, &["create", "g"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.results()[1], "unreachable");
    assert_eq!(env.total_writes(), 0);
    assert!(env.pending().is_empty());
}

#[test]
fn a_hostile_body_cannot_forge_log_lines_or_send_terminal_escapes() {
    let env = TestEnv::new(1);
    let body = b"nope\n[2099-01-01T00:00:00Z ERROR] forged line\x1b[2J\x1b]0;pwned\x07\r\n";
    env.nodes[0].add_rule(Rule::new(canned(404, "text/plain", body)).method("GET"));

    let run = run(&env, &["-vv", "create", "g"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.holders("g"), [0]);
    assert!(env.pending().is_empty());
    assert!(
        run.stderr.contains("forged line"),
        "the body is logged: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(['\x1b', '\x07', '\r']),
        "control bytes reached the terminal: {:?}",
        run.stderr
    );
    assert!(
        run.stderr.lines().all(|line| !line.starts_with("[2099")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_huge_retry_after_is_capped_by_max_backoff() {
    let env = TestEnv::new(1);
    for after in ["999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        env.nodes[0].add_rule(
            Rule::new(Fault::TooManyRequests {
                retry_after: Some(after.to_owned()),
            })
            .method("POST")
            .times(1),
        );
    }

    let run = run(
        &env,
        &["create", "g", "--max-backoff", "50ms", "--backoff", "1ms"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.nodes[0].count("POST"), 3);
    assert_eq!(env.holders("g"), [0]);
    assert!(env.pending().is_empty());
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
}

// --- What the client says about failures ---

#[test]
fn status_says_unknown_when_nodes_did_not_answer_or_answered_nothing_usable() {
    let env = TestEnv::new(3);
    env.nodes[0].stop();
    env.nodes[2].add_rule(Rule::new(Fault::Status(500)).method("GET"));

    let output = env
        .cmd()
        .timeout(WIDE)
        .args(["status", "g"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains(
            "UNKNOWN: 1 of 3 nodes did not answer, 1 of 3 nodes gave no usable answer; \
             absent on 1"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("INCONSISTENT"), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[1].contains("unreachable") && lines[1].contains("(connection refused)"),
        "{stdout}"
    );
    assert!(
        lines[3].contains("unreadable") && lines[3].contains("(HTTP 500 Internal Server Error)"),
        "{stdout}"
    );

    let json = run(&env, &["status", "g"]);
    assert_eq!(json.results(), ["unreachable", "absent", "unreadable"]);
    assert_eq!(json.report["consistent"], false);
}

#[test]
fn transport_failures_are_summarised_and_the_chain_is_left_to_the_debug_log() {
    let env = TestEnv::new(2);
    env.nodes[1].stop();

    let plain = run(&env, &["create", "g"]);
    assert_eq!(plain.code, 1, "{}", plain.stderr);
    assert_eq!(plain.results()[1], "unreachable");
    assert_eq!(
        plain.report["nodes"][1]["error"],
        "could not read the group: connection refused"
    );
    let stdout = plain.report.to_string();
    for chain in ["error sending request", "client error", "tcp connect error"] {
        assert!(!stdout.contains(chain), "{stdout}");
        assert!(!plain.stderr.contains(chain), "{}", plain.stderr);
    }
    assert!(
        plain
            .stderr
            .contains("failed (connection refused); retrying in"),
        "a refused connection is retried: {}",
        plain.stderr
    );

    let debug = run(&env, &["-vv", "status", "g"]);
    assert!(
        debug.stderr.contains("error sending request"),
        "the whole chain is at -vv: {}",
        debug.stderr
    );
}

#[test]
fn a_host_name_that_does_not_exist_is_named_and_not_retried() {
    let env = TestEnv::new(1);
    // Note: .invalid never resolves (RFC 6761).
    env.write_hosts(&format!(
        "{}\nhttp://no-such-node.invalid:8080\n",
        env.nodes[0].url()
    ));

    let status = run(&env, &["status", "g"]);
    assert_eq!(status.code, 1, "{}", status.stderr);
    assert_eq!(status.results(), ["absent", "unreachable"]);
    let error = status.report["nodes"][1]["error"]
        .as_str()
        .unwrap_or_default();
    if error == "DNS: temporary failure in name resolution" {
        // A resolver that cannot answer at all may heal: it is retried.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("SKIPPED the final-failure check: this machine's resolver is unavailable");
        }
        return;
    }
    assert_eq!(error, "DNS: no such host");
    assert_eq!(status.report["nodes"][1]["attempts"], 1, "not retried");
}

#[test]
fn a_reset_connection_is_named_as_people_say_it() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Reset).method("GET"));

    let status = run(&env, &["status", "g"]);
    assert_eq!(status.code, 1, "{}", status.stderr);
    assert_eq!(status.results(), ["absent", "unreachable"]);
    assert_eq!(
        status.report["nodes"][1]["error"],
        "connection reset by peer"
    );
    assert_eq!(env.nodes[1].count("GET"), 3, "a reset may heal: retried");
}
