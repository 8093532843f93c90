//! The status line and header fields of a response, and their encoding.

/// `tchar` of RFC 9110.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a non-empty token (a valid header name or method).
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

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
/// in the order they were set.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Option<String>,
    headers: Vec<(String, String)>,
}

impl Default for ResponseHead {
    fn default() -> ResponseHead {
        ResponseHead {
            status: 200,
            reason: None,
            headers: Vec::new(),
        }
    }
}

impl ResponseHead {
    /// Replaces every value of `name` with `value` (Node's `setHeader`).
    pub fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// Adds a value for `name`, keeping those already set (Node's `appendHeader`).
    pub fn append(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Removes every value of `name`; returns whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.headers.len();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before != self.headers.len()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether a `Connection` header of ours says `close`.
    pub fn says_close(&self) -> bool {
        self.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("connection")
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
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
        let fields: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        16 + self.reason().len() + fields + 128
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
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
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
        assert_eq!(head.get("X-A"), Some("3"));
        assert!(head.remove("x-a"));
        assert!(!head.has("X-A"));
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
