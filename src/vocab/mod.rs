//! The vocabulary every layer shares: ids, nodes, changes, the cancel flag, safe text, secrets,
//! file trust and shards. Imports nothing of ours above it (bad input is an `error::InputError`).

pub mod cancel;
pub mod change;
pub mod fanout;
pub mod group;
pub mod hosts;
pub mod secret;
pub mod shard;
pub mod text;
pub mod time;
pub mod trust;
