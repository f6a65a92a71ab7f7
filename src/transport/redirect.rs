//! Which redirects one attempt follows: within the node's origin, the method kept, no loops,
//! at most five hops.

use reqwest::header::HeaderValue;
use reqwest::{Method, Url};

use super::answer::escape_for_log;

/// The most redirects one attempt follows; a sixth is that node's failure.
pub const MAX_REDIRECTS: usize = 5;

/// The most characters of a refused `Location` that a message quotes.
const QUOTED_LOCATION_CHARS: usize = 200;

/// Where a redirect answer leads, or why it is not followed. `visited` holds
/// every URL this attempt asked, the first included; `home` is the node's
/// origin.
pub(super) fn next_hop(
    method: &Method,
    status: u16,
    from: &Url,
    home: &str,
    location: Option<&HeaderValue>,
    visited: &[Url],
) -> Result<Url, String> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Err("is not a redirect this client follows".to_owned());
    }
    let Some(location) = location else {
        return Err("without a Location header; not followed".to_owned());
    };
    let raw = String::from_utf8_lossy(location.as_bytes());
    let quoted = quote_location(&raw);
    let Ok(target) = from.join(&raw) else {
        return Err(format!("to {quoted}: not a usable URL; not followed"));
    };
    if target.origin().ascii_serialization() != home {
        return Err(format!(
            "to {quoted}: not followed, because it leaves the node's origin (scheme, host \
             and port), and nothing (the bearer token included) was sent there; if that is \
             the node's real address, put it in the hosts file"
        ));
    }
    if matches!(status, 301..=303) && *method != Method::GET {
        return Err(format!(
            "to {quoted}: not followed, because it would turn the {method} into a GET and \
             the change would never reach the node; the node should answer 307 or 308, or \
             the hosts file should name the URL it redirects to"
        ));
    }
    if visited.contains(&target) {
        return Err(format!("to {quoted}: a redirect loop; not followed"));
    }
    if visited.len() > MAX_REDIRECTS {
        return Err(format!(
            "to {quoted}: more than {MAX_REDIRECTS} redirects; not followed"
        ));
    }
    Ok(target)
}

/// A `Location` as a message quotes it: escaped (it is the node's text) and
/// cut to [`QUOTED_LOCATION_CHARS`] characters.
fn quote_location(raw: &str) -> String {
    let escaped = escape_for_log(raw);
    let shown: String = escaped.chars().take(QUOTED_LOCATION_CHARS).collect();
    if shown.len() == escaped.len() {
        format!("`{shown}`")
    } else {
        format!("`{shown}...`")
    }
}
