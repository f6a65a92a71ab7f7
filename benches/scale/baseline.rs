//! The in-run references: the minimal POST-first client an operator would otherwise write, and the measured round trip.
//!
//! It has no read before a create, no write-ahead journal and no rollback:
//! create is one POST per node, delete is a GET and then a DELETE per node
//! (a naive client checking before it removes). It starts nodes in
//! hosts-file order, one at a time or `concurrency` at a time on threads,
//! over one reused blocking reqwest client per command, as one invocation of
//! such a client would. It runs in the benchmark's process, against the same
//! local nodes, so it pays no process start: that only favours the baseline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

/// One invocation of the minimal client against `hosts` (base URLs on 127.0.0.1).
#[derive(Debug)]
pub struct Baseline<'a> {
    hosts: &'a [String],
    concurrency: usize,
    client: Client,
}

impl<'a> Baseline<'a> {
    /// A fresh client, as a new invocation would build.
    pub fn new(hosts: &'a [String], concurrency: usize) -> Self {
        let client = Client::builder()
            // Note: bounds the benchmark if a node ever stops answering.
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build the baseline client");
        Self {
            hosts,
            concurrency: concurrency.max(1),
            client,
        }
    }

    /// POSTs `group` to every node. Panics on an answer other than 201.
    pub fn create(&self, group: &str) {
        self.each_node(|host| self.post(host, group));
    }

    /// On every node, GETs `group` and then DELETEs it. Panics on an
    /// answer other than 200 (or a GET's 404).
    pub fn delete(&self, group: &str) {
        self.each_node(|host| {
            self.get(host, group);
            self.delete_on(host, group);
        });
    }

    /// DELETEs `group` on every node, with no read: one request per node,
    /// the floor for applying a replay's repairs. Panics on an answer other
    /// than 200.
    pub fn remove(&self, group: &str) {
        self.each_node(|host| self.delete_on(host, group));
    }

    fn post(&self, host: &str, group: &str) {
        let status = self
            .client
            .post(format!("{host}/v1/group/"))
            .json(&serde_json::json!({ "groupId": group }))
            .send()
            .expect("baseline POST")
            .status();
        assert_eq!(status.as_u16(), 201, "baseline POST {group} to {host}");
    }

    fn get(&self, host: &str, group: &str) {
        let status = self
            .client
            .get(format!("{host}/v1/group/{group}/"))
            .send()
            .expect("baseline GET")
            .status();
        assert!(
            matches!(status.as_u16(), 200 | 404),
            "baseline GET {group} from {host}: {status}"
        );
    }

    fn delete_on(&self, host: &str, group: &str) {
        let status = self
            .client
            .delete(format!("{host}/v1/group/"))
            .json(&serde_json::json!({ "groupId": group }))
            .send()
            .expect("baseline DELETE")
            .status();
        assert_eq!(status.as_u16(), 200, "baseline DELETE {group} on {host}");
    }

    /// Runs `work` on every host, in order, up to `concurrency` at a time.
    fn each_node(&self, work: impl Fn(&str) + Sync) {
        if self.concurrency == 1 {
            self.hosts.iter().for_each(|host| work(host));
            return;
        }
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.concurrency.min(self.hosts.len()) {
                scope.spawn(|| {
                    while let Some(host) = self.hosts.get(next.fetch_add(1, Ordering::SeqCst)) {
                        work(host);
                    }
                });
            }
        });
    }
}

/// Times `f`.
pub fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// A measured round trip, for the physical limit: the median of 20 GETs to
/// one node that adds `latency`, over a kept-alive connection from this process.
pub fn measured_rtt(latency: Duration) -> Duration {
    let node = cluster_testnode::TestNode::start();
    node.set_latency(latency);
    let client = Client::new();
    let url = format!("{}/v1/group/x/", node.url());
    let mut samples: Vec<Duration> = (0..20)
        .map(|_| timed(|| drop(client.get(&url).send().map(|r| r.status()))))
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// The median of `walls` (at least one).
pub fn median(mut walls: Vec<Duration>) -> Duration {
    walls.sort();
    walls[walls.len() / 2]
}
