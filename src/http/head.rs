//! Reading and checking a request head. httparse does the tokenising; we add
//! what RFC 9112 asks of a server and httparse leaves out: no bare LF line
//! endings, unambiguous body framing, and a single Host on HTTP/1.1.

use std::ffi::{CStr, CString};
use std::io::Read;

use super::body::BodyKind;
use super::buffered::BufferedStream;
use crate::error::{Error, Result};

/// Limits on what a request head may be.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The most bytes a head may take, request line included (Node: 16 KiB).
    pub max_header_size: usize,
    /// The most header fields a head may have.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_size: 16 * 1024,
            max_headers: 128,
        }
    }
}

/// HTTP/1.0 or HTTP/1.1, the versions we speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "1.0",
            Version::Http11 => "1.1",
        }
    }
}

/// One header field as received. Both parts are NUL-terminated so they can be
/// lent to C without a copy; a name or value never contains NUL (the parser
/// rejects it).
#[derive(Clone, Debug)]
pub struct HeaderField {
    pub name: CString,
    pub value: CString,
}

impl HeaderField {
    pub fn new(name: &[u8], value: &[u8]) -> Result<HeaderField> {
        let nul = |_| Error::http(400, "NUL byte in a header field");
        Ok(HeaderField {
            name: CString::new(name).map_err(nul)?,
            value: CString::new(value).map_err(nul)?,
        })
    }

    pub fn name_str(&self) -> &str {
        // Names are tokens (checked by the parser), hence ASCII.
        self.name.to_str().unwrap_or("")
    }
}

/// A parsed and checked request head.
#[derive(Debug)]
pub struct RequestHead {
    method: CString,
    url: CString,
    version: Version,
    headers: Vec<HeaderField>,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
    upgrade: bool,
}

impl RequestHead {
    pub fn method(&self) -> &str {
        self.method.to_str().unwrap_or("")
    }
    pub fn method_cstr(&self) -> &CStr {
        &self.method
    }
    pub fn url(&self) -> &str {
        self.url.to_str().unwrap_or("")
    }
    pub fn url_cstr(&self) -> &CStr {
        &self.url
    }
    pub fn version(&self) -> Version {
        self.version
    }
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&CStr> {
        self.headers
            .iter()
            .find(|h| h.name_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_c_str())
    }
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| v.to_str().ok())
    }
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }
    /// Whether the client allows the connection to stay open after this exchange.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }
    /// `Connection: upgrade` with an `Upgrade` header, or CONNECT.
    pub fn is_upgrade(&self) -> bool {
        self.upgrade
    }
    pub fn is_head(&self) -> bool {
        self.method() == "HEAD"
    }
}

