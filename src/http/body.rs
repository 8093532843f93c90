//! Body framing on the read side: a fixed length, chunked (with trailers), or
//! everything until the peer closes.

use std::io::Read;

use super::buffered::BufferedStream;
use super::fields::HeaderFields;
use crate::error::{Error, Result};

/// The longest chunk-size line or trailer line we accept.
const MAX_LINE: usize = 8 * 1024;
/// The most trailer bytes we accept after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

/// How a message's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    Length(u64),
    Chunked,
    /// Until the peer closes (responses only).
    UntilClose,
}

#[derive(Clone, Debug)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

/// Reads one message body from a buffered stream, never past its end.
#[derive(Clone, Debug)]
pub struct BodyReader {
    state: State,
    trailers: HeaderFields,
    trailer_bytes: usize,
}

impl BodyReader {
    pub fn new(kind: BodyKind) -> BodyReader {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::ChunkSize,
            BodyKind::UntilClose => State::UntilClose,
        };
        BodyReader {
            state,
            trailers: HeaderFields::default(),
            trailer_bytes: 0,
        }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// How many body bytes are left to read, when the framing says so: the
    /// rest of a Content-Length body (0 once done); `None` for a chunked or
    /// close-delimited body not yet at its end.
    pub fn remaining_length(&self) -> Option<u64> {
        match self.state {
            State::Done => Some(0),
            State::Length(n) => Some(n),
            _ => None,
        }
    }

    /// The trailer fields of a chunked body, once it has been read to the end.
    pub fn trailers(&self) -> &HeaderFields {
        &self.trailers
    }

    /// Reads body bytes into `out`. Returns 0 at the end of the body (or when
    /// `out` is empty).
    pub fn read<S: Read>(&mut self, src: &mut BufferedStream<S>, out: &mut [u8]) -> Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                State::Done => return Ok(0),
                State::Length(remaining) => {
                    let want = out
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let n = src.read_some(&mut out[..want])?;
                    if n == 0 {
                        return Err(Error::ConnectionClosed);
                    }
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Length(left)
                    };
                    return Ok(n);
                }
                State::UntilClose => {
                    let n = src.read_some(out)?;
                    if n == 0 {
                        self.state = State::Done;
                    }
                    return Ok(n);
                }
                State::ChunkSize => {
                    let line = read_line(src)?;
                    let size = parse_chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkData(remaining) => {
                    let want = out
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let n = src.read_some(&mut out[..want])?;
                    if n == 0 {
                        return Err(Error::ConnectionClosed);
                    }
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left)
                    };
                    return Ok(n);
                }
                State::ChunkEnd => {
                    if !read_line(src)?.is_empty() {
                        return Err(Error::http(400, "missing CRLF after chunk data"));
                    }
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let line = read_line(src)?;
                    if line.is_empty() {
                        self.state = State::Done;
                        return Ok(0);
                    }
                    self.trailer_bytes += line.len();
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(Error::http(431, "trailers too large"));
                    }
                    push_trailer(&mut self.trailers, &line)?;
                }
            }
        }
    }

    /// Whether the rest of the body is all in `buffered` (bytes read ahead
    /// of it), within `limit` bytes, found without consuming anything:
    /// `Ok(false)` when more must come first or it is longer, the framing
    /// error when what is there is malformed.
    pub fn ends_within(&self, buffered: &[u8], limit: u64) -> Result<bool> {
        let mut probe = self.clone();
        match probe.drain(&mut BufferedStream::new(buffered), limit) {
            Ok(ends) => Ok(ends),
            Err(Error::ConnectionClosed | Error::Io(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads and discards the rest of the body, up to `limit` bytes. Returns
    /// whether the body ended within the limit.
    pub fn drain<S: Read>(&mut self, src: &mut BufferedStream<S>, limit: u64) -> Result<bool> {
        let mut scratch = [0u8; 4096];
        let mut total = 0u64;
        while !self.is_done() {
            if total > limit {
                return Ok(false);
            }
            let n = self.read(src, &mut scratch)?;
            if n == 0 && !self.is_done() {
                return Err(Error::ConnectionClosed);
            }
            total += n as u64;
        }
        Ok(true)
    }
}

/// Reads one CRLF-terminated line and returns it without the CRLF.
fn read_line<S: Read>(src: &mut BufferedStream<S>) -> Result<Vec<u8>> {
    loop {
        let buffered = src.buffered();
        if let Some(lf) = buffered.iter().position(|&b| b == b'\n') {
            // The same limit whether the line came in one read or in many.
            if lf > MAX_LINE {
                return Err(Error::http(400, "chunked framing line too long"));
            }
            if lf == 0 || buffered[lf - 1] != b'\r' {
                return Err(Error::http(400, "bare LF in chunked framing"));
            }
            let line = buffered[..lf - 1].to_vec();
            src.consume(lf + 1);
            if line.contains(&b'\r') {
                return Err(Error::http(400, "bare CR in chunked framing"));
            }
            return Ok(line);
        }
        if buffered.len() > MAX_LINE {
            return Err(Error::http(400, "chunked framing line too long"));
        }
        if src.fill(MAX_LINE + 2)? == 0 {
            return Err(Error::ConnectionClosed);
        }
    }
}

/// `chunk-size [ chunk-ext ]`, RFC 9112 section 7.1.1:
/// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`
/// with a token for the name and a token or quoted-string for the value.
/// White space is allowed only before a `;` or around `=`, never at the end.
fn parse_chunk_size(line: &[u8]) -> Result<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(Error::http(400, "chunk size is not hexadecimal"));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(d))
            .ok_or_else(|| Error::http(400, "chunk size overflows"))?;
    }
    if !chunk_extensions_are_valid(&line[digits..]) {
        return Err(Error::http(400, "malformed chunk size or extension"));
    }
    Ok(size)
}

