//! The path of a read round through the real transport: every first attempt goes out from the
//! calling thread (no thread per node), a retry starts as soon as its own answer comes, and a
//! cancel abandons the whole round at once.

use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use cluster_client::retry::{Exchange, Mode, Retrier, RetryPolicy};
use cluster_client::transport::{FailureKind, HttpSettings, HttpTransport};
use cluster_client::{Action, Cancel, GroupId, Node};
use cluster_testnode::{Fault, Rule, TestNode};

/// Far more than any wait here should take; a wrong answer fails, never hangs.
const WAIT: Duration = Duration::from_secs(30);

/// The tests of this file count the process's threads, so they run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn transport() -> HttpTransport {
    HttpTransport::new(&HttpSettings::with_timeout(Duration::from_secs(60))).expect("client")
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        retries: 1,
        backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    }
}

/// Reads group `g` on every node through `call_each`, on a thread of its
/// own named "caller"; its result comes on the returned channel.
fn read_round(nodes: &[TestNode], cancel: &Cancel) -> mpsc::Receiver<Vec<Option<Exchange>>> {
    let urls: Vec<Node> = nodes
        .iter()
        .map(|n| Node::parse(&n.url()).expect("node"))
        .collect();
    let cancel = cancel.clone();
    let (done, result) = mpsc::channel();
    std::thread::Builder::new()
        .name("caller".to_owned())
        .spawn(move || {
            let (transport, policy) = (transport(), policy());
            let group = GroupId::new("g").expect("group");
            let requests: Vec<(&Node, Action, &GroupId)> =
                urls.iter().map(|n| (n, Action::Read, &group)).collect();
            let retrier = Retrier::new(&transport, &policy, &cancel);
            let _ = done.send(retrier.call_each(&requests, Mode::Forward, 128, |_| false));
        })
        .expect("caller thread");
    result
}

/// The threads named "caller": the caller, and every thread it starts
/// without a name of its own (Linux gives a new thread its starter's name).
fn caller_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "caller")
        .count()
}

fn status(exchange: &Option<Exchange>) -> Option<u16> {
    exchange.as_ref().and_then(Exchange::status)
}

#[test]
fn a_read_round_starts_no_thread_per_node() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let nodes = cluster_testnode::cluster(20);
    for node in &nodes {
        node.add_rule(Rule::new(Fault::Hang).method("GET").times(1));
    }
    let result = read_round(&nodes, &Cancel::new());
    for node in &nodes {
        assert!(
            node.wait_for_requests(1, WAIT),
            "{} was not read",
            node.url()
        );
    }
    // Note: every read is in flight now, held by its node.
    let callers = caller_threads();
    for node in &nodes {
        node.release_hangs();
    }
    let reads = result.recv_timeout(WAIT).expect("the round ends");
    // Note: the caller is one; a thread per read would make it 20.
    assert_eq!(callers, 1, "threads of the caller with 20 reads in flight");
    assert!(
        reads.iter().all(|r| status(r) == Some(404)),
        "each read retried after its hang: {reads:?}"
    );
}

#[test]
fn a_retry_starts_when_its_own_answer_comes_not_when_the_round_ends() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let nodes = cluster_testnode::cluster(2);
    nodes[0].add_rule(Rule::new(Fault::Hang).method("GET").times(1));
    nodes[1].add_rule(Rule::new(Fault::Status(503)).method("GET").times(1));
    let result = read_round(&nodes, &Cancel::new());
    // Node 2's retry comes while node 1's first read is still held.
    let reached = nodes[0].wait_for_requests(1, WAIT);
    let retried = nodes[1].wait_for_requests(2, WAIT);
    let held = nodes[0].count("GET");
    nodes[0].release_hangs();
    let reads = result.recv_timeout(WAIT).expect("the round ends");
    assert!(reached, "node 1 was not read");
    assert!(retried, "node 2 was not retried while node 1 hung");
    assert_eq!(held, 1, "node 1 was still on its first read");
    let attempts: Vec<Option<u32>> = reads
        .iter()
        .map(|r| r.as_ref().map(|e| e.attempts))
        .collect();
    assert_eq!(attempts, [Some(2), Some(2)]);
    assert!(reads.iter().all(|r| status(r) == Some(404)), "{reads:?}");
}

#[test]
fn a_cancel_abandons_every_read_of_the_round_at_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let nodes = cluster_testnode::cluster(5);
    for node in &nodes {
        node.add_rule(Rule::new(Fault::Hang).method("GET"));
    }
    let cancel = Cancel::new();
    let result = read_round(&nodes, &cancel);
    for node in &nodes {
        assert!(
            node.wait_for_requests(1, WAIT),
            "{} was not read",
            node.url()
        );
    }
    cancel.cancel();
    // Note: the nodes hold each read for 60 s and the attempt's time-out is
    // 60 s; the round must end long before either.
    let reads = result.recv_timeout(WAIT);
    for node in &nodes {
        node.release_hangs();
    }
    let reads = reads.expect("the round ends at once after a cancel");
    for read in &reads {
        let exchange = read.as_ref().expect("every read was started");
        assert!(exchange.stopped, "{exchange:?}");
        let kind = exchange.last.as_ref().err().map(|f| f.kind);
        assert_eq!(kind, Some(FailureKind::Abandoned), "{exchange:?}");
    }
    assert!(
        nodes.iter().all(|n| n.count("GET") == 1),
        "no retry after the cancel"
    );
}
