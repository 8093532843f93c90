//! The fuzz oracles: the entry points of the fuzz targets (`fuzz/`,
//! `fuzz_request`, `fuzz_response`, `fuzz_accessors`) and the checks they
//! make. A connection's bytes are read by the same code the server and the
//! client run (`BufferedStream`, `read_request_head`, `read_status_head`,
//! `BodyReader`), over memory instead of TLS, whole and trickled
//! (`Trickle`). Not part of the API, nor of the shipped library: built only
//! for tests and with the `fuzzing` feature (which the fuzz crate turns on).
//!
//! Each entry point also checks what the parser promises about what it
//! accepts (a method is a token, a header value holds no CR, LF or NUL, a
//! chunked request has no Content-Length, ...) and panics when a promise is
//! broken, so that a fuzzer reports it as a crash. The request vectors of
//! `c-tests/vectors/` and the fuzz corpus' regression seeds go through them
//! in `test_vectors`.

use std::io::Read;

use super::body::{BodyKind, BodyReader};
use super::buffered::BufferedStream;
use super::fields::{HeaderField, HeaderFields};
use super::fields::{is_token, is_token_byte};
use super::head::{Limits, RequestHead, Version, read_request_head};
use super::response_head::{ResponseHead, is_valid_header_value};
use super::status_head::{StatusHead, read_status_head};
use super::trickle::Trickle;
use crate::error::Error;

/// What a server or a client made of one message on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A whole message: its first line's parts, its body and trailers.
    Message {
        head: String,
        body: Vec<u8>,
        trailers: usize,
    },
    /// A message the server hands over (an upgrade or CONNECT): reading stops.
    Upgrade { head: String },
    /// The message was refused with this status; `in_body` when the head
    /// was accepted and the body's framing was not.
    Rejected { status: u16, in_body: bool },
    /// The bytes ended inside a message (or a read buffer limit was hit).
    Incomplete,
}

impl Outcome {
    /// The status the server answers a request with: 200 for a whole
    /// request (the vectors' handler answers 200), else the rejection's.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Message { .. } | Outcome::Upgrade { .. } => Some(200),
            Outcome::Rejected { status, .. } => Some(*status),
            Outcome::Incomplete => None,
        }
    }
}

fn rejected(error: Error, in_body: bool) -> Outcome {
    match error.http_status() {
        Some(status) => {
            assert!(
                matches!(status, 400 | 413 | 414 | 431 | 501 | 502 | 505),
                "unexpected status {status} for {error}"
            );
            Outcome::Rejected { status, in_body }
        }
        None => Outcome::Incomplete,
    }
}

/// A field as any parser of ours must hand it over: a token name, a value
/// without control bytes (tab aside) and without white space at its ends.
fn check_field(field: HeaderField<'_>) {
    let name = field.name.to_bytes();
    assert!(
        !name.is_empty() && name.iter().all(|&b| is_token_byte(b)),
        "header name {name:?} is not a token"
    );
    let value = field.value.to_bytes();
    assert!(
        is_valid_header_value(value),
        "header value {value:?} holds a control byte"
    );
    assert_eq!(
        value.trim_ascii(),
        value,
        "header value {value:?} is not trimmed"
    );
}

fn header_values<'a>(headers: &'a HeaderFields, name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|h| h.name_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.to_bytes())
        .collect()
}

