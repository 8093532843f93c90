//! Reading a response head on the client side: the status line, the
//! headers, and how the body is delimited given the request it answers.

use std::ffi::{CStr, CString};
use std::io::Read;

use super::body::BodyKind;
use super::buffered::BufferedStream;
use super::fields::HeaderFields;
use super::head::{Limits, Version};
use crate::error::{Error, Result};

/// A parsed response head.
#[derive(Debug)]
pub struct StatusHead {
    status: u16,
    reason: CString,
    version: Version,
    headers: HeaderFields,
    body: BodyKind,
    keep_alive: bool,
}

impl StatusHead {
    pub fn status(&self) -> u16 {
        self.status
    }
    pub fn reason(&self) -> &CStr {
        &self.reason
    }
    pub fn version(&self) -> Version {
        self.version
    }
    pub fn headers(&self) -> &HeaderFields {
        &self.headers
    }
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&CStr> {
        self.headers.first(name)
    }
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }
    /// Whether the server lets the connection carry another request.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }
    /// 1xx other than 101: an interim response, to skip or report.
    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Reads one response head. `request_method` decides whether a body may
/// follow (never for HEAD, nor for 1xx, 204 and 304). A stream that ends
/// before the first byte is `ConnectionClosed`.
pub fn read_status_head<S: Read>(
    stream: &mut BufferedStream<S>,
    limits: &Limits,
    request_method: &str,
) -> Result<StatusHead> {
    loop {
        let buffered = stream.buffered();
        if !buffered.is_empty() {
            let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
            let mut response = httparse::Response::new(&mut slots);
            match response.parse(buffered) {
                Ok(httparse::Status::Complete(len)) => {
                    if len > limits.max_header_size {
                        return Err(too_large(limits));
                    }
                    let head = check_response(&response, request_method)?;
                    stream.consume(len);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) if buffered.len() > limits.max_header_size => {
                    return Err(too_large(limits));
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(malformed(&format!("malformed response head: {e}"))),
            }
        }
        if stream.fill(limits.max_header_size + 1)? == 0 {
            return Err(Error::ConnectionClosed);
        }
    }
}

/// A response we cannot read; the status 502 is what a proxy would answer.
fn too_large(limits: &Limits) -> Error {
    malformed(&format!(
        "response head too large (over {} bytes, maxHeaderSize)",
        limits.max_header_size
    ))
}

fn malformed(message: &str) -> Error {
    Error::http(502, message)
}

fn check_response(
    response: &httparse::Response<'_, '_>,
    request_method: &str,
) -> Result<StatusHead> {
    let version = match response.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let status = response.code.unwrap_or(0);
    let bytes = response
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len())
        .sum();
    let mut headers = HeaderFields::with_capacity(response.headers.len(), bytes);
    for h in response.headers.iter() {
        headers
            .push(h.name.as_bytes(), h.value)
            .map_err(|_| malformed("NUL in a header"))?;
    }
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive_token = false;
    for h in &headers {
        let name = h.name_str();
        let value = h.value.to_bytes();
        if name.eq_ignore_ascii_case("content-length") {
            let n = super::fields::parse_content_length(value)
                .ok_or_else(|| malformed("Content-Length is not a plain decimal number"))?;
            if content_length.is_some_and(|m| m != n) {
                return Err(malformed("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value
                .rsplit(|&b| b == b',')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            chunked = last.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                close |= token.trim_ascii().eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.trim_ascii().eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let no_body = request_method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304;
    let body = if no_body {
        BodyKind::Empty
    } else if chunked {
        // RFC 9112 section 6.3: chunked wins over Content-Length.
        BodyKind::Chunked
    } else if let Some(n) = content_length {
        if n == 0 {
            BodyKind::Empty
        } else {
            BodyKind::Length(n)
        }
    } else {
        BodyKind::UntilClose
    };
    let keep_alive = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive_token && !close,
    } && body != BodyKind::UntilClose;
    Ok(StatusHead {
        status,
        reason: CString::new(response.reason.unwrap_or_default()).unwrap_or_default(),
        version,
        headers,
        body,
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, method: &str) -> Result<StatusHead> {
        read_status_head(
            &mut BufferedStream::new(raw.as_bytes()),
            &Limits::default(),
            method,
        )
    }

    #[test]
    fn a_length_delimited_response() {
        let head = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET").unwrap();
        assert_eq!(
            (head.status(), head.reason().to_str().unwrap()),
            (200, "OK")
        );
        assert_eq!(head.body_kind(), BodyKind::Length(5));
        assert!(head.keep_alive());
    }

    #[test]
    fn head_204_and_304_have_no_body_whatever_they_say() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parse(raw, "HEAD").unwrap().body_kind(), BodyKind::Empty);
        assert_eq!(
            parse("HTTP/1.1 204 No Content\r\n\r\n", "GET")
                .unwrap()
                .body_kind(),
            BodyKind::Empty
        );
        assert_eq!(
            parse(
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                "GET"
            )
            .unwrap()
            .body_kind(),
            BodyKind::Empty
        );
    }

    #[test]
    fn without_length_the_body_runs_until_close_and_the_connection_is_not_reused() {
        let head = parse("HTTP/1.1 200 OK\r\n\r\n", "GET").unwrap();
        assert_eq!(head.body_kind(), BodyKind::UntilClose);
        assert!(!head.keep_alive());
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let head = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET",
        )
        .unwrap();
        assert_eq!(head.body_kind(), BodyKind::Chunked);
    }

    #[test]
    fn http10_closes_unless_keep_alive_is_said() {
        assert!(
            !parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET")
                .unwrap()
                .keep_alive()
        );
        assert!(
            parse(
                "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
                "GET"
            )
            .unwrap()
            .keep_alive()
        );
    }

    #[test]
    fn interim_responses_are_recognised() {
        assert!(
            parse("HTTP/1.1 100 Continue\r\n\r\n", "POST")
                .unwrap()
                .is_informational()
        );
        assert!(
            !parse("HTTP/1.1 101 Switching Protocols\r\n\r\n", "GET")
                .unwrap()
                .is_informational()
        );
    }

    #[test]
    fn a_closed_stream_and_garbage_are_errors() {
        assert!(matches!(parse("", "GET"), Err(Error::ConnectionClosed)));
        assert!(parse("SMTP ready\r\n\r\n", "GET").is_err());
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", "GET").is_err());
    }
}
