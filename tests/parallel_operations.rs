//! The operations suite again, with every command run at `--concurrency 4`.
//!
//! tests/support/mod.rs adds `--concurrency 4` for test binaries named
//! `parallel_*`; the order-specific tests live in tests/order.rs instead.

#[path = "operations.rs"]
mod operations;
