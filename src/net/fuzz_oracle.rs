//! The entry point of the `proxy_header` fuzz target (`fuzz/`): the PROXY
//! protocol parser (`proxy_protocol`) over any bytes. Not part of the API,
//! nor of the shipped library: built only for tests and with the `fuzzing`
//! feature (which the fuzz crate turns on).
//!
//! It checks what the parser promises, and panics when a promise is broken
//! so that a fuzzer reports it as a crash: every prefix of the bytes gets an
//! answer consistent with the whole (a `NeedMore` never lets the reader go
//! past the header's end; a header, once found, and an error are final),
//! and `read_header` agrees with `parse`.

use super::proxy_protocol::{Progress, ProxyHeader, parse, read_header};
use crate::error::Error;

/// Feeds `data` to the PROXY header parser, prefix by prefix and through
/// `read_header`, and checks that the answers agree.
pub fn fuzz_proxy_header(data: &[u8]) {
    let whole = parse(data);
    let header_end = match whole {
        Ok(Progress::Done(_, end)) => Some(end),
        _ => None,
    };
    let mut done: Option<(ProxyHeader, usize)> = None;
    let mut refused = false;
    for end in 0..=data.len() {
        let prefix = &data[..end];
        match parse(prefix) {
            Ok(Progress::NeedMore(more)) => {
                assert!(more >= 1, "{}: asks for no byte", prefix.escape_ascii());
                assert!(
                    !refused,
                    "{}: needs more after an error",
                    prefix.escape_ascii()
                );
                assert!(
                    done.is_none(),
                    "{}: needs more after a header",
                    prefix.escape_ascii()
                );
                if let Some(header_end) = header_end {
                    assert!(
                        end + more <= header_end,
                        "{}: asks for {more} more bytes, past the header's end at {header_end}",
                        prefix.escape_ascii()
                    );
                }
            }
            Ok(Progress::Done(header, length)) => {
                assert!(
                    !refused,
                    "{}: a header after an error",
                    prefix.escape_ascii()
                );
                match done {
                    // Found as soon as its last byte is there, not later.
                    None => assert_eq!(length, end, "{}", prefix.escape_ascii()),
                    Some(first) => assert_eq!(first, (header, length), "{}", prefix.escape_ascii()),
                }
                done = Some((header, length));
                check_header(&data[..length], header);
            }
            Err(e) => {
                assert!(
                    done.is_none(),
                    "{}: an error after a header",
                    prefix.escape_ascii()
                );
                check_refusal(&e);
                refused = true;
            }
        }
    }

    let mut reader = data;
    match (whole, read_header(&mut reader)) {
        (Ok(Progress::Done(header, length)), Ok(read)) => {
            assert_eq!(read, header);
            assert_eq!(reader.len(), data.len() - length, "read past the header");
        }
        (Ok(Progress::NeedMore(_)), Err(Error::ConnectionClosed)) => {}
        // An error, or the data ends before the bytes the reader was told
        // to read, past which the error shows.
        (Err(_), Err(Error::ConnectionClosed)) => {}
        (Err(_), Err(e)) => check_refusal(&e),
        (whole, read) => panic!("parse gives {whole:?} but read_header {read:?}"),
    }
}

/// A refusal is a parse error that names the PROXY protocol.
fn check_refusal(e: &Error) {
    assert_eq!(e.http_status(), Some(400), "{e}");
    assert!(e.to_string().contains("PROXY protocol: "), "{e}");
}

/// The promises of a header found in `bytes`: both addresses of one
/// family, and a `TCP4` line written exactly as its addresses and ports
/// print (the parse is strict: no leading zeros, signs or extra spaces).
fn check_header(bytes: &[u8], header: ProxyHeader) {
    let ProxyHeader::Proxied {
        source,
        destination,
    } = header
    else {
        return;
    };
    assert_eq!(source.is_ipv4(), destination.is_ipv4(), "{header:?}");
    if bytes.starts_with(b"PROXY TCP4 ") {
        let line = format!(
            "PROXY TCP4 {} {} {} {}\r\n",
            source.ip(),
            destination.ip(),
            source.port(),
            destination.port()
        );
        assert_eq!(line.as_bytes(), bytes, "a TCP4 line read loosely");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::proxy_protocol::tests::valid_headers;

    #[test]
    fn the_fuzz_entry_point_accepts_every_kind_of_header_and_its_damage() {
        for (header, _) in valid_headers() {
            fuzz_proxy_header(&header);
            fuzz_proxy_header(&[&header[..], b"\x16\x03\x01"].concat());
            for at in 0..header.len() {
                let mut damaged = header.clone();
                damaged[at] ^= 0x01;
                fuzz_proxy_header(&damaged);
                fuzz_proxy_header(&header[..at]);
            }
        }
    }

    #[test]
    fn the_fuzz_seeds_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/proxy_header");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            fuzz_proxy_header(&std::fs::read(entry.path()).unwrap());
            seen += 1;
        }
        assert!(seen >= 5, "{seen} seeds");
    }
}
