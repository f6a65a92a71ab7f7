//! cluster-client: keep a group on every node of a cluster, or on none.
//!
//! The library is the reusable client. Build a [`Cluster`] from
//! [`Node`]s, a [`Transport`] (normally [`HttpTransport`]) and a
//! [`RetryPolicy`]; open the [`Journal`]; then [`Cluster::replay`] pending
//! repairs and call [`Cluster::create`], [`Cluster::delete`] or
//! [`Cluster::status`]. Each returns a per-node report.
//!
//! ```no_run
//! use cluster_client::{
//!     Cancel, Cluster, GroupId, HttpSettings, HttpTransport, Journal, Node, RetryPolicy,
//! };
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nodes = vec![Node::parse("http://node1:8080")?, Node::parse("node2:8080")?];
//! let transport = HttpTransport::new(&HttpSettings::with_timeout(std::time::Duration::from_secs(5)))?;
//! let cluster = Cluster::new(nodes, transport, RetryPolicy::default());
//! let mut journal = Journal::open("journal.json".as_ref(), &Cancel::new())?;
//! cluster.replay(&mut journal);
//! let report = cluster.create(&GroupId::new("team-a")?, &mut journal)?;
//! println!("{:?}", report.outcome);
//! # Ok(()) }
//! ```

pub mod engine;
pub mod error;
pub mod journal;
pub mod retry;
/// A simulated cluster behind [`Transport`], for the engine's tests and the
/// binary's hostile-world campaigns; built only for tests (feature `sim`).
#[cfg(any(test, feature = "sim"))]
#[doc(hidden)]
pub mod sim;
pub mod transport;
pub mod vocab;

pub use engine::{
    Cluster, NodeResult, NodeState, OperationReport, Outcome, ReplayReport, StatusReport,
};
pub use error::{Error, InputError, JournalError};
pub use journal::Journal;
pub use retry::RetryPolicy;
pub use transport::{HttpSettings, HttpTransport, Transport};
pub use vocab::cancel::Cancel;
pub use vocab::change::{Action, Operation, Repair};
pub use vocab::group::GroupId;
pub use vocab::hosts::Node;
