//! What a node records about each request it receives and how it answered.

use crate::Fault;

/// One request as the node received it (headers and body fully read), before any fault applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// A process-wide sequence number, increasing in the order requests are
    /// recorded by any node: sorting by it gives the arrival order across nodes.
    pub seq: u64,
    /// The method as sent, e.g. `"POST"`.
    pub method: String,
    /// The request target as sent: still percent-encoded, query string included.
    pub path: String,
    /// The decoded group id: the JSON body's string `groupId` on `/v1/group/`, or the decoded
    /// path segment on `/v1/group/{id}/`, whatever the method. `None` when the body is not a
    /// JSON object with a string `groupId`, the segment does not decode to UTF-8, or the path
    /// is not one of the API's.
    pub group: Option<String>,
    /// Header lines in arrival order, names spelled as sent, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked if it was chunked), as UTF-8 with invalid bytes replaced by U+FFFD.
    /// Empty when there was none.
    pub body: String,
}

impl Request {
    /// The value of the first header called `name` (ASCII case-insensitive), or `None` when the
    /// request had no such header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request together with what the node decided to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request as received.
    pub request: Request,
    /// The fault injected, from a [`Rule`](crate::Rule) or the random fail rate; `None` when
    /// the request was served normally.
    pub fault: Option<Fault>,
    /// Whether a create or delete ran against the node's groups. True even when it changed
    /// nothing (creating a group that exists, deleting one that does not); always false for
    /// GET and for requests that are not valid API calls.
    pub applied: bool,
    /// The status the node answers (or will answer, after latency or a delay), or `None` when
    /// the connection hangs or is reset instead, or gets [`Fault::Raw`] bytes.
    pub status: Option<u16>,
}
