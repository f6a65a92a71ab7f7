//! Black-box tests of the proxy decision: cluster-client reads the proxy variables once (each
//! in lower case first, as curl does), sends every request exactly where that decision says,
//! and its warning names exactly that proxy and variable. A recording proxy on loopback stands
//! in for a real one and answers 404 itself, so every case is a clean `status` run.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use support::TestEnv;

const TOKEN: &str = "proxy-test-token-5e1f";

/// A proxy that records the head of every request it gets and answers 404 itself.
struct RecordingProxy {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RecordingProxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (Arc::clone(&heads), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if let Some(head) = serve(stream) {
                    seen.lock().expect("heads").push(head);
                }
            }
        });
        Self {
            url: format!("http://{addr}"),
            heads,
            stop,
            thread: Some(thread),
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads").clone()
    }
}

/// Reads one request head (lower-cased), answers 404, and closes.
fn serve(stream: TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut stream = stream;
    let answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    stream.write_all(answer.as_bytes()).ok()?;
    Some(head.to_lowercase())
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Note: wakes the accept loop so the thread sees the flag and ends.
        drop(TcpStream::connect(self.url.trim_start_matches("http://")));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where the one read of a case must go.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Route {
    /// Through the recording proxy, named in the warning with this variable.
    Proxied(&'static str),
    /// Straight to the node, and no proxy warning.
    Direct,
}

/// A port on loopback where nothing listens.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port()
}

/// Runs `status g` with the token and these variables (`{P}` the recording proxy's URL,
/// `{DEAD}` a proxy where nothing listens, `{PORT}` the node's port, `{OTHER}` another
/// port), and checks that the read went `route` and that the warning says exactly that.
fn check(vars: &[(&str, &str)], route: Route) -> String {
    let env = TestEnv::new(1);
    let proxy = RecordingProxy::start();
    let port = env.nodes[0].port();
    let token = env.dir().join("token");
    support::write_secret(&token, TOKEN);
    let mut cmd = env.cmd();
    for (name, value) in vars {
        let value = value
            .replace("{P}", &proxy.url)
            .replace("{DEAD}", &format!("http://127.0.0.1:{}", dead_port()))
            .replace("{PORT}", &port.to_string())
            .replace("{OTHER}", &(port ^ 1).to_string());
        cmd.env(name, value);
    }
    let output = cmd
        .args(["status", "g", "--retries", "0", "--token-file"])
        .arg(&token)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let case = format!("{vars:?} should go {route:?}; stderr: {stderr}");
    // Note: g is on no node: status exits 4 for absent from every node.
    assert_eq!(output.status.code(), Some(4), "{case}");
    let node = env.nodes[0].requests();
    let heads = proxy.heads();
    match route {
        Route::Proxied(variable) => {
            assert!(node.is_empty(), "{case}: the node was asked directly");
            assert_eq!(heads.len(), 1, "{case}");
            let url = format!("get http://127.0.0.1:{port}/v1/group/g/ http/1.1");
            assert!(heads[0].starts_with(&url), "{case}: {}", heads[0]);
            let bearer = format!("authorization: bearer {}", TOKEN.to_lowercase());
            assert!(heads[0].contains(&bearer), "{case}: {}", heads[0]);
            let named = format!("through the proxy {} (set in {variable})", proxy.url);
            assert!(stderr.contains(&named), "{case}");
        }
        Route::Direct => {
            assert!(heads.is_empty(), "{case}: the proxy got {heads:?}");
            assert_eq!(node.len(), 1, "{case}");
            let bearer = format!("Bearer {TOKEN}");
            assert_eq!(
                node[0].header("authorization"),
                Some(bearer.as_str()),
                "{case}"
            );
            assert!(!stderr.contains("through the proxy"), "{case}");
        }
    }
    stderr
}

#[test]
fn each_proxy_variable_in_either_case_carries_the_token_and_is_named() {
    for name in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        check(&[(name, "{P}")], Route::Proxied(name));
    }
    // Lower case first, also over all_proxy, and a blank value counts as unset.
    check(
        &[("ALL_PROXY", "{DEAD}"), ("http_proxy", "{P}")],
        Route::Proxied("http_proxy"),
    );
    check(
        &[("http_proxy", "  "), ("HTTP_PROXY", "{P}")],
        Route::Proxied("HTTP_PROXY"),
    );
    let stderr = check(
        &[("http_proxy", "{P}"), ("HTTP_PROXY", "{DEAD}")],
        Route::Proxied("http_proxy"),
    );
    assert!(
        stderr.contains("http_proxy and HTTP_PROXY are both set, to different values"),
        "{stderr}"
    );
    // An https proxy is not used for an http:// node.
    check(
        &[("https_proxy", "{P}"), ("HTTPS_PROXY", "{P}")],
        Route::Direct,
    );
}

#[test]
fn no_proxy_in_either_case_with_lists_stars_ranges_and_ports_sends_the_token_direct() {
    for vars in [
        &[("http_proxy", "{P}"), ("no_proxy", "127.0.0.1")][..],
        &[("HTTP_PROXY", "{P}"), ("NO_PROXY", "127.0.0.0/8")],
        &[("all_proxy", "{P}"), ("no_proxy", "*")],
        &[
            ("http_proxy", "{P}"),
            ("no_proxy", "example.com, localhost 127.0.0.1:{PORT}"),
        ],
        &[("http_proxy", "{P}"), ("NO_PROXY", "::1,127.0.0.1/32")],
    ] {
        check(vars, Route::Direct);
    }
    for vars in [
        &[("http_proxy", "{P}"), ("no_proxy", "127.0.0.1:{OTHER}")][..],
        &[("http_proxy", "{P}"), ("no_proxy", "10.0.0.0/8,::1")],
        // Names are not resolved: localhost does not cover 127.0.0.1.
        &[("http_proxy", "{P}"), ("NO_PROXY", "localhost")],
    ] {
        check(vars, Route::Proxied("http_proxy"));
    }
}

#[test]
fn no_proxy_is_read_lower_case_first_like_the_proxies() {
    // The reported case: the HTTP library read NO_PROXY and the warning no_proxy, so the
    // token went through the proxy and no warning said so. Now one decision: no_proxy.
    let stderr = check(
        &[
            ("http_proxy", "{P}"),
            ("no_proxy", "127.0.0.1"),
            ("NO_PROXY", "localhost"),
        ],
        Route::Direct,
    );
    assert!(
        stderr.contains("no_proxy and NO_PROXY are both set, to different values"),
        "{stderr}"
    );
}

#[test]
fn a_proxy_the_client_cannot_use_is_refused_before_anything_is_sent() {
    let env = TestEnv::new(1);
    for (name, value) in [
        ("ALL_PROXY", "socks5://127.0.0.1:1080"),
        ("http_proxy", "http://"),
    ] {
        let output = env
            .cmd()
            .env(name, value)
            .args(["status", "g"])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}={value}: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
    assert_eq!(env.total_requests(), 0);
}