fn skip_bws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

fn token_len(s: &[u8]) -> usize {
    s.iter()
        .take_while(|&&b| super::fields::is_token_byte(b))
        .count()
}

/// The length of the quoted-string at the start of `s` (0 if there is none):
/// `DQUOTE *( qdtext / quoted-pair ) DQUOTE`, RFC 9110 section 5.6.4.
fn quoted_string_len(s: &[u8]) -> usize {
    if s.first() != Some(&b'"') {
        return 0;
    }
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return i + 1,
            b'\\' => match s.get(i + 1) {
                Some(&b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => i += 2,
                _ => return 0,
            },
            b if b == b'\t' || (b >= 0x20 && b != 0x7f) => i += 1,
            _ => return 0,
        }
    }
    0
}

/// Whether `s`, what follows the chunk size, is a valid (maybe empty)
/// list of chunk extensions.
fn chunk_extensions_are_valid(mut s: &[u8]) -> bool {
    while !s.is_empty() {
        let rest = skip_bws(s);
        if rest.first() != Some(&b';') {
            return false;
        }
        s = skip_bws(&rest[1..]);
        let name = token_len(s);
        if name == 0 {
            return false;
        }
        s = &s[name..];
        let rest = skip_bws(s);
        if rest.first() == Some(&b'=') {
            s = skip_bws(&rest[1..]);
            let value = match token_len(s) {
                0 => quoted_string_len(s),
                n => n,
            };
            if value == 0 {
                return false;
            }
            s = &s[value..];
        }
    }
    true
}

