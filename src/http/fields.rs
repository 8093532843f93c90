//! Header fields as received, kept in one buffer; and the grammar of
//! field names and of Content-Length (RFC 9110), used by every reader and
//! writer of heads.

use std::ffi::CStr;

use crate::error::{Error, Result};

/// `tchar` of RFC 9110.
pub fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[usize::from(b)]
}

/// `tchar`, looked up rather than searched (every header set is checked).
static TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        b += 1;
    }
    table
};

/// Whether `s` is a non-empty token (a valid header name or method).
pub fn is_token(s: impl AsRef<[u8]>) -> bool {
    let s = s.as_ref();
    !s.is_empty() && s.iter().all(|&b| is_token_byte(b))
}

/// A Content-Length value: `1*DIGIT` (RFC 9110 section 8.6) — not "+5",
/// " 5", "5 5" or "0x5", which a general number parser would take or
/// read differently — that fits in 64 bits. `None` otherwise.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The header fields of a head (or a chunked body's trailers), as received,
/// in order. Every name and value is stored NUL-terminated in one buffer, so
/// that C can borrow them without a copy and a head costs a few allocations
/// however many fields it has. A name or value never contains NUL (`push`
/// refuses it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderFields {
    text: Vec<u8>,
    /// Where each field's name and value start in `text`.
    starts: Vec<(usize, usize)>,
}

/// One header field, borrowed from its `HeaderFields`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    pub name: &'a CStr,
    pub value: &'a CStr,
}

impl<'a> HeaderField<'a> {
    pub fn name_str(&self) -> &'a str {
        // Names are tokens (checked by the parsers), hence ASCII.
        self.name.to_str().unwrap_or("")
    }
}

impl HeaderFields {
    /// Room for `fields` fields of `bytes` bytes of names and values in all.
    pub fn with_capacity(fields: usize, bytes: usize) -> HeaderFields {
        HeaderFields {
            text: Vec::with_capacity(bytes + 2 * fields),
            starts: Vec::with_capacity(fields),
        }
    }

    /// Adds a field; a NUL byte in it is an error (400).
    pub fn push(&mut self, name: &[u8], value: &[u8]) -> Result<()> {
        if name.contains(&0) || value.contains(&0) {
            return Err(Error::http(400, "NUL byte in a header field"));
        }
        let name_start = self.text.len();
        self.text.extend_from_slice(name);
        self.text.push(0);
        let value_start = self.text.len();
        self.text.extend_from_slice(value);
        self.text.push(0);
        self.starts.push((name_start, value_start));
        Ok(())
    }

    /// Every name and value, each followed by a NUL, in order: the buffer
    /// they are kept in.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The field at `index`, in the order received.
    pub fn get(&self, index: usize) -> Option<HeaderField<'_>> {
        self.iter().nth(index)
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            fields: self,
            starts: self.starts.iter(),
        }
    }

    /// The first value of the field `name` (any case).
    pub fn first(&self, name: &str) -> Option<&CStr> {
        self.iter()
            .find(|f| f.name_str().eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }

    fn c_str_at(&self, start: usize) -> &CStr {
        CStr::from_bytes_until_nul(&self.text[start..]).unwrap_or_default()
    }
}

/// The fields of a `HeaderFields`, in order.
pub struct Iter<'a> {
    fields: &'a HeaderFields,
    starts: std::slice::Iter<'a, (usize, usize)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = HeaderField<'a>;

    fn next(&mut self) -> Option<HeaderField<'a>> {
        let &(name, value) = self.starts.next()?;
        Some(HeaderField {
            name: self.fields.c_str_at(name),
            value: self.fields.c_str_at(value),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.starts.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a HeaderFields {
    type Item = HeaderField<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_plain_digits_that_fit_in_64_bits() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(
            parse_content_length(b"18446744073709551615"),
            Some(u64::MAX)
        );
        for bad in [
            "",
            "+5",
            "-1",
            " 5",
            "5 ",
            "5 5",
            "0x5",
            "18446744073709551616",
        ] {
            assert_eq!(parse_content_length(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn fields_keep_their_order_duplicates_and_case() {
        let mut fields = HeaderFields::default();
        fields.push(b"Host", b"example.test").unwrap();
        fields.push(b"X-A", b"1").unwrap();
        fields.push(b"x-a", b"").unwrap();
        assert_eq!(fields.len(), 3);
        let all: Vec<(&str, &str)> = fields
            .iter()
            .map(|f| (f.name_str(), f.value.to_str().unwrap()))
            .collect();
        assert_eq!(all, [("Host", "example.test"), ("X-A", "1"), ("x-a", "")]);
        assert_eq!(fields.first("x-A"), Some(c"1"));
        assert_eq!(fields.first("missing"), None);
        assert_eq!(fields.get(3), None);
    }

    #[test]
    fn a_nul_byte_in_a_field_is_refused() {
        let mut fields = HeaderFields::default();
        assert!(fields.push(b"X-A", b"a\0b").is_err());
        assert!(fields.push(b"X\0A", b"ab").is_err());
        assert!(fields.is_empty());
    }
}
