//! Which redirects one attempt follows: only to the URL asked with or without its trailing
//! slash (what FastAPI and Flask answer), the method kept, never back.

use reqwest::header::HeaderValue;
use reqwest::{Method, Url};

use super::answer::escape_for_log;

/// The most characters of a refused `Location` that a message quotes.
const QUOTED_LOCATION_CHARS: usize = 200;

/// Where a redirect answer leads, or why it is not followed. `asked` is the
/// URL the attempt started with, `from` the one that answered, and
/// `visited` every URL this attempt asked, the first included.
///
/// Only one target is ever followed: `asked` with its trailing slash added
/// or removed, on the same scheme, host and port and with the same query.
/// That is what web frameworks answer for a path they route the other way
/// (FastAPI's 307, Flask's 308), and it keeps the attempt inside the node's
/// base URL: a node is a base URL (`https://gw/a`), and another path on the
/// same host may be another node (`https://gw/b`), a sign-in page, or
/// anything else that would answer for this one.
pub(super) fn next_hop(
    method: &Method,
    status: u16,
    asked: &Url,
    from: &Url,
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
    let Ok(mut target) = from.join(&raw) else {
        return Err(format!("to {quoted}: not a usable URL; not followed"));
    };
    target.set_fragment(None);
    if target.origin() != asked.origin() {
        return Err(format!(
            "to {quoted}: not followed, because it leaves the node's origin (scheme, host \
             and port), and nothing (the bearer token included) was sent there; if that is \
             the node's real address, put it in the hosts file"
        ));
    }
    if visited.iter().any(|url| same_resource(url, &target)) {
        return Err(format!("to {quoted}: a redirect loop; not followed"));
    }
    if !same_resource(&target, &slash_toggled(asked)) {
        return Err(format!(
            "to {quoted}: not followed, because it leads away from the path asked (only \
             the same path with or without its trailing slash is followed), and nothing \
             (the bearer token included) was sent there; another path may be another node, \
             a sign-in page or an error page. If the node really lives there, put that base \
             URL in the hosts file"
        ));
    }
    if matches!(status, 301..=303) && *method != Method::GET {
        return Err(format!(
            "to {quoted}: not followed, because it would turn the {method} into a GET and \
             the change would never reach the node; the node should answer 307 or 308, or \
             the hosts file should name the URL it redirects to"
        ));
    }
    Ok(target)
}

/// Whether `a` and `b` name the same thing on the same origin: the same
/// query, and the same path segments once percent-decoded, one by one (so
/// `%5E` is `^`, but `a%2Fb` is one segment and `a/b` two). Frameworks
/// encode a path their own way when they redirect it: Starlette writes `^`
/// as `%5E`, where this client sends it as it is.
fn same_resource(a: &Url, b: &Url) -> bool {
    let segments =
        |url: &Url| -> Vec<Vec<u8>> { url.path().split('/').map(percent_decoded).collect() };
    a.origin() == b.origin() && a.query() == b.query() && segments(a) == segments(b)
}

/// `segment` with every `%XX` escape decoded; anything else kept as it is.
fn percent_decoded(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escape = bytes.get(at + 1..at + 3).and_then(|hex| {
            std::str::from_utf8(hex)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        });
        match (bytes[at], escape) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    decoded
}

/// `url` with its path's trailing slash removed, or added when it has none.
fn slash_toggled(url: &Url) -> Url {
    let mut toggled = url.clone();
    let path = url.path();
    match path.strip_suffix('/') {
        Some(bare) if !bare.is_empty() => toggled.set_path(bare),
        Some(_) => {}
        None => toggled.set_path(&format!("{path}/")),
    }
    toggled
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(method: Method, status: u16, asked: &str, location: &str) -> Result<Url, String> {
        let asked = Url::parse(asked).expect("url");
        let location = HeaderValue::from_str(location).expect("header");
        next_hop(
            &method,
            status,
            &asked,
            &asked,
            Some(&location),
            std::slice::from_ref(&asked),
        )
    }

    #[test]
    fn only_the_same_path_with_or_without_its_slash_is_followed() {
        let base = "http://gw:8080/a/v1/group/g/";
        for (location, followed) in [
            ("/a/v1/group/g", true),
            ("http://gw:8080/a/v1/group/g", true),
            ("/a/v1/group/g#top", true),
            ("/b/v1/group/g/", false),
            ("/b/v1/group/g", false),
            ("/oauth2/sign_in", false),
            ("/a/v1/group/g/?page=2", false),
            ("/a/v1/group/g//", false),
            ("/a/v1/group/", false),
            ("https://gw:8080/a/v1/group/g", false),
            ("/a/v1/group/%67", true),
            ("/a/v1/group/g%2F", false),
            ("/a/v1/group/g%2Fx", false),
            ("/a%2Fv1/group/g", false),
            ("http://gw:8081/a/v1/group/g", false),
        ] {
            let result = hop(Method::GET, 307, base, location);
            assert_eq!(result.is_ok(), followed, "{location}: {result:?}");
        }
        let bare = hop(Method::POST, 308, "http://gw/v1/group", "/v1/group/");
        assert_eq!(
            bare.map(|u| u.to_string()),
            Ok("http://gw/v1/group/".into())
        );
    }

    #[test]
    fn refusals_say_why() {
        let other_path = hop(
            Method::GET,
            302,
            "http://gw/a/v1/group/g/",
            "/oauth2/sign_in",
        );
        assert!(other_path.is_err_and(|why| why.contains("leads away from the path asked")),);
        let back = hop(Method::GET, 307, "http://gw/v1/group/g/", "/v1/group/g/");
        assert!(back.is_err_and(|why| why.contains("redirect loop")));
        let to_get = hop(Method::DELETE, 303, "http://gw/v1/group/", "/v1/group");
        assert!(to_get.is_err_and(|why| why.contains("turn the DELETE into a GET")));
    }
}
