//! Time as the journal and the reports keep it: whole seconds since the Unix epoch, shown as
//! RFC 3339 UTC (`2026-12-02T01:20:00Z`). Imports nothing of ours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch now; 0 on a clock set before 1970.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `secs` since the Unix epoch as RFC 3339 UTC, to the second, as the journal and the JSON
/// output show times.
pub fn rfc3339(secs: u64) -> String {
    rfc3339_display(secs).to_string()
}

/// [`rfc3339`] without building a `String`, for writers that format in place.
pub fn rfc3339_display(secs: u64) -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Seconds since the Unix epoch of an RFC 3339 time; `None` for text that is not one, or a
/// time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_trip_through_rfc_3339_text() {
        assert_eq!(rfc3339(1_795_450_771), "2026-11-23T16:19:31Z");
        assert_eq!(parse_rfc3339("2026-11-23T16:19:31Z"), Some(1_795_450_771));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
