//! Black-box tests of https nodes, `--cacert` and the bearer token, against local TLS test
//! nodes whose certificates the tests make with rcgen.

mod support;

use std::path::PathBuf;

use predicates::prelude::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use support::{Fault, Rule, TestEnv, TestNode, json_stdout};

/// A token that must never show up anywhere but in the Authorization header.
const TOKEN: &str = "tok-9f3b1c77-do-not-log-e2a4";

/// A private CA and a leaf it signed.
struct Pki {
    ca_pem: String,
    leaf_pem: String,
    leaf_key_pem: String,
}

/// A fresh CA, and a leaf for `names` (DNS names or IP addresses) signed by it.
fn pki(names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cluster-client test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut leaf_params = CertificateParams::new(names).expect("leaf params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "cluster-client test node");
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .expect("sign the leaf");
    Pki {
        ca_pem: ca_cert.pem(),
        leaf_pem: leaf.pem(),
        leaf_key_pem: leaf_key.serialize_pem(),
    }
}

/// `n` https nodes whose leaf names 127.0.0.1 and localhost, signed by a private CA written
/// to `ca.pem` in the test directory; `hosts.txt` lists them. The returned path is `ca.pem`.
fn tls_env(n: usize) -> (TestEnv, PathBuf) {
    let pki = pki(&["127.0.0.1", "localhost"]);
    let mut env = TestEnv::new(0);
    for _ in 0..n {
        env.nodes
            .push(TestNode::start_tls(&pki.leaf_pem, &pki.leaf_key_pem));
    }
    write_hosts(&env);
    let ca = env.dir().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write ca.pem");
    (env, ca)
}

fn write_hosts(env: &TestEnv) {
    let hosts: String = env.nodes.iter().map(|n| format!("{}\n", n.url())).collect();
    env.write_hosts(&hosts);
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn https_nodes_are_trusted_through_cacert() {
    let (env, ca) = tls_env(2);
    assert!(env.nodes[0].url().starts_with("https://127.0.0.1:"));
    let output = env
        .cmd()
        .args(["create", "team-a", "--output", "json", "--cacert"])
        .arg(&ca)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json_stdout(&output)["outcome"], "done");
    assert_eq!(env.holders("team-a"), vec![0, 1]);

    env.cmd()
        .args(["status", "team-a", "--cacert"])
        .arg(&ca)
        .assert()
        .code(0);
    assert!(env.pending().is_empty());
}

#[test]
fn cacert_can_come_from_the_environment() {
    let (env, ca) = tls_env(1);
    env.cmd()
        .env("CLUSTER_CLIENT_CACERT", &ca)
        .args(["create", "g"])
        .assert()
        .code(0);
    assert_eq!(env.holders("g"), vec![0]);
}

#[test]
fn without_cacert_the_private_ca_fails_certificate_verification() {
    let (env, _ca) = tls_env(2);
    let output = env
        .cmd()
        .args(["status", "g", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json_stdout(&output);
    for node in report["nodes"].as_array().expect("nodes") {
        assert_eq!(node["state"], "unreachable");
        let error = node["error"].as_str().expect("error");
        assert!(
            error.starts_with("TLS: certificate not trusted (issued by a CA"),
            "{error}"
        );
        assert!(error.contains("--cacert"), "{error}");
        assert_eq!(node["attempts"], 1, "a rejected certificate is not retried");
    }

    // A create stops in its read step: nothing is written, nothing is journaled.
    env.cmd().args(["create", "g"]).assert().code(1);
    assert_eq!(
        env.total_requests(),
        0,
        "no request gets past the handshake"
    );
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
}

#[test]
fn a_certificate_for_another_name_is_refused_even_with_its_ca() {
    let pki = pki(&["node.example.internal"]);
    let mut env = TestEnv::new(0);
    env.nodes
        .push(TestNode::start_tls(&pki.leaf_pem, &pki.leaf_key_pem));
    write_hosts(&env);
    let ca = env.dir().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write ca.pem");
    let output = env
        .cmd()
        .args(["status", "g", "--output", "json", "--cacert"])
        .arg(&ca)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = json_stdout(&output)["nodes"][0]["error"]
        .as_str()
        .expect("error")
        .to_owned();
    assert!(
        error.starts_with("TLS: certificate not trusted (not valid for this host name"),
        "{error}"
    );
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn a_cacert_bundle_with_several_certificates_trusts_each_of_them() {
    // Two nodes with leaves from two unrelated CAs, both CAs in one file.
    let first = pki(&["127.0.0.1"]);
    let second = pki(&["127.0.0.1"]);
    let mut env = TestEnv::new(0);
    env.nodes
        .push(TestNode::start_tls(&first.leaf_pem, &first.leaf_key_pem));
    env.nodes
        .push(TestNode::start_tls(&second.leaf_pem, &second.leaf_key_pem));
    write_hosts(&env);
    let bundle = env.dir().join("bundle.pem");
    std::fs::write(
        &bundle,
        format!("# our CAs\n{}\n{}", first.ca_pem, second.ca_pem),
    )
    .expect("write bundle");
    env.cmd()
        .args(["create", "g", "--cacert"])
        .arg(&bundle)
        .assert()
        .code(0);
    assert_eq!(env.holders("g"), vec![0, 1]);
}

#[test]
fn an_unusable_cacert_file_is_refused_naming_it_and_nothing_is_sent() {
    let (env, _ca) = tls_env(1);
    let cases: [(&str, &[u8]); 3] = [
        ("empty.pem", b""),
        ("key-only.pem", b"just some text, not PEM\n"),
        (
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
        ),
    ];
    for (name, bytes) in cases {
        let path = env.dir().join(name);
        std::fs::write(&path, bytes).expect("write");
        env.cmd()
            .args(["create", "g", "--cacert"])
            .arg(&path)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains(path.display().to_string())
                    .and(predicate::str::contains("PEM")),
            );
    }
    env.cmd()
        .args(["status", "g", "--cacert", "missing.pem"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.pem"));
    assert_eq!(env.total_requests(), 0);
    assert!(env.pending().is_empty());
}

#[test]
fn the_token_from_the_environment_reaches_every_node_as_a_bearer_header() {
    let (env, ca) = tls_env(2);
    env.cmd()
        .env("CLUSTER_CLIENT_TOKEN", TOKEN)
        .args(["create", "g", "--cacert"])
        .arg(&ca)
        .assert()
        .code(0);
    let expected = format!("Bearer {TOKEN}");
    for node in &env.nodes {
        let requests = node.requests();
        assert_eq!(requests.len(), 2, "GET then POST");
        for request in requests {
            assert_eq!(request.header("authorization"), Some(expected.as_str()));
        }
    }
}

#[test]
fn the_token_file_reaches_the_nodes_and_wins_over_the_environment() {
    let env = TestEnv::new(2);
    let file = env.dir().join("token");
    support::write_secret(&file, &format!("{TOKEN}\n"));
    env.cmd()
        .env("CLUSTER_CLIENT_TOKEN", "the-other-token")
        .args(["create", "g", "--token-file"])
        .arg(&file)
        .assert()
        .code(0);
    let expected = format!("Bearer {TOKEN}");
    for node in &env.nodes {
        for request in node.requests() {
            assert_eq!(request.header("authorization"), Some(expected.as_str()));
        }
    }
}

#[test]
fn no_authorization_header_is_sent_without_a_token() {
    let env = TestEnv::new(1);
    env.cmd().args(["create", "g"]).assert().code(0);
    assert!(
        env.nodes[0]
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
}

#[test]
fn the_token_never_appears_in_logs_output_or_the_journal() {
    // Node 0 (https) echoes the token back in its GET body, so the group reads as present
    // there; node 1 (https) takes the create but refuses its undo; node 2 (plain http, to
    // cover the plaintext path too) fails the create. The run leaves a journal entry.
    let (mut env, ca) = tls_env(2);
    env.nodes.push(TestNode::start());
    write_hosts(&env);
    env.nodes[0].add_rule(
        Rule::new(Fault::Body {
            status: 200,
            content_type: "application/json".to_owned(),
            body: format!(r#"{{"groupId":"g","seen":"Authorization: Bearer {TOKEN}"}}"#)
                .into_bytes(),
        })
        .group("g"),
    );
    env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
    env.nodes[2].add_rule(Rule::new(Fault::Status(500)).method("POST"));
    let token_file = env.dir().join("token");
    support::write_secret(&token_file, TOKEN);

    // Each run ends with repairs pending (3), or, for status, with nodes that disagree (1).
    let runs: [(&[&str], i32); 4] = [
        (&["create", "g"], 3),
        (&["status", "g"], 1),
        (&["rollback"], 3),
        (&["create", "other"], 3),
    ];
    let mut echo_logged = false;
    for (args, code) in runs {
        for via_env in [false, true] {
            let mut cmd = env.cmd();
            cmd.env("RUST_LOG", "trace")
                .args(["-vvv", "--output", "json", "--cacert"])
                .arg(&ca)
                .args(args);
            if via_env {
                cmd.env("CLUSTER_CLIENT_TOKEN", TOKEN);
            } else {
                cmd.arg("--token-file").arg(&token_file);
            }
            let output = cmd.output().expect("run");
            let (out, err) = (
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
            assert_eq!(output.status.code(), Some(code), "{args:?}: {err}");
            assert!(!out.contains(TOKEN), "{args:?} stdout: {out}");
            assert!(!err.contains(TOKEN), "{args:?} stderr: {err}");
            // The logs really were verbose.
            assert!(err.contains("TRACE") && err.contains("DEBUG"), "{err}");
            echo_logged |= err.contains("Bearer <redacted>");
            json_stdout(&output);
        }
    }
    assert!(echo_logged, "the echoed body is logged, redacted");
    let journal = std::fs::read_to_string(env.journal_path()).expect("journal");
    assert!(!journal.contains(TOKEN), "{journal}");
    assert_eq!(
        env.pending(),
        ["g", "other"]
            .map(|g| (g.to_owned(), env.nodes[1].url(), "delete".to_owned()))
            .to_vec()
    );
    assert!(
        env.nodes[1]
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")[..]))
    );
}

#[test]
fn a_token_that_cannot_be_a_header_is_refused_without_showing_it() {
    let env = TestEnv::new(1);
    let file = env.dir().join("token");
    support::write_secret(&file, &format!("{TOKEN}\n{TOKEN}\n"));
    let output = env
        .cmd()
        .args(["-vvv", "create", "g", "--token-file"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("bearer token"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn an_optional_cacert_is_used_when_there_and_skipped_when_its_secret_is_missing() {
    let (env, ca) = tls_env(1);
    // An optional Kubernetes Secret volume without its Secret: the directory, empty.
    let mount = env.dir().join("ca-mount");
    std::fs::create_dir(&mount).expect("mkdir");
    let in_mount = mount.join("ca.crt");
    let run = || {
        env.cmd()
            .env("CLUSTER_CLIENT_CACERT", &in_mount)
            .env("CLUSTER_CLIENT_CACERT_OPTIONAL", "true")
            .args(["-v", "status", "g"])
            .output()
            .expect("run")
    };
    // Without it only the built-in roots are trusted, and they do not know the test CA.
    let without = run();
    let text = stderr(&without);
    assert!(
        text.contains(&format!("--cacert {} is not there", in_mount.display())),
        "{text}"
    );
    assert!(text.contains("certificate"), "{text}");
    assert_ne!(without.status.code(), Some(0), "{text}");
    std::fs::copy(&ca, &in_mount).expect("the Secret appears");
    let with = run();
    assert_eq!(with.status.code(), Some(4), "absent: {}", stderr(&with));
    // A missing directory is a wrong path, optional or not.
    let wrong = env.dir().join("no-such-dir").join("ca.crt");
    env.cmd()
        .args(["status", "g", "--cacert-optional", "--cacert"])
        .arg(&wrong)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(wrong.display().to_string()));
    // The option alone, with no --cacert to make optional, is a usage error.
    env.cmd()
        .args(["status", "g", "--cacert-optional"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--cacert FILE"));
}
