//! Fault points: with the `fault-points` feature, the process aborts itself
//! at a named journal-write boundary, to leave the torn states that random
//! kills rarely hit. Without the feature, [`reach`] is
//! an empty inline function and the environment is never read.
//!
//! `CLUSTER_CLIENT_FAULT_POINT=<name>[:<n>]` aborts the n-th time (default:
//! the first) this process reaches the point `<name>`, one of
//! [`NAMES`] or [`REMOVE_NAMES`].

/// The environment variable that arms a fault point.
pub const VAR: &str = "CLUSTER_CLIENT_FAULT_POINT";

/// The fault points of a journal write that leaves it empty and so
/// removes the file, in the order such a write reaches them.
pub const REMOVE_NAMES: [&str; 3] = [
    "journal-before-remove",
    "journal-after-remove",
    "journal-after-remove-dir-sync",
];

/// Whether `name` is a fault point: one of [`NAMES`] or [`REMOVE_NAMES`].
pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name) || REMOVE_NAMES.contains(&name)
}

/// Every fault point of a journal write that replaces the file, in the
/// order one write reaches them. (A write that leaves the journal empty
/// removes the file instead and passes [`REMOVE_NAMES`].)
pub const NAMES: [&str; 5] = [
    "journal-before-temp",
    "journal-after-temp-write",
    "journal-after-temp-sync",
    "journal-after-rename",
    "journal-after-dir-sync",
];

/// Marks the boundary `name`; does nothing unless the build has the
/// `fault-points` feature and `CLUSTER_CLIENT_FAULT_POINT` arms it.
#[cfg(not(feature = "fault-points"))]
#[inline(always)]
pub(crate) fn reach(name: &'static str) {
    let _ = name;
}

/// Marks the boundary `name`, aborting the process when
/// `CLUSTER_CLIENT_FAULT_POINT` arms it and this is its n-th time.
#[cfg(feature = "fault-points")]
pub(crate) fn reach(name: &'static str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static ARMED: OnceLock<Option<(String, usize)>> = OnceLock::new();
    static HITS: AtomicUsize = AtomicUsize::new(0);

    debug_assert!(is_known(name), "unknown fault point {name}");
    let armed = ARMED.get_or_init(|| {
        let spec = std::env::var(VAR).ok()?;
        let parsed = parse(&spec);
        if parsed.is_none() {
            log::error!(
                "{VAR}={spec:?} is not <name>[:<n>] with n >= 1 and a name among {NAMES:?} or {REMOVE_NAMES:?}; \
                 no fault point is armed"
            );
        }
        parsed
    });
    let Some((armed, nth)) = armed else { return };
    if armed == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
        log::error!("fault point {name} (hit {nth}): aborting");
        std::process::abort();
    }
}

/// Parses `<name>[:<n>]`; `None` for an unknown name or an n below 1.
#[cfg(any(test, feature = "fault-points"))]
fn parse(spec: &str) -> Option<(String, usize)> {
    let (name, nth) = match spec.trim().split_once(':') {
        Some((name, nth)) => (name, nth.parse().ok().filter(|&n| n >= 1)?),
        None => (spec.trim(), 1),
    };
    is_known(name).then(|| (name.to_owned(), nth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_known_point_and_an_optional_positive_count() {
        assert_eq!(
            parse("journal-after-rename"),
            Some(("journal-after-rename".to_owned(), 1))
        );
        assert_eq!(
            parse("journal-before-temp:3"),
            Some(("journal-before-temp".to_owned(), 3))
        );
        assert_eq!(parse("journal-before-temp:0"), None);
        assert_eq!(parse("journal-before-temp:x"), None);
        assert_eq!(parse("somewhere-else"), None);
        assert_eq!(parse(""), None);
    }
}