/// Reads one request head from `stream`. Returns `Ok(None)` when the stream
/// ends cleanly before the first byte of a head.
pub fn read_request_head<S: Read>(
    stream: &mut BufferedStream<S>,
    limits: &Limits,
) -> Result<Option<RequestHead>> {
    loop {
        let buffered = stream.buffered();
        if !buffered.is_empty() {
            let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
            let mut request = httparse::Request::new(&mut slots);
            match request.parse(buffered) {
                Ok(httparse::Status::Complete(len)) => {
                    if len > limits.max_header_size {
                        return Err(Error::http(431, "request head too large"));
                    }
                    reject_bare_line_feeds(&buffered[..len])?;
                    let head = check_request(&request)?;
                    stream.consume(len);
                    return Ok(Some(head));
                }
                Ok(httparse::Status::Partial) => {
                    if buffered.len() > limits.max_header_size {
                        return Err(Error::http(431, "request head too large"));
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(Error::http(431, "too many header fields"));
                }
                Err(httparse::Error::Version) => {
                    return Err(Error::http(505, "HTTP version not supported"));
                }
                Err(e) => return Err(Error::http(400, format!("malformed request head: {e}"))),
            }
        }
        let was_empty = stream.buffered().is_empty();
        let n = stream.fill(limits.max_header_size + 1)?;
        if n == 0 {
            return if was_empty {
                Ok(None)
            } else {
                Err(Error::ConnectionClosed)
            };
        }
    }
}

/// httparse accepts a lone `\n` as a line ending; RFC 9112 lets a server
/// reject it and Node does, as a guard against request smuggling.
fn reject_bare_line_feeds(head: &[u8]) -> Result<()> {
    for (i, &b) in head.iter().enumerate() {
        if b == b'\n' && (i == 0 || head[i - 1] != b'\r') {
            return Err(Error::http(400, "bare LF line ending"));
        }
    }
    Ok(())
}

fn check_request(request: &httparse::Request<'_, '_>) -> Result<RequestHead> {
    let version = match request.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(Error::http(505, "HTTP version not supported")),
    };
    let method = request.method.unwrap_or_default();
    let url = request.path.unwrap_or_default();
    if std::str::from_utf8(url.as_bytes()).is_err() {
        return Err(Error::http(400, "request target is not UTF-8"));
    }
    let mut headers = Vec::with_capacity(request.headers.len());
    for h in request.headers.iter() {
        headers.push(HeaderField::new(h.name.as_bytes(), h.value)?);
    }

    let mut content_length: Option<u64> = None;
    let mut transfer_encodings = 0;
    let mut chunked = false;
    let mut hosts = 0;
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut connection_upgrade = false;
    let mut has_upgrade = false;
    let mut expect_continue = false;
    for h in &headers {
        let name = h.name_str();
        let value = h.value.to_bytes();
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(value)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(Error::http(400, "conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encodings += 1;
            chunked = value.eq_ignore_ascii_case(b"chunked");
            if !chunked || transfer_encodings > 1 {
                return Err(Error::http(
                    400,
                    "unsupported Transfer-Encoding (only a single 'chunked' is accepted)",
                ));
            }
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                connection_close |= token.eq_ignore_ascii_case(b"close");
                connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                connection_upgrade |= token.eq_ignore_ascii_case(b"upgrade");
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            has_upgrade = true;
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    if chunked && version == Version::Http10 {
        return Err(Error::http(400, "Transfer-Encoding on HTTP/1.0"));
    }
    if chunked && content_length.is_some() {
        return Err(Error::http(
            400,
            "both Content-Length and Transfer-Encoding",
        ));
    }
    if version == Version::Http11 && hosts != 1 {
        return Err(Error::http(
            400,
            if hosts == 0 {
                "missing Host header"
            } else {
                "more than one Host header"
            },
        ));
    }
    let body = match (chunked, content_length) {
        (true, _) => BodyKind::Chunked,
        (false, Some(0) | None) => BodyKind::Empty,
        (false, Some(n)) => BodyKind::Length(n),
    };
    let keep_alive = match version {
        Version::Http11 => !connection_close,
        Version::Http10 => connection_keep_alive && !connection_close,
    };
    Ok(RequestHead {
        method: CString::new(method).map_err(|_| Error::http(400, "NUL in method"))?,
        url: CString::new(url).map_err(|_| Error::http(400, "NUL in request target"))?,
        version,
        headers,
        body,
        keep_alive,
        expect_continue: expect_continue && version == Version::Http11,
        upgrade: (connection_upgrade && has_upgrade) || method == "CONNECT",
    })
}

fn parse_content_length(value: &[u8]) -> Result<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Error::http(
            400,
            "Content-Length is not a plain decimal number",
        ));
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Error::http(400, "Content-Length overflows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<RequestHead>> {
        let mut stream = BufferedStream::new(raw.as_bytes());
        read_request_head(&mut stream, &Limits::default())
    }

    fn status_of(raw: &str) -> u16 {
        parse(raw)
            .unwrap_err()
            .http_status()
            .expect("an HTTP error")
    }

    #[test]
    fn parses_method_url_version_and_headers_in_order() {
        let head = parse("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.method(), "GET");
        assert_eq!(head.url(), "/a?b=1");
        assert_eq!(head.version(), Version::Http11);
        let values: Vec<_> = head
            .headers()
            .iter()
            .map(|h| h.value.to_str().unwrap())
            .collect();
        assert_eq!(values, ["x", "1", "2"]);
        assert_eq!(head.header_str("X-a"), Some("1"));
        assert!(head.keep_alive());
        assert_eq!(head.body_kind(), BodyKind::Empty);
    }

    #[test]
    fn clean_end_of_stream_before_a_head_is_not_an_error() {
        assert!(parse("").unwrap().is_none());
    }

    #[test]
    fn end_of_stream_inside_a_head_is_an_error() {
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHo"),
            Err(Error::ConnectionClosed)
        ));
    }

    #[test]
    fn http10_is_close_unless_keep_alive_is_asked() {
        assert!(
            !parse("GET / HTTP/1.0\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive()
        );
        assert!(
            parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive()
        );
    }

    #[test]
    fn connection_close_ends_keep_alive() {
        assert!(
            !parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive()
        );
    }

    #[test]
    fn bare_lf_is_rejected() {
        assert_eq!(status_of("GET / HTTP/1.1\nHost: x\n\n"), 400);
        assert_eq!(status_of("GET / HTTP/1.1\r\nHost: x\n\r\n"), 400);
    }

    #[test]
    fn content_length_and_transfer_encoding_together_are_rejected() {
        assert_eq!(
            status_of(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            400
        );
    }

    #[test]
    fn differing_content_lengths_are_rejected_and_equal_ones_accepted() {
        assert_eq!(
            status_of(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"
            ),
            400
        );
        let head =
            parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(head.body_kind(), BodyKind::Length(3));
    }

    #[test]
    fn content_length_must_be_plain_digits() {
        for bad in ["+5", "5 5", "0x5", "-1", "99999999999999999999999"] {
            let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(status_of(&raw), 400, "{bad}");
        }
    }

    #[test]
    fn only_a_single_chunked_transfer_encoding_is_accepted() {
        for bad in ["xchunked", "chunked, identity", "identity", "gzip, chunked"] {
            let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {bad}\r\n\r\n");
            assert_eq!(status_of(&raw), 400, "{bad}");
        }
        assert_eq!(
            status_of(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            400
        );
        assert_eq!(
            status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
    }

    #[test]
    fn http11_needs_exactly_one_host() {
        assert_eq!(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(
            status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400
        );
    }

    #[test]
    fn unsupported_versions_get_505() {
        assert_eq!(status_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    }

    #[test]
    fn an_oversized_head_gets_431() {
        let raw = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(20_000)
        );
        assert_eq!(status_of(&raw), 431);
    }

    #[test]
    fn upgrade_and_expect_continue_are_recognised() {
        let head =
            parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(head.is_upgrade());
        let head =
            parse("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(head.expects_continue());
    }

    #[test]
    fn pipelined_requests_leave_the_next_one_buffered() {
        let raw = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut stream = BufferedStream::new(raw.as_bytes());
        let first = read_request_head(&mut stream, &Limits::default())
            .unwrap()
            .unwrap();
        let second = read_request_head(&mut stream, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!((first.url(), second.url()), ("/1", "/2"));
    }
}
