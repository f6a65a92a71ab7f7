//! Just enough HTTP/1.1 on the wire: reading one request and writing one response.

use std::io::{self, BufRead, Read};

/// Longest request line or header line we accept.
const MAX_LINE: u64 = 16 * 1024;
/// Most header lines we accept in one request.
const MAX_HEADERS: usize = 100;
/// Largest body we accept, whether sent with Content-Length or chunked.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// A request as read off the socket, before any interpretation.
#[derive(Debug)]
pub(crate) struct WireRequest {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Whether the connection must close after the response: `Connection: close`, or HTTP/1.0
    /// without `Connection: keep-alive`.
    pub(crate) close: bool,
}

/// Why a request could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The socket failed or closed mid-request; nothing can be answered.
    Io,
    /// The bytes are not a request we understand; answer 400 and close.
    Malformed(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

/// Reads the next request. `Ok(None)` means the peer closed the connection cleanly between
/// requests.
pub(crate) fn read_request(reader: &mut impl BufRead) -> Result<Option<WireRequest>, ReadError> {
    // Note: RFC 9112 asks servers to ignore at least one empty line before the request line.
    let request_line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed(
            "request line must be METHOD TARGET VERSION",
        ));
    };
    if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(ReadError::Malformed(
            "request line must be METHOD /TARGET HTTP/1.x",
        ));
    }

    let mut headers = Vec::new();
    loop {
        let line =
            read_line(reader)?.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ReadError::Malformed("too many header lines"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Malformed("header line without a colon"));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }

    let header = |name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    let has_token = |name: &str, token: &str| {
        header(name)
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let close = if version == "HTTP/1.0" {
        !has_token("connection", "keep-alive")
    } else {
        has_token("connection", "close")
    };

    let body = if has_token("transfer-encoding", "chunked") {
        read_chunked(reader)?
    } else {
        match header("content-length").as_slice() {
            [] => Vec::new(),
            [len] => {
                let len: usize = len
                    .parse()
                    .map_err(|_| ReadError::Malformed("Content-Length is not a number"))?;
                if len > MAX_BODY {
                    return Err(ReadError::Malformed("body too large"));
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body)?;
                body
            }
            _ => return Err(ReadError::Malformed("more than one Content-Length")),
        }
    };

    Ok(Some(WireRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body,
        close,
    }))
}

/// Reads one CRLF- (or bare LF-) terminated line without its terminator. `Ok(None)` on EOF
/// before any byte.
fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, ReadError> {
    let mut raw = Vec::new();
    Read::take(&mut *reader, MAX_LINE).read_until(b'\n', &mut raw)?;
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.last() != Some(&b'\n') {
        return Err(if raw.len() as u64 == MAX_LINE {
            ReadError::Malformed("line too long")
        } else {
            ReadError::Io
        });
    }
    raw.pop();
    if raw.last() == Some(&b'\r') {
        raw.pop();
    }
    String::from_utf8(raw)
        .map(Some)
        .map_err(|_| ReadError::Malformed("request line or header is not UTF-8"))
}

/// Reads a chunked body, ignoring chunk extensions and trailers.
fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line =
            read_line(reader)?.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| ReadError::Malformed("chunk size is not hexadecimal"))?;
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Malformed("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if read_line(reader)?.is_none_or(|l| !l.is_empty()) {
            return Err(ReadError::Malformed("chunk data longer than its size"));
        }
    }
    // Trailer section, up to the empty line.
    while read_line(reader)?.is_some_and(|l| !l.is_empty()) {}
    Ok(body)
}

/// A response to serialize; `Content-Length` and `Connection` are added on the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) extra_headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json".to_owned(),
            extra_headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    /// A JSON `{"error": message}` response.
    pub(crate) fn error(status: u16, message: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": message }))
    }

    /// Adds a header line.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.extra_headers.push((name, value));
        self
    }

    /// The full response bytes; `close` adds `Connection: close`.
    pub(crate) fn to_bytes(&self, close: bool) -> Vec<u8> {
        let mut bytes = self.head(self.body.len(), close);
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// The status line and headers only, announcing a body of `body_len` bytes (whatever
    /// `self.body` holds).
    pub(crate) fn head(&self, body_len: usize, close: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            body_len
        );
        for (name, value) in &self.extra_headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// The reason phrase for a status code; "Unknown" for codes this node never expects to send.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &str) -> Result<Option<WireRequest>, ReadError> {
        read_request(&mut raw.as_bytes())
    }

    #[test]
    fn reads_content_length_body_and_keeps_alive_by_default() {
        let req = read("POST /v1/group/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcEXTRA")
            .expect("readable")
            .expect("a request");
        assert_eq!(req.method, "POST");
        assert_eq!(req.target, "/v1/group/");
        assert_eq!(req.body, b"abc");
        assert!(!req.close);
        assert_eq!(req.headers[0], ("Host".to_owned(), "x".to_owned()));
    }

    #[test]
    fn reads_chunked_body() {
        let req = read(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
        )
        .expect("readable")
        .expect("a request");
        assert_eq!(req.body, b"abcde");
    }

    #[test]
    fn connection_close_and_http10_close_the_connection() {
        let close = |raw| read(raw).expect("readable").expect("a request").close;
        assert!(close("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"));
        assert!(close("GET / HTTP/1.0\r\n\r\n"));
        assert!(!close("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn clean_eof_between_requests_is_none() {
        assert!(read("").expect("readable").is_none());
        assert!(read("\r\n").expect("readable").is_none());
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            read("hello\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            read("GET / HTTP/1.1\r\nno colon\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            read("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
    }

    #[test]
    fn truncated_body_is_an_io_error() {
        assert!(matches!(
            read("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
            Err(ReadError::Io)
        ));
    }

    #[test]
    fn response_has_status_line_length_and_close() {
        let bytes = Response::error(404, "nope")
            .with_header("Allow", "GET".to_owned())
            .to_bytes(true);
        assert_eq!(
            String::from_utf8(bytes).expect("utf-8"),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\
             Allow: GET\r\nConnection: close\r\n\r\n{\"error\":\"nope\"}"
        );
    }
}
