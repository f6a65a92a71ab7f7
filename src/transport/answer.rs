//! Reading a node's answer: the body (bounded), its preview for the debug log (escaped, the
//! token redacted), and `Retry-After`.

use std::io::Read;
use std::time::{Duration, SystemTime};

use reqwest::blocking::Response;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::MAX_BODY_BYTES;
use crate::vocab::group::GroupId;
use crate::vocab::secret::Token;

/// The most characters of a response body that one debug log line shows.
pub(super) const LOGGED_BODY_CHARS: usize = 200;

/// `text` with control characters shown visibly, for log lines that quote
/// node or journal text; see [`crate::vocab::text::escape`].
pub(super) fn escape_for_log(text: &str) -> std::borrow::Cow<'_, str> {
    crate::vocab::text::escape(text)
}

/// A response body as one log line shows it: quoted and escaped (so a
/// hostile body cannot forge log lines or send terminal escapes), the token
/// replaced by `<redacted>` (a node may echo the request), and cut to
/// [`LOGGED_BODY_CHARS`] characters.
pub(super) fn body_preview(body: &[u8], token: Option<&Token>) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if let Some(token) = token {
        text = text.replace(token.expose(), "<redacted>");
    }
    let shown: String = text.chars().take(LOGGED_BODY_CHARS).collect();
    if shown.len() == text.len() {
        format!("{shown:?}")
    } else {
        format!("{shown:?}... ({} bytes read)", body.len())
    }
}

/// The most characters of a body that a reason for distrusting it quotes.
const QUOTED_BODY_CHARS: usize = 60;

/// Why a 200 to a read of `group` does not show the group is there, or
/// `None` when it does: the body is empty (whitespace only) or a JSON object
/// whose `groupId` is the group's id. An HTML page (an auth proxy's sign-in
/// page after a redirect), any other text, other JSON, or another id is
/// not the node's word on this group.
pub(super) fn unconfirmed(body: &[u8], group: &GroupId, token: Option<&Token>) -> Option<String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let what = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(fields)) => match fields.get("groupId") {
            Some(serde_json::Value::String(id)) if id == group.as_str() => return None,
            Some(serde_json::Value::String(id)) => format!(
                "its body names another group, {}",
                quote(id.as_bytes(), token)
            ),
            _ => "its body is JSON without this group's \"groupId\"".to_owned(),
        },
        Ok(_) => "its body is JSON, but not an object naming the group".to_owned(),
        Err(_) => format!("its body is not JSON: {}", quote(body, token)),
    };
    Some(format!(
        "{what}, so it is not the node's answer about {:?} (a sign-in or error page a \
         proxy serves, say); the node counts as unreadable",
        crate::vocab::text::escape(group.as_str())
    ))
}

/// `bytes` quoted for a message: escaped, the token redacted, cut short.
fn quote(bytes: &[u8], token: Option<&Token>) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if let Some(token) = token {
        text = text.replace(token.expose(), "<redacted>");
    }
    let shown: String = text.chars().take(QUOTED_BODY_CHARS).collect();
    let cut = if shown.len() == text.len() { "" } else { "..." };
    format!("{shown:?}{cut}")
}

/// Reads at most [`MAX_BODY_BYTES`]; a larger body is cut off there.
pub(super) fn read_bounded(response: Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    // Note: reading into the Vec drains the body so the connection can be
    // reused; a body over the limit just closes the connection instead.
    match response.take(MAX_BODY_BYTES).read_to_end(&mut body) {
        Ok(_) => Ok(body),
        Err(e) => match e
            .into_inner()
            .map(|inner| inner.downcast::<reqwest::Error>())
        {
            Some(Ok(reqwest_error)) => Err(*reqwest_error),
            // Note: any other read error is a broken body; report what we have.
            _ => Ok(body),
        },
    }
}

/// Parses `Retry-After` as delta-seconds or an HTTP date relative to `now`.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}