/// The promises of an accepted request head.
fn check_request_head(head: &RequestHead) {
    assert!(is_token(head.method()), "method {:?}", head.method());
    assert_eq!(head.method().as_bytes(), head.method_cstr().to_bytes());
    let url = head.url_cstr().to_bytes();
    assert!(!url.is_empty(), "empty request target");
    assert!(
        url.iter().all(|&b| b > b' ' && b != 0x7f),
        "request target {url:?} holds a space or control byte"
    );
    assert_eq!(head.url().as_bytes(), url, "request target is not UTF-8");
    for field in head.headers() {
        check_field(field);
        // The accessor finds the first field of that name, in any case.
        let first = head
            .headers()
            .iter()
            .find(|h| h.name_str().eq_ignore_ascii_case(field.name_str()))
            .map(|h| h.value);
        assert_eq!(head.header(&field.name_str().to_ascii_uppercase()), first);
        assert_eq!(head.header(&field.name_str().to_ascii_lowercase()), first);
    }
    let hosts = header_values(head.headers(), "host").len();
    if head.version() == Version::Http11 {
        assert_eq!(hosts, 1, "HTTP/1.1 request with {hosts} Host fields");
    }
    let lengths = header_values(head.headers(), "content-length");
    let encodings = header_values(head.headers(), "transfer-encoding");
    match head.body_kind() {
        BodyKind::Chunked => {
            assert!(lengths.is_empty(), "chunked with Content-Length");
            assert_eq!(head.version(), Version::Http11, "chunked on HTTP/1.0");
            let all: Vec<Vec<u8>> = encodings
                .iter()
                .flat_map(|v| v.split(|&b| b == b','))
                .map(|c| c.trim_ascii().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect();
            assert_eq!(all, [b"chunked".to_vec()], "codings {all:?}");
        }
        BodyKind::Length(n) => {
            assert!(encodings.is_empty(), "Transfer-Encoding with a length");
            assert!(n > 0);
            for v in lengths {
                assert!(v.iter().all(u8::is_ascii_digit), "Content-Length {v:?}");
                let parsed = std::str::from_utf8(v).ok().and_then(|v| v.parse().ok());
                assert_eq!(parsed, Some(n), "Content-Length {v:?}");
            }
        }
        BodyKind::Empty => {
            assert!(encodings.is_empty(), "Transfer-Encoding with no body");
            for v in lengths {
                assert!(v.iter().all(|&b| b == b'0') && !v.is_empty(), "{v:?}");
            }
        }
        BodyKind::UntilClose => panic!("a request body never runs until close"),
    }
    if head.is_head() {
        assert_eq!(head.method(), "HEAD");
    }
    let _ = (
        head.keep_alive(),
        head.expects_continue(),
        head.header_str("host"),
    );
}

/// Reads a body to its end as a handler would, `chunk` bytes at a time.
fn read_body<S: Read>(
    stream: &mut BufferedStream<S>,
    kind: BodyKind,
    chunk: usize,
) -> Result<(Vec<u8>, usize), Error> {
    let mut reader = BodyReader::new(kind);
    let mut body = Vec::new();
    let mut buf = vec![0u8; chunk.max(1)];
    loop {
        let n = reader.read(stream, &mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    assert!(reader.is_done(), "a body read returned 0 before its end");
    for field in reader.trailers() {
        check_field(field);
    }
    Ok((body, reader.trailers().len()))
}

/// The outcome of a message whose head (`line`) was accepted: its body
/// read to the end, `chunk` bytes at a time, or the body's rejection.
fn read_message<S: Read>(
    stream: &mut BufferedStream<S>,
    line: String,
    kind: BodyKind,
    chunk: usize,
) -> Outcome {
    match read_body(stream, kind, chunk) {
        Ok((body, trailers)) => Outcome::Message {
            head: line,
            body,
            trailers,
        },
        Err(e) => rejected(e, true),
    }
}

/// What the server makes of `data` arriving on a connection `step` bytes
/// at a time (0: as fast as it asks): one outcome per request, in order,
/// until the connection would be closed.
pub fn serve(data: &[u8], step: usize, limits: &Limits) -> Vec<Outcome> {
    let mut stream = BufferedStream::new(Trickle::new(data, step));
    let mut outcomes = Vec::new();
    loop {
        let head = match read_request_head(&mut stream, limits) {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                outcomes.push(rejected(e, false));
                break;
            }
        };
        check_request_head(&head);
        let line = format!(
            "{} {} HTTP/{}",
            head.method(),
            head.url(),
            head.version().as_str()
        );
        if head.is_upgrade() {
            outcomes.push(Outcome::Upgrade { head: line });
            break;
        }
        let outcome = read_message(&mut stream, line, head.body_kind(), 1 + step % 7);
        let whole = matches!(outcome, Outcome::Message { .. });
        outcomes.push(outcome);
        if !whole || !head.keep_alive() {
            break;
        }
    }
    outcomes
}

/// The promises of an accepted response head.
fn check_status_head(head: &StatusHead, method: &str) {
    assert!(head.status() <= 999);
    assert!(is_valid_header_value(head.reason().to_bytes()));
    for field in head.headers() {
        check_field(field);
    }
    let no_body = method == "HEAD"
        || (100..200).contains(&head.status())
        || head.status() == 204
        || head.status() == 304;
    if no_body {
        assert_eq!(head.body_kind(), BodyKind::Empty);
    }
    if head.body_kind() == BodyKind::UntilClose {
        assert!(
            !head.keep_alive(),
            "a close-delimited body on a kept connection"
        );
    }
}

/// What the client makes of `data` as the answers to requests of `method`,
/// `step` bytes at a time: interim (1xx) responses are skipped as the
/// client does; one outcome per final response, while the connection may
/// be reused.
pub fn respond(data: &[u8], step: usize, method: &str) -> Vec<Outcome> {
    let mut stream = BufferedStream::new(Trickle::new(data, step));
    let limits = Limits::default();
    let mut outcomes = Vec::new();
    loop {
        let head = loop {
            match read_status_head(&mut stream, &limits, method) {
                Ok(head) if head.is_informational() => check_status_head(&head, method),
                other => break other,
            }
        };
        let head = match head {
            Ok(head) => head,
            Err(e) => {
                outcomes.push(rejected(e, false));
                break;
            }
        };
        check_status_head(&head, method);
        let line = format!("{} {}", head.status(), head.version().as_str());
        if head.status() == 101 {
            outcomes.push(Outcome::Upgrade { head: line });
            break;
        }
        let outcome = read_message(&mut stream, line, head.body_kind(), 1 + step % 5);
        let whole = matches!(outcome, Outcome::Message { .. });
        outcomes.push(outcome);
        if !whole
            || !head.keep_alive()
            || (stream.buffered().is_empty() && stream.fill(64).unwrap_or(0) == 0)
        {
            break;
        }
    }
    outcomes
}

/// A step for the second, trickled, reading of a fuzz input: derived from
/// the bytes (FNV-1a), small for small inputs so that every split point of
/// a head is tried without a slow quadratic re-parse of large ones.
pub fn step_for(data: &[u8]) -> usize {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let span = if data.len() < 1024 { 16 } else { 512 };
    1 + (hash % span) as usize
}

/// Fuzz target `request`: the server's reading, whole and trickled, must
/// agree and keep its promises.
pub fn fuzz_request(data: &[u8]) {
    let limits = Limits {
        max_header_size: 4096,
        max_headers: 32,
        max_request_line: 2048,
    };
    let whole = serve(data, 0, &limits);
    let trickled = serve(data, step_for(data), &limits);
    assert_eq!(
        whole, trickled,
        "the outcome depends on how the bytes arrive"
    );
}

/// Fuzz target `response`: the client's reading of a response, for a GET
/// and for a HEAD, whole and trickled.
pub fn fuzz_response(data: &[u8]) {
    for method in ["GET", "HEAD"] {
        let whole = respond(data, 0, method);
        let trickled = respond(data, step_for(data), method);
        assert_eq!(
            whole, trickled,
            "the outcome depends on how the bytes arrive"
        );
    }
}

/// Fuzz target `accessors`: header names and values go through the checks
/// a response's `setHeader` applies; whatever passes is encoded, read back
/// by the client's parser, and must come back as it was set, with no field
/// injected. The request-head accessors are asked for every name.
pub fn fuzz_accessors(data: &[u8]) {
    let mut head = ResponseHead::default();
    let mut expected: Vec<(String, String)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    // Fields are separated by NUL; name and value by the first ':'.
    for (i, field) in data.split(|&b| b == 0).enumerate().take(64) {
        let (name, value) = match field.iter().position(|&b| b == b':') {
            Some(c) => (&field[..c], &field[c + 1..]),
            None => (field, &b""[..]),
        };
        let (Ok(name), Ok(value)) = (std::str::from_utf8(name), std::str::from_utf8(value)) else {
            continue;
        };
        names.push(name.to_string());
        // Framing fields are the other targets' business (and the
        // server's: it refuses to send a Content-Length that is not a number).
        let framing = ["content-length", "transfer-encoding"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
        if framing || !is_token(name) || !is_valid_header_value(value.as_bytes()) {
            continue;
        }
        if i % 3 == 2 {
            head.set(name, value);
            expected.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        } else {
            head.append(name, value);
        }
        expected.push((name.to_string(), value.to_string()));
        assert_eq!(
            head.get(name),
            expected
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_bytes())
        );
    }
    if let Some(name) = names.first()
        && is_token(name)
    {
        let had = expected.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        assert_eq!(head.remove(name), had);
        expected.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
    let mut wire = Vec::new();
    head.encode(&mut wire);
    let limits = Limits {
        max_header_size: usize::MAX / 2,
        max_headers: expected.len() + 1,
        max_request_line: usize::MAX / 2,
    };
    let parsed = read_status_head(&mut BufferedStream::new(&wire[..]), &limits, "GET")
        .expect("an encoded head reads back");
    let got: Vec<(String, String)> = parsed
        .headers()
        .iter()
        .map(|h| {
            (
                h.name_str().to_string(),
                h.value.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(n, v)| (n.clone(), v.trim_matches([' ', '\t']).to_string()))
        .collect();
    assert_eq!(got, want, "headers changed on the wire");

    // The same fields as a request's, through the request accessors.
    let mut request = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for (n, v) in &expected {
        if !n.eq_ignore_ascii_case("host") {
            request.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
    }
    request.extend_from_slice(b"\r\n");
    let limits = Limits {
        max_header_size: usize::MAX / 2,
        max_headers: expected.len() + 2,
        max_request_line: usize::MAX / 2,
    };
    match read_request_head(&mut BufferedStream::new(&request[..]), &limits) {
        Ok(Some(parsed)) => {
            check_request_head(&parsed);
            for name in &names {
                let first = parsed
                    .headers()
                    .iter()
                    .find(|h| h.name_str().eq_ignore_ascii_case(name))
                    .map(|h| h.value);
                assert_eq!(parsed.header(name), first);
            }
        }
        Ok(None) => panic!("no request read"),
        // A Connection or Expect field may make the request fail a check
        // of its own; it must say so with a status.
        Err(e) => assert!(e.http_status().is_some(), "{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_read_whole_and_trickled_alike() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let outcomes = respond(raw, 0, "GET");
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        assert_eq!(
            outcomes[0],
            Outcome::Message {
                head: "200 1.1".into(),
                body: b"abc".to_vec(),
                trailers: 0
            }
        );
        fuzz_response(raw);
    }
}
