//! The status line and header fields of a response, and their encoding.

use super::fields::is_token;
#[cfg(test)]
use super::fields::is_token_byte;

/// Whether `v` may be sent as a header value: no CR, LF, NUL or other
/// control bytes except horizontal tab.
pub fn is_valid_header_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The standard reason phrase for a status code ("" when unknown).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends `n` in lower-case hexadecimal (a chunk's size line).
pub fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[(n % 16) as usize];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// What a response head says before it is sent: status, reason and headers
/// in the order they were set. The headers are kept as they will be sent
/// (`Name: value\r\n` lines, in one buffer, with an index beside it), so a
/// head costs two allocations however many fields it has, and encoding it
/// is a copy. Names must be tokens and values must pass
/// `is_valid_header_value` (the caller checks). A value is bytes: besides
/// ASCII, obs-text (0x80–0xFF, RFC 9110 section 5.5) goes out as given —
/// Latin-1 from a WSGI application, UTF-8 from many others.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Option<String>,
    lines: Vec<u8>,
    fields: Vec<FieldAt>,
}

/// Where a header line lies in `ResponseHead::lines`.
#[derive(Clone, Copy, Debug)]
struct FieldAt {
    start: usize,
    name_len: usize,
    value_len: usize,
}

impl FieldAt {
    /// The whole line, `name: value\r\n`.
    fn line(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.name_len + self.value_len + 4
    }
}

impl Default for ResponseHead {
    fn default() -> ResponseHead {
        ResponseHead {
            status: 200,
            reason: None,
            lines: Vec::new(),
            fields: Vec::new(),
        }
    }
}

impl ResponseHead {
    /// Replaces every value of `name` with `value` (Node's `setHeader`).
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.remove(name);
        self.append(name, value);
    }

    /// Adds a value for `name`, keeping those already set (Node's `appendHeader`).
    pub fn append(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let value = value.as_ref();
        debug_assert!(is_token(name) && is_valid_header_value(value));
        if self.fields.is_empty() {
            // Room for a usual head at once, rather than growing by doubling.
            self.lines.reserve(256);
            self.fields.reserve(8);
        }
        self.fields.push(FieldAt {
            start: self.lines.len(),
            name_len: name.len(),
            value_len: value.len(),
        });
        self.lines.extend_from_slice(name.as_bytes());
        self.lines.extend_from_slice(b": ");
        self.lines.extend_from_slice(value);
        self.lines.extend_from_slice(b"\r\n");
    }

    fn name(&self, field: &FieldAt) -> &[u8] {
        &self.lines[field.start..field.start + field.name_len]
    }

    fn value(&self, field: &FieldAt) -> &[u8] {
        let start = field.start + field.name_len + 2;
        &self.lines[start..start + field.value_len]
    }

    fn is_named(&self, field: &FieldAt, name: &str) -> bool {
        field.name_len == name.len() && self.name(field).eq_ignore_ascii_case(name.as_bytes())
    }

    /// The values set for `name` (any case), in order.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.fields
            .iter()
            .filter(move |f| self.is_named(f, name))
            .map(|f| self.value(f))
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let field = self.fields.iter().find(|f| self.is_named(f, name))?;
        Some(self.value(field))
    }

    /// Removes every value of `name`; returns whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.fields.len();
        let mut i = 0;
        while i < self.fields.len() {
            let field = self.fields[i];
            if self.is_named(&field, name) {
                let line = field.line();
                self.lines.drain(line.clone());
                self.fields.remove(i);
                for later in &mut self.fields[i..] {
                    later.start -= line.len();
                }
            } else {
                i += 1;
            }
        }
        before != self.fields.len()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether a `Connection` header of ours says `close`.
    pub fn says_close(&self) -> bool {
        self.values("connection").any(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        })
    }

    /// Appends the encoded head (status line, headers, blank line) to `out`.
    /// The status line always says HTTP/1.1, our version, as Node's does
    /// (RFC 9110 section 6.2); framing for an HTTP/1.0 client is the caller's care.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_fields(out);
        out.extend_from_slice(b"\r\n");
    }

    fn reason(&self) -> &str {
        self.reason
            .as_deref()
            .unwrap_or_else(|| reason_phrase(self.status))
    }

    /// Room enough for the encoded head, with the fields the server adds
    /// (`Date`, `Connection`, the framing).
    pub fn encoded_len(&self) -> usize {
        16 + self.reason().len() + self.lines.len() + 128
    }

    /// Appends the status line and the headers set, without the blank line
    /// that ends a head: the caller adds its own fields first.
    pub fn encode_fields(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        let reason = self.reason();
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_append_keeps_duplicates() {
        let mut head = ResponseHead::default();
        head.set("X-A", "1");
        head.append("x-a", "2");
        head.set("Content-Type", "text/plain");
        let mut out = Vec::new();
        head.encode(&mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Type: text/plain\r\n\r\n"
        );
        head.set("x-A", "3");
        assert_eq!(head.get("X-A"), Some(&b"3"[..]));
        assert!(head.remove("x-a"));
        assert!(!head.has("X-A"));
    }

    #[test]
    fn values_keep_colons_spaces_and_emptiness() {
        let mut head = ResponseHead::default();
        head.set("X-Empty", "");
        head.set("X-Colons", ": a: b ");
        head.append("Connection", "keep-alive, Close");
        assert_eq!(head.get("x-empty"), Some(&b""[..]));
        assert_eq!(head.get("x-colons"), Some(&b": a: b "[..]));
        assert!(head.says_close());
        assert!(head.remove("x-empty"));
        assert!(!head.remove("x-empty"));
        let mut out = Vec::new();
        head.encode(&mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-Colons: : a: b \r\nConnection: keep-alive, Close\r\n\r\n"
        );
    }

    #[test]
    fn values_are_sent_as_the_bytes_given() {
        let mut head = ResponseHead::default();
        head.set("X-Latin-1", b"caf\xe9");
        head.append("X-Utf-8", "caf\u{e9}");
        assert_eq!(head.get("x-latin-1"), Some(&b"caf\xe9"[..]));
        let mut out = Vec::new();
        head.encode(&mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-Latin-1: caf\xe9\r\nX-Utf-8: caf\xc3\xa9\r\n\r\n"
        );
    }

    #[test]
    fn token_bytes_are_those_of_rfc_9110() {
        let tchar: Vec<u8> = (0..=255u8).filter(|&b| is_token_byte(b)).collect();
        let mut expected: Vec<u8> = b"!#$%&'*+-.^_`|~0123456789".to_vec();
        expected.extend(b'A'..=b'Z');
        expected.extend(b'a'..=b'z');
        expected.sort();
        assert_eq!(tchar, expected);
    }

    #[test]
    fn header_values_with_line_breaks_are_invalid() {
        assert!(!is_valid_header_value(b"a\r\nInjected: 1"));
        assert!(is_valid_header_value(b"a\tb c"));
        assert!(!is_token("Bad Name"));
        assert!(is_token("X-Good_Name"));
    }

    #[test]
    fn numbers_are_written_in_decimal_and_hexadecimal() {
        for n in [0u64, 9, 10, 255, 4096, 1 << 20, u64::MAX] {
            let (mut decimal, mut hex) = (Vec::new(), Vec::new());
            push_decimal(&mut decimal, n);
            push_hex(&mut hex, n);
            assert_eq!(decimal, n.to_string().into_bytes());
            assert_eq!(hex, format!("{n:x}").into_bytes());
        }
    }
}