fn push_trailer(trailers: &mut HeaderFields, line: &[u8]) -> Result<()> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| Error::http(400, "trailer without a colon"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| super::fields::is_token_byte(b)) {
        return Err(Error::http(400, "invalid trailer name"));
    }
    let value = line[colon + 1..].trim_ascii();
    if !super::response_head::is_valid_header_value(value) {
        return Err(Error::http(400, "invalid trailer value"));
    }
    trailers.push(name, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(kind: BodyKind, raw: &[u8]) -> Result<(Vec<u8>, BodyReader, Vec<u8>)> {
        let mut src = BufferedStream::new(raw);
        let mut body = BodyReader::new(kind);
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = body.read(&mut src, &mut buf)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let (unread, mut rest) = src.into_parts();
        rest.extend_from_slice(unread);
        Ok((out, body, rest))
    }

    #[test]
    fn a_fixed_length_body_stops_at_its_length() {
        let (body, _, rest) = read_all(BodyKind::Length(5), b"helloGET").unwrap();
        assert_eq!((&body[..], &rest[..]), (&b"hello"[..], &b"GET"[..]));
    }

    #[test]
    fn the_remaining_length_is_known_for_fixed_length_bodies_only() {
        let mut src = BufferedStream::new(&b"hello"[..]);
        let mut fixed = BodyReader::new(BodyKind::Length(5));
        assert_eq!(fixed.remaining_length(), Some(5));
        fixed.read(&mut src, &mut [0u8; 2]).unwrap();
        assert_eq!(fixed.remaining_length(), Some(3));
        assert_eq!(BodyReader::new(BodyKind::Empty).remaining_length(), Some(0));
        assert_eq!(BodyReader::new(BodyKind::Chunked).remaining_length(), None);
        assert_eq!(
            BodyReader::new(BodyKind::UntilClose).remaining_length(),
            None
        );
    }

    #[test]
    fn a_chunked_body_ends_within_the_buffer_only_when_its_last_chunk_is_there() {
        let body = BodyReader::new(BodyKind::Chunked);
        let whole = b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n";
        assert!(body.ends_within(whole, 1024).unwrap());
        assert!(!body.ends_within(&whole[..12], 1024).unwrap());
        assert!(!body.ends_within(b"", 1024).unwrap());
        assert!(!body.ends_within(whole, 1).unwrap());
        assert!(matches!(
            body.ends_within(b"zz\r\nhello\r\n0\r\n\r\n", 1024),
            Err(Error::Http { status: 400, .. })
        ));
        // Nothing was consumed: the body still reads whole.
        let (read, _, _) = read_all(BodyKind::Chunked, whole).unwrap();
        assert_eq!(read, b"abc");
    }

    #[test]
    fn a_short_fixed_length_body_is_an_error() {
        assert!(matches!(
            read_all(BodyKind::Length(5), b"hel"),
            Err(Error::ConnectionClosed)
        ));
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let raw = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\nNEXT";
        let (body, reader, rest) = read_all(BodyKind::Chunked, raw).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(
            reader.trailers().first("x-sum").unwrap().to_str().unwrap(),
            "42"
        );
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn chunk_size_overflow_is_rejected() {
        let err = read_all(BodyKind::Chunked, b"10000000000000000\r\n").unwrap_err();
        assert_eq!(err.http_status(), Some(400));
    }

    #[test]
    fn chunk_size_junk_is_rejected() {
        for raw in [
            &b"5x\r\nhello\r\n0\r\n\r\n"[..],
            b"\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
        ] {
            assert_eq!(
                read_all(BodyKind::Chunked, raw).unwrap_err().http_status(),
                Some(400)
            );
        }
    }

    #[test]
    fn chunk_extensions_follow_the_grammar() {
        // Regression: an unquoted value with a space, white space after
        // the size or at the end, and quoted strings holding ';' were
        // judged by splitting on ';'.
        for bad in [
            &b"5 \r\nhello\r\n0\r\n\r\n"[..],
            b"5\t\r\nhello\r\n0\r\n\r\n",
            b"5;a=b c\r\nhello\r\n0\r\n\r\n",
            b"5;a=b \r\nhello\r\n0\r\n\r\n",
            b"5;a \r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;=b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b\\\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",
            b"5;a;;b\r\nhello\r\n0\r\n\r\n",
        ] {
            let err = read_all(BodyKind::Chunked, bad).unwrap_err();
            assert_eq!(
                err.http_status(),
                Some(400),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for good in [
            &b"5;a\r\nhello\r\n0\r\n\r\n"[..],
            b"5 ; a = b ;c\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b;c \\\"q\\\"\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"caf\xe9\"\r\nhello\r\n0;last\r\n\r\n",
        ] {
            let (body, _, _) = read_all(BodyKind::Chunked, good)
                .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(good)));
            assert_eq!(body, b"hello");
        }
    }

    #[test]
    fn a_long_chunk_line_is_refused_however_it_arrives() {
        // Regression: a line over MAX_LINE was refused only when its end
        // had not been read yet.
        let mut raw = b"5;a=".to_vec();
        raw.extend(std::iter::repeat_n(b'b', MAX_LINE));
        raw.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        let mut src = BufferedStream::new(&raw[..]);
        src.fill(usize::MAX).unwrap();
        let err = BodyReader::new(BodyKind::Chunked)
            .read(&mut src, &mut [0u8; 16])
            .unwrap_err();
        assert_eq!(err.http_status(), Some(400));
        let err = read_all(BodyKind::Chunked, &raw).unwrap_err();
        assert_eq!(err.http_status(), Some(400));
    }

    #[test]
    fn missing_crlf_after_chunk_data_is_rejected() {
        let err = read_all(BodyKind::Chunked, b"5\r\nhelloXX\r\n0\r\n\r\n").unwrap_err();
        assert_eq!(err.http_status(), Some(400));
    }

    #[test]
    fn until_close_reads_everything() {
        let (body, reader, _) = read_all(BodyKind::UntilClose, b"all of it").unwrap();
        assert_eq!(body, b"all of it");
        assert!(reader.is_done());
    }

    #[test]
    fn drain_discards_the_rest_and_keeps_the_next_request() {
        let mut src = BufferedStream::new(&b"3\r\nabc\r\n0\r\n\r\nGET"[..]);
        let mut body = BodyReader::new(BodyKind::Chunked);
        assert!(body.drain(&mut src, 1024).unwrap());
        assert_eq!(src.buffered(), b"GET");
    }
}
