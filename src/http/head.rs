//! Reading and checking a request head. httparse does the tokenising; we add
//! what RFC 9112 asks of a server and httparse leaves out: no bare LF line
//! endings, unambiguous body framing (Content-Length and Transfer-Encoding
//! checked as RFC 9112 section 6 says), a single Host on HTTP/1.1, `414` for
//! an overlong request line and `505` only for a well-formed version we do
//! not speak.

use std::ffi::CStr;
use std::io::Read;
use std::mem::MaybeUninit;

use super::body::BodyKind;
use super::buffered::BufferedStream;
use super::fields::HeaderFields;
use super::fields::is_token;
use crate::error::{Error, Result};

/// Limits on what a request head may be.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The most bytes a head may take, request line included (Node: 16 KiB).
    pub max_header_size: usize,
    /// The most header fields a head may have.
    pub max_headers: usize,
    /// The longest request line (method, target and version, without CRLF)
    /// before `414 URI Too Long`. Node has no limit of its own for it (its
    /// head limit covers the line, with `431`), so the default is the same
    /// 16 KiB: nhttps refuses no line Node accepts, it only names the cause.
    /// `max_header_size` caps it too.
    pub max_request_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_size: 16 * 1024,
            max_headers: 128,
            max_request_line: 16 * 1024,
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

/// A parsed and checked request head.
#[derive(Debug)]
pub struct RequestHead {
    /// The method and the target, each NUL-terminated (lent to C as is).
    line: Vec<u8>,
    /// Where the target starts in `line`.
    target_start: usize,
    version: Version,
    headers: HeaderFields,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
    upgrade: bool,
}

