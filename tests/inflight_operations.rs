//! The operations suite again, with every command run at `--parallel-groups 8`.
//!
//! tests/support/mod.rs sets `CLUSTER_CLIENT_PARALLEL_GROUPS=8` for test
//! binaries named `inflight_*`: every result a user sees must be the same as
//! with one group at a time.

#[path = "operations.rs"]
mod operations;
