//! cluster-client library.
