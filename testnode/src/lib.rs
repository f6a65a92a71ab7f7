//! A stateful, fault-injecting group-API node on 127.0.0.1, for cluster-client's tests and demo.
//!
//! Each [`TestNode`] is a small HTTP/1.1 server (std threads, keep-alive, `Content-Length`
//! bodies) that serves:
//!
//! - `POST /v1/group/` with `{"groupId": "<id>"}`: 201 and `{"groupId": "<id>"}` when the group
//!   is new, 400 `{"error": "group exists"}` when it is not;
//! - `DELETE /v1/group/` with `{"groupId": "<id>"}`: 200 whether or not the group existed;
//! - `GET /v1/group/{id}/`, `{id}` being one percent-encoded path segment: 200 or 404;
//! - 400 for a write whose body lacks a string `groupId`, 405 for a wrong method on an API
//!   path, 404 for any other path.
//!
//! [`TestNode::set_slashes`] makes it answer about trailing slashes as FastAPI (307 to the path
//! without one) or Flask (308 to the path with one) nodes do.
//!
//! Every request is recorded ([`TestNode::requests`]) and can be awaited
//! ([`TestNode::wait_for_requests`]) instead of sleeping. [`Rule`]s inject a [`Fault`] into
//! chosen requests; [`TestNode::stop`] and [`TestNode::restart`] take the whole node down and
//! up on the same port. [`TestNode::start_tls`] serves the same API over https with a
//! certificate the caller provides.
//!
//! ```
//! use cluster_testnode::{Fault, Rule, TestNode};
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! let node = TestNode::start();
//! node.insert_group("existing");
//! node.add_rule(Rule::new(Fault::ApplyThenStatus(500)).method("POST").times(1));
//!
//! let mut stream = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
//! let body = r#"{"groupId":"new"}"#;
//! write!(
//!     stream,
//!     "POST /v1/group/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
//!      Content-Length: {}\r\n\r\n{body}",
//!     body.len()
//! )
//! .unwrap();
//! let mut response = String::new();
//! stream.read_to_string(&mut response).unwrap();
//!
//! assert!(response.starts_with("HTTP/1.1 500 "));
//! assert!(node.has_group("new"), "applied before the 500");
//! assert_eq!(node.count("POST"), 1);
//! ```

mod dice;
mod group;
mod http;
mod node;
mod request;
mod rule;

pub use group::Slashes;
pub use node::TestNode;
pub use request::{Exchange, Request};
pub use rule::{Fault, Rule};

/// Starts `n` independent nodes, each on its own free port.
///
/// # Panics
/// As [`TestNode::start`] does.
pub fn cluster(n: usize) -> Vec<TestNode> {
    (0..n).map(|_| TestNode::start()).collect()
}