impl RequestHead {
    pub fn method(&self) -> &str {
        self.method_cstr().to_str().unwrap_or("")
    }
    pub fn method_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.line).unwrap_or_default()
    }
    pub fn url(&self) -> &str {
        self.url_cstr().to_str().unwrap_or("")
    }
    pub fn url_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.line[self.target_start..]).unwrap_or_default()
    }
    pub fn version(&self) -> Version {
        self.version
    }
    pub fn headers(&self) -> &HeaderFields {
        &self.headers
    }
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&CStr> {
        self.headers.first(name)
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

/// How many of httparse's field slots live on the stack (the default
/// `max_headers`).
const STACK_SLOTS: usize = 128;

/// Reads one request head from `stream`. Returns `Ok(None)` when the stream
/// ends cleanly before the first byte of a head.
pub fn read_request_head<S: Read>(
    stream: &mut BufferedStream<S>,
    limits: &Limits,
) -> Result<Option<RequestHead>> {
    loop {
        let buffered = stream.buffered();
        if !buffered.is_empty() {
            // The outcome depends on the bytes alone, not on how they were
            // split by the network: a malformed byte is reported when it
            // comes before a limit is passed, the limit otherwise. So the
            // parser never looks past the request line's limit.
            let view = request_line_view(buffered, limits);
            // httparse's field slots: on the stack up to the default limit,
            // without initialising them (4 KiB a request otherwise).
            let mut on_stack = [const { MaybeUninit::uninit() }; STACK_SLOTS];
            let mut on_heap = Vec::new();
            let slots = if limits.max_headers <= STACK_SLOTS {
                &mut on_stack[..limits.max_headers]
            } else {
                on_heap.resize_with(limits.max_headers, MaybeUninit::uninit);
                &mut on_heap[..]
            };
            let mut request = httparse::Request::new(&mut []);
            match request.parse_with_uninit_headers(view, slots) {
                Ok(httparse::Status::Complete(len)) => {
                    check_request_line_length(view, limits)?;
                    if len > limits.max_header_size {
                        return Err(Error::http(431, "request head too large"));
                    }
                    reject_bare_line_feeds(&buffered[..len])?;
                    let head = check_request(&request)?;
                    stream.consume(len);
                    return Ok(Some(head));
                }
                Ok(httparse::Status::Partial) => {
                    check_request_line_length(view, limits)?;
                    if buffered.len() > limits.max_header_size {
                        return Err(Error::http(431, "request head too large"));
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(Error::http(431, "too many header fields"));
                }
                // httparse stops at the first byte of a version other than
                // HTTP/1.0 or HTTP/1.1; the whole line tells whether it is a
                // version we do not speak (505) or no version at all (400).
                Err(httparse::Error::Version) => {
                    if let Some(error) = version_error(view) {
                        return Err(error);
                    }
                    check_request_line_length(view, limits)?;
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

/// The request line of `buffered`: the bytes after any empty lines (which a
/// server ignores before a request, RFC 9112 section 2.2) up to the first
/// LF, and whether that LF has arrived.
fn request_line(buffered: &[u8]) -> (&[u8], bool) {
    let (start, line, complete) = request_line_at(buffered);
    (&buffered[start..start + line], complete)
}

/// `request_line` as an offset and a length.
fn request_line_at(buffered: &[u8]) -> (usize, usize, bool) {
    let start = buffered
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buffered.len());
    match buffered[start..].iter().position(|&b| b == b'\n') {
        Some(lf) => (start, lf, true),
        None => (start, buffered.len() - start, false),
    }
}

fn request_line_limit(limits: &Limits) -> usize {
    limits.max_request_line.min(limits.max_header_size)
}

/// The length of the request line in `buffered` so far, without its CR
/// (a last CR may be the start of the CRLF).
fn request_line_length(buffered: &[u8]) -> (usize, usize) {
    let (start, len, _) = request_line_at(buffered);
    let cr = len > 0 && buffered[start + len - 1] == b'\r';
    (start, len - usize::from(cr))
}

/// What the head parser may look at: all of `buffered`, or, when the
/// request line is over its limit, the line up to one byte past the limit.
fn request_line_view<'a>(buffered: &'a [u8], limits: &Limits) -> &'a [u8] {
    let limit = request_line_limit(limits);
    match request_line_length(buffered) {
        (start, len) if len > limit => &buffered[..start + limit + 1],
        _ => buffered,
    }
}

/// `414 URI Too Long` as soon as the request line is known to be longer
/// than the limit, whether or not its end has arrived.
fn check_request_line_length(buffered: &[u8], limits: &Limits) -> Result<()> {
    if request_line_length(buffered).1 > request_line_limit(limits) {
        return Err(Error::http(414, "request line too long"));
    }
    Ok(())
}

/// The error for a request line whose version httparse refused, once the
/// line is complete (`None` until then): `505` for a well-formed
/// `HTTP/x.y` other than 1.0 and 1.1 (RFC 9110 section 15.6.6), `400` for
/// anything else (`http/1.1`, `HTTP/1`, a space in the target, ...).
fn version_error(buffered: &[u8]) -> Option<Error> {
    let (line, complete) = request_line(buffered);
    if !complete {
        return None;
    }
    let Some(line) = line.strip_suffix(b"\r") else {
        return Some(Error::http(400, "bare LF line ending"));
    };
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let well_formed = matches!(
        parts[..],
        [method, target, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]]
            if !method.is_empty() && !target.is_empty()
                && major.is_ascii_digit() && minor.is_ascii_digit()
    );
    Some(if well_formed {
        Error::http(505, "HTTP version not supported")
    } else {
        Error::http(400, "malformed request line: invalid HTTP version")
    })
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
    let bytes = request
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    let mut headers = HeaderFields::with_capacity(request.headers.len(), bytes);
    for h in request.headers.iter() {
        headers.push(h.name.as_bytes(), h.value)?;
    }

    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    // Every Transfer-Encoding field's list elements, in order (RFC 9110
    // section 5.3: several fields are one comma-separated list).
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut hosts = 0;
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut connection_upgrade = false;
    let mut has_upgrade = false;
    let mut expect_continue = false;
    // The fields as httparse found them: their lengths are known there.
    for h in request.headers.iter() {
        let (name, value) = (h.name, h.value);
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(value)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(Error::http(400, "conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            codings.extend(
                value
                    .split(|&b| b == b',')
                    .map(<[u8]>::trim_ascii)
                    .filter(|c| !c.is_empty()),
            );
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
    // RFC 9112 section 6.1: Transfer-Encoding on HTTP/1.0 means faulty
    // framing; section 6.3: with Content-Length too, the request may be an
    // attempt at smuggling. Both are rejected, whatever the codings say.
    if transfer_encoding && version == Version::Http10 {
        return Err(Error::http(400, "Transfer-Encoding on HTTP/1.0"));
    }
    if transfer_encoding && content_length.is_some() {
        return Err(Error::http(
            400,
            "both Content-Length and Transfer-Encoding",
        ));
    }
    let unsupported_coding = if transfer_encoding {
        check_transfer_codings(&codings)?
    } else {
        None
    };
    let chunked = transfer_encoding;
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
    if let Some(coding) = unsupported_coding {
        return Err(Error::http(
            501,
            format!(
                "transfer coding {:?} is not supported (only chunked is)",
                String::from_utf8_lossy(coding)
            ),
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
    if method.contains('\0') || url.contains('\0') {
        return Err(Error::http(400, "NUL in the request line"));
    }
    let mut line = Vec::with_capacity(method.len() + url.len() + 2);
    line.extend_from_slice(method.as_bytes());
    line.push(0);
    let target_start = line.len();
    line.extend_from_slice(url.as_bytes());
    line.push(0);
    Ok(RequestHead {
        line,
        target_start,
        version,
        headers,
        body,
        keep_alive,
        expect_continue: expect_continue && version == Version::Http11,
        upgrade: (connection_upgrade && has_upgrade) || method == "CONNECT",
    })
}

/// The list of transfer codings of a request, checked as RFC 9112 section
/// 6.3 asks: `chunked` must be the final coding (400 otherwise: the body's
/// length cannot be known), and only once (section 7). A well-formed list
/// whose other codings we cannot decode (`gzip, chunked`) gives the first
/// of them, to answer `501 Not Implemented` (section 6.1) once every `400`
/// check has passed.
fn check_transfer_codings<'a>(codings: &[&'a [u8]]) -> Result<Option<&'a [u8]>> {
    let Some((last, before)) = codings.split_last() else {
        return Err(Error::http(400, "empty Transfer-Encoding"));
    };
    if !last.eq_ignore_ascii_case(b"chunked") {
        return Err(Error::http(
            400,
            "Transfer-Encoding does not end with chunked",
        ));
    }
    let mut unsupported = None;
    for &coding in before {
        // transfer-coding = token *( OWS ";" OWS transfer-parameter )
        // transfer-parameter = token BWS "=" BWS ( token / quoted-string )
        let mut parts = coding.split(|&b| b == b';').map(<[u8]>::trim_ascii);
        let name = parts.next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"chunked") {
            return Err(Error::http(400, "chunked applied more than once"));
        }
        let parameters_ok = parts.all(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let value = p[eq + 1..].trim_ascii();
                is_token(p[..eq].trim_ascii())
                    && (is_token(value)
                        || (value.len() >= 2 && value.starts_with(b"\"") && value.ends_with(b"\"")))
            }
            None => false,
        });
        if !is_token(name) || !parameters_ok {
            return Err(Error::http(400, "malformed Transfer-Encoding"));
        }
        unsupported.get_or_insert(coding);
    }
    Ok(unsupported)
}

fn parse_content_length(value: &[u8]) -> Result<u64> {
    super::fields::parse_content_length(value).ok_or_else(|| {
        Error::http(
            400,
            "Content-Length is not a plain decimal number that fits in 64 bits",
        )
    })
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
        for bad in [
            "xchunked",
            "chunked, identity",
            "identity",
            "gzip",
            "chunked, chunked",
        ] {
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
        assert_eq!(status_of("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
    }

    #[test]
    fn a_malformed_version_is_400_not_505() {
        // Regression: every version httparse refused was answered 505.
        for line in [
            "GET / http/1.1",
            "GET / HTTP/1",
            "GET / HTTP/1.10",
            "GET / HTTP/11.1",
            "GET /a b HTTP/1.1",
            "GET / HTTPS/1.1",
        ] {
            assert_eq!(
                status_of(&format!("{line}\r\nHost: x\r\n\r\n")),
                400,
                "{line}"
            );
        }
        assert_eq!(status_of("GET / HTTP/2.0\nHost: x\r\n\r\n"), 400);
    }

    #[test]
    fn the_version_verdict_waits_for_the_whole_line() {
        // "HTTP/2" is refused by httparse at once; 505 or 400 depends on
        // what follows, so a request arriving a byte at a time gets the
        // same answer as one arriving whole.
        for (raw, status) in [
            (&b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"[..], 505),
            (b"GET / HTTP/2.0x\r\nHost: x\r\n\r\n", 400),
        ] {
            let mut stream = BufferedStream::new(super::super::trickle::Trickle::new(raw, 1));
            let err = read_request_head(&mut stream, &Limits::default()).unwrap_err();
            assert_eq!(err.http_status(), Some(status));
        }
        assert!(matches!(
            parse("GET / HTTP/2.0"),
            Err(Error::ConnectionClosed)
        ));
    }

    #[test]
    fn an_overlong_request_line_gets_414_and_an_overlong_head_431() {
        let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000));
        assert_eq!(status_of(&raw), 414);
        let limits = Limits {
            max_request_line: 100,
            ..Limits::default()
        };
        let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100));
        let mut stream = BufferedStream::new(raw.as_bytes());
        let err = read_request_head(&mut stream, &limits).unwrap_err();
        assert_eq!(err.http_status(), Some(414));
        let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(80));
        let mut stream = BufferedStream::new(raw.as_bytes());
        assert!(read_request_head(&mut stream, &limits).unwrap().is_some());
        // A malformed byte early in a long line is a 400, as it would be
        // had the line arrived in pieces.
        let raw = format!(
            "GET /\x01{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(20_000)
        );
        assert_eq!(status_of(&raw), 400);
    }

    #[test]
    fn a_bad_byte_past_the_line_limit_is_414_however_the_bytes_arrive() {
        // Regression (fuzz, request): a request line over the limit with a
        // bad byte past the limit was 400 when it arrived whole (httparse
        // saw the byte) and 414 when it trickled in (the limit came first).
        let limits = Limits {
            max_request_line: 2048,
            ..Limits::default()
        };
        let mut raw = b"GET /".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 2500));
        raw.extend_from_slice(b"\x01 HTTP/1.1\r\nHost: x\r\n\r\n");
        for step in [0, 1, 7, 100] {
            let reader = super::super::trickle::Trickle::new(&raw, step);
            let err = read_request_head(&mut BufferedStream::new(reader), &limits).unwrap_err();
            assert_eq!(err.http_status(), Some(414), "{step} bytes at a time");
        }
        // A line of exactly the limit, its CR read apart from its LF.
        let mut raw = b"GET /".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 2048 - 14));
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        for step in [0, 1, 2048, 2049] {
            let reader = super::super::trickle::Trickle::new(&raw, step);
            let head = read_request_head(&mut BufferedStream::new(reader), &limits);
            assert!(head.unwrap().is_some(), "{step} bytes at a time");
        }
    }

    #[test]
    fn a_small_max_header_size_works() {
        // Regression: a limit under 8 KiB made BufferedStream::fill panic.
        let limits = Limits {
            max_header_size: 64,
            ..Limits::default()
        };
        let mut stream = BufferedStream::new(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
        assert!(read_request_head(&mut stream, &limits).unwrap().is_some());
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(64));
        let mut stream = BufferedStream::new(raw.as_bytes());
        let err = read_request_head(&mut stream, &limits).unwrap_err();
        assert_eq!(err.http_status(), Some(431));
    }

    #[test]
    fn a_well_formed_but_unsupported_transfer_coding_gets_501() {
        for te in [
            "gzip, chunked",
            "x-custom;p=1, chunked",
            "x;p = \"q r\" , chunked",
            "deflate,chunked",
        ] {
            let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(status_of(&raw), 501, "{te}");
        }
        let split = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status_of(split), 501);
        // Every 400 check comes first.
        assert_eq!(
            status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status_of(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 1\r\n\r\n"
            ),
            400
        );
    }

    #[test]
    fn malformed_transfer_encodings_get_400() {
        for te in [
            "",
            ",",
            "chunked;q=1",
            "gzip;, chunked",
            "gzip;q, chunked",
            "gzip;q=, chunked",
            "g@zip, chunked",
            "chunked, gzip",
        ] {
            let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(status_of(&raw), 400, "{te:?}");
        }
        // Any Transfer-Encoding on HTTP/1.0, not only chunked.
        assert_eq!(
            status_of("POST / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            400
        );
        // Empty list elements are ignored (RFC 9110 section 5.6.1.2).
        let head = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , Chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.body_kind(), BodyKind::Chunked);
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
