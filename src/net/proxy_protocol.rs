//! The PROXY protocol, versions 1 and 2 (HAProxy's `doc/proxy-protocol.txt`):
//! the header a proxy in front of the server puts at the start of each
//! connection to say whom it relays. The server reads it before the TLS
//! handshake, so reading stops exactly at the header's end: the bytes after
//! it are the client's ClientHello.
//!
//! `parse` is pure: it says what the bytes read so far are, or how many more
//! it needs at least; `read_header` drives it over a reader. Version 1 is a
//! line of text (`PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\n`), version
//! 2 a binary block after a 12-byte signature; the first byte tells them
//! apart, and refuses a client that speaks TLS or HTTP straight away.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use crate::error::{Error, Result};

/// What a PROXY header says about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProxyHeader {
    /// The original client's and the proxy-side destination addresses (TCP
    /// over IPv4/IPv6).
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// v1 `UNKNOWN`, v2 `LOCAL` or an address family we do not carry (unix,
    /// UNSPEC, UDP): use the socket's own address.
    Local,
}

/// The parse so far of the bytes read from the start of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// At least this many more bytes are needed, and reading exactly this
    /// many cannot go past the header's end.
    NeedMore(usize),
    /// The header, and how many bytes it took (== buf.len() when fed as
    /// NeedMore says).
    Done(ProxyHeader, usize),
}

/// "PROXY " begins every version 1 line.
const V1_PREFIX: &[u8] = b"PROXY ";

/// The longest version 1 line, CRLF included: the spec's worst case,
/// `UNKNOWN` followed by two full IPv6 addresses and two ports.
const V1_MAX_LINE: usize = 107;

/// The shortest header of either version: `PROXY UNKNOWN\r\n`.
const MIN_HEADER: usize = 15;

/// The protocol words of version 1, each with the shortest line (after
/// "PROXY ", without CRLF) that it begins.
const V1_PROTOCOLS: [(&[u8], usize); 3] = [
    (b"TCP4", "TCP4 0.0.0.0 0.0.0.0 0 0".len()),
    (b"TCP6", "TCP6 :: :: 0 0".len()),
    (b"UNKNOWN", "UNKNOWN".len()),
];

/// The 12 bytes that begin every version 2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// A version 2 header's fixed part: signature, version and command,
/// address family and protocol, and the length of what follows.
const V2_FIXED: usize = 16;

/// The 13th byte of a version 2 header, version 2 and command LOCAL: the
/// proxy's own connection (a health check), whatever the rest says.
const V2_LOCAL: u8 = 0x20;
/// Version 2 and command PROXY: a relayed connection.
const V2_PROXY: u8 = 0x21;

/// The 14th byte, address family and transport protocol: TCP over IPv4
/// (addresses of 4 bytes) and over IPv6 (16 bytes), the two we carry.
const TCP_OVER_IPV4: u8 = 0x11;
const TCP_OVER_IPV6: u8 = 0x21;
/// Neither family nor protocol specified.
const UNSPEC: u8 = 0x00;

/// The most bytes a version 2 header may take. Its length field allows 64
/// KiB, which we would buffer for each connection before its handshake, for
/// nothing: the addresses take at most 216 bytes (two unix paths), and
/// HAProxy itself refuses any TLV value over 1 KiB (`HA_PP2_MAX_ALLOC`), so
/// 4 KiB after the fixed part holds the addresses and all the TLVs a sender
/// can expect a receiver to take.
const V2_MAX: usize = V2_FIXED + 4096;

/// Parses the bytes read so far from the start of a connection: a whole
/// header, how many more bytes one needs at least, or an error as soon as
/// the bytes cannot begin a header. Bytes after the header are left alone.
pub(crate) fn parse(buf: &[u8]) -> Result<Progress> {
    match buf.first() {
        // The first byte alone, so that a client speaking something else is
        // refused on it.
        None => Ok(Progress::NeedMore(1)),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf),
        Some(byte) => Err(malformed(format!(
            "no PROXY header: the connection starts with byte 0x{byte:02x}"
        ))),
    }
}

/// Reads a header from `reader`, exactly as many bytes as it takes
/// (read_exact of each NeedMore). The end of the stream before the header's
/// end is `Error::ConnectionClosed`.
pub(crate) fn read_header(reader: &mut impl Read) -> Result<ProxyHeader> {
    let mut buf = Vec::with_capacity(V1_MAX_LINE);
    loop {
        match parse(&buf)? {
            Progress::Done(header, _) => return Ok(header),
            Progress::NeedMore(more) => {
                let start = buf.len();
                buf.resize(start + more, 0);
                reader.read_exact(&mut buf[start..])?;
            }
        }
    }
}

/// A peer's bytes that are not a PROXY header; the connection is dropped.
fn malformed(what: impl std::fmt::Display) -> Error {
    Error::http(400, format!("PROXY protocol: {what}"))
}

/// A version 1 line, or how much more of it is needed.
fn parse_v1(buf: &[u8]) -> Result<Progress> {
    let prefix = buf.len().min(V1_PREFIX.len());
    if buf[..prefix] != V1_PREFIX[..prefix] {
        return Err(malformed("v1 line does not start with \"PROXY \""));
    }
    if buf.len() < V1_PREFIX.len() {
        return Ok(Progress::NeedMore(MIN_HEADER - buf.len()));
    }
    let window = &buf[..buf.len().min(V1_MAX_LINE)];
    if let Some(cr) = window.windows(2).position(|pair| pair == b"\r\n") {
        let header = parse_v1_line(&buf[V1_PREFIX.len()..cr])?;
        return Ok(Progress::Done(header, cr + 2));
    }
    let too_long = || malformed(format!("v1 line longer than {V1_MAX_LINE} bytes"));
    if buf.len() >= V1_MAX_LINE {
        return Err(too_long());
    }
    let more = v1_least_remaining(&buf[V1_PREFIX.len()..])?;
    if buf.len() + more > V1_MAX_LINE {
        return Err(too_long());
    }
    Ok(Progress::NeedMore(more))
}

/// The address family of a `TCP4` or `TCP6` line.
#[derive(Clone, Copy)]
enum Family {
    Ipv4,
    Ipv6,
}

/// A field after the protocol word of a `TCP4` or `TCP6` line.
#[derive(Clone, Copy)]
enum Field {
    Address(Family),
    Port,
}

impl Field {
    /// The fields of a line: source and destination address, source and
    /// destination port.
    fn of_line(family: Family) -> [Field; 4] {
        let address = Field::Address(family);
        [address, address, Field::Port, Field::Port]
    }

    fn name(self) -> &'static str {
        match self {
            Field::Address(Family::Ipv4) => "IPv4 address",
            Field::Address(Family::Ipv6) => "IPv6 address",
            Field::Port => "port",
        }
    }

    /// The fewest bytes the field takes: `0.0.0.0`, `::`, `0`.
    fn shortest(self) -> usize {
        match self {
            Field::Address(Family::Ipv4) => 7,
            Field::Address(Family::Ipv6) => 2,
            Field::Port => 1,
        }
    }

    /// The most bytes: `255.255.255.255`,
    /// `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`, `65535`.
    fn longest(self) -> usize {
        match self {
            Field::Address(Family::Ipv4) => 15,
            Field::Address(Family::Ipv6) => 45,
            Field::Port => 5,
        }
    }

    /// Whether `text` may begin a field of this kind: not too long, and
    /// only of the field's characters (decimal digits and dots; hexadecimal
    /// digits, colons and the dots of an IPv4-mapped address; decimal digits).
    fn may_begin(self, text: &[u8]) -> bool {
        let allowed = |b: u8| match self {
            Field::Address(Family::Ipv4) => b.is_ascii_digit() || b == b'.',
            Field::Address(Family::Ipv6) => b.is_ascii_hexdigit() || b == b':' || b == b'.',
            Field::Port => b.is_ascii_digit(),
        };
        text.len() <= self.longest() && text.iter().all(|&b| allowed(b))
    }

    /// Checks a whole field.
    fn check(self, text: &[u8]) -> Result<()> {
        match self {
            Field::Address(family) => parse_address(family, text).map(drop),
            Field::Port => parse_port(text).map(drop),
        }
    }

    fn malformed(self, text: &[u8]) -> Error {
        malformed(format!(
            "bad v1 {} \"{}\"",
            self.name(),
            text.escape_ascii()
        ))
    }
}

/// A whole version 1 line after "PROXY ", without its CRLF.
fn parse_v1_line(line: &[u8]) -> Result<ProxyHeader> {
    let mut words = line.split(|&b| b == b' ');
    let protocol = words.next().unwrap_or_default();
    let family = match protocol {
        // What follows UNKNOWN, up to the CRLF, is ignored.
        b"UNKNOWN" => return Ok(ProxyHeader::Local),
        b"TCP4" => Family::Ipv4,
        b"TCP6" => Family::Ipv6,
        _ => return Err(unknown_protocol(protocol)),
    };
    let fields: Vec<&[u8]> = words.collect();
    let [source, destination, source_port, destination_port] = fields[..] else {
        return Err(malformed(format!(
            "v1 {} line has {} fields after the protocol, not 4 separated by single spaces",
            protocol.escape_ascii(),
            fields.len()
        )));
    };
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(parse_address(family, source)?, parse_port(source_port)?),
        destination: SocketAddr::new(
            parse_address(family, destination)?,
            parse_port(destination_port)?,
        ),
    })
}

/// How many more bytes a version 1 line needs at least after `rest` (the
/// line so far after "PROXY ", with no CRLF yet); an error as soon as `rest`
/// cannot begin a valid line.
fn v1_least_remaining(rest: &[u8]) -> Result<usize> {
    const CRLF: usize = 2;
    if let Some(line) = rest.strip_suffix(b"\r") {
        // A CR can only be the end of the line: all before it must be whole.
        parse_v1_line(line)?;
        return Ok(1);
    }
    let mut words = rest.split(|&b| b == b' ');
    let protocol = words.next().unwrap_or_default();
    let fields: Vec<&[u8]> = words.collect();
    let Some((arriving, whole)) = fields.split_last() else {
        // The protocol word is still arriving.
        return V1_PROTOCOLS
            .iter()
            .filter(|(name, _)| name.starts_with(protocol))
            .map(|(_, shortest_line)| shortest_line - protocol.len() + CRLF)
            .min()
            .ok_or_else(|| unknown_protocol(protocol));
    };
    let kinds = match protocol {
        b"UNKNOWN" => return Ok(CRLF),
        b"TCP4" => Field::of_line(Family::Ipv4),
        b"TCP6" => Field::of_line(Family::Ipv6),
        _ => return Err(unknown_protocol(protocol)),
    };
    if fields.len() > kinds.len() {
        return Err(malformed(format!(
            "v1 {} line has more than 4 fields after the protocol",
            protocol.escape_ascii()
        )));
    }
    for (&kind, field) in kinds.iter().zip(whole) {
        kind.check(field)?;
    }
    let kind = kinds[whole.len()];
    if !kind.may_begin(arriving) {
        return Err(kind.malformed(arriving));
    }
    let later: usize = kinds[whole.len() + 1..]
        .iter()
        .map(|later| 1 + later.shortest())
        .sum();
    Ok(kind.shortest().saturating_sub(arriving.len()) + later + CRLF)
}

fn unknown_protocol(word: &[u8]) -> Error {
    malformed(format!(
        "v1 protocol \"{}\" is not TCP4, TCP6 or UNKNOWN",
        word.escape_ascii()
    ))
}

/// An address as version 1 writes it: for IPv4 four decimal numbers without
/// leading zeros (which could be read as octal); for IPv6 colon-separated
/// hexadecimal groups with at most one `::`, or an IPv4-mapped address
/// (`::ffff:192.0.2.1`, as `inet_ntop` writes it, and so HAProxy).
fn parse_address(family: Family, text: &[u8]) -> Result<IpAddr> {
    let field = Field::Address(family);
    // `may_begin` too, so that no field accepted whole was refused while it
    // arrived. The standard parsers refuse leading zeros in IPv4 numbers,
    // more than four digits in an IPv6 group, zones and brackets.
    let ascii = std::str::from_utf8(text)
        .ok()
        .filter(|_| field.may_begin(text));
    let address = ascii.and_then(|text| match family {
        Family::Ipv4 => text.parse().ok().map(IpAddr::V4),
        Family::Ipv6 => text.parse().ok().map(IpAddr::V6),
    });
    address.ok_or_else(|| field.malformed(text))
}

/// A port as version 1 writes it: decimal digits, without a sign or a
/// leading zero, at most 65535.
fn parse_port(text: &[u8]) -> Result<u16> {
    let leading_zero = text.len() > 1 && text[0] == b'0';
    let port = if text.is_empty() || leading_zero || !Field::Port.may_begin(text) {
        None
    } else {
        text.iter().try_fold(0u16, |n, &digit| {
            n.checked_mul(10)?.checked_add(u16::from(digit - b'0'))
        })
    };
    port.ok_or_else(|| Field::Port.malformed(text))
}

/// A version 2 header, or how much more of it is needed. Each part of the
/// fixed 16 bytes is checked as soon as it has arrived, and the length is
/// checked before the bytes it announces are read.
fn parse_v2(buf: &[u8]) -> Result<Progress> {
    let signature = buf.len().min(V2_SIGNATURE.len());
    if buf[..signature] != V2_SIGNATURE[..signature] {
        return Err(malformed("bad v2 signature"));
    }
    if let Some(&version_command) = buf.get(12) {
        check_v2_version_command(version_command)?;
    }
    let proxied = buf.get(12) == Some(&V2_PROXY);
    if let Some(&family_protocol) = buf.get(13)
        && proxied
    {
        check_v2_family_protocol(family_protocol)?;
    }
    let Some(&[high, low]) = buf.get(14..V2_FIXED) else {
        return Ok(Progress::NeedMore(V2_FIXED - buf.len()));
    };
    let length = usize::from(u16::from_be_bytes([high, low]));
    if V2_FIXED + length > V2_MAX {
        return Err(malformed(format!(
            "v2 length {length} exceeds {}",
            V2_MAX - V2_FIXED
        )));
    }
    // LOCAL ignores the family (the spec says so): as if UNSPEC.
    let family_protocol = if proxied { buf[13] } else { UNSPEC };
    let addresses = match family_protocol {
        TCP_OVER_IPV4 => 2 * 4 + 2 * 2,
        TCP_OVER_IPV6 => 2 * 16 + 2 * 2,
        _ => 0,
    };
    if length < addresses {
        return Err(malformed(format!(
            "v2 length {length} is shorter than the {addresses} bytes of its addresses"
        )));
    }
    let end = V2_FIXED + length;
    let Some(block) = buf.get(V2_FIXED..end) else {
        return Ok(Progress::NeedMore(end - buf.len()));
    };
    // What follows the addresses (TLVs: ALPN, SNI, TLS facts, checksums) is
    // skipped: we use none of it, and checking the CRC32C is left to the
    // receivers that support it.
    let header = match family_protocol {
        TCP_OVER_IPV4 => v2_addresses::<4>(block),
        TCP_OVER_IPV6 => v2_addresses::<16>(block),
        _ => Some(ProxyHeader::Local),
    };
    let header = header.ok_or_else(|| malformed("v2 addresses are cut short"))?;
    Ok(Progress::Done(header, end))
}

/// Version 2, and a command the spec defines: LOCAL or PROXY.
fn check_v2_version_command(version_command: u8) -> Result<()> {
    let version = version_command >> 4;
    let command = version_command & 0x0f;
    match version_command {
        V2_LOCAL | V2_PROXY => Ok(()),
        _ if version != 2 => Err(malformed(format!("v2 version {version} is not 2"))),
        _ => Err(malformed(format!(
            "v2 command {command} is neither LOCAL (0) nor PROXY (1)"
        ))),
    }
}

/// An address family (UNSPEC, INET, INET6, UNIX) and a transport protocol
/// (UNSPEC, STREAM, DGRAM) the spec defines; any other value "must be
/// rejected as invalid by receivers". Of the valid ones we carry TCP over
/// IPv4 and IPv6; the others are `Local`, as the spec asks of a receiver
/// that does not support them ("falls back to the UNSPEC mode"). UDP comes
/// to a TCP server only from a misconfigured proxy, but refusing it would
/// be a choice of ours, not the spec's.
fn check_v2_family_protocol(family_protocol: u8) -> Result<()> {
    let family = family_protocol >> 4;
    let protocol = family_protocol & 0x0f;
    if family > 3 || protocol > 2 {
        return Err(malformed(format!(
            "v2 address family {family} or transport protocol {protocol} is not in the spec"
        )));
    }
    Ok(())
}

/// The source and destination addresses of `N` bytes each, then the two
/// ports, in network order; `None` if `block` is shorter.
fn v2_addresses<const N: usize>(block: &[u8]) -> Option<ProxyHeader>
where
    IpAddr: From<[u8; N]>,
{
    let (source, rest) = block.split_first_chunk::<N>()?;
    let (destination, rest) = rest.split_first_chunk::<N>()?;
    let (source_port, rest) = rest.split_first_chunk::<2>()?;
    let (destination_port, _tlvs) = rest.split_first_chunk::<2>()?;
    Some(ProxyHeader::Proxied {
        source: SocketAddr::new(IpAddr::from(*source), u16::from_be_bytes(*source_port)),
        destination: SocketAddr::new(
            IpAddr::from(*destination),
            u16::from_be_bytes(*destination_port),
        ),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A version 2 header: the signature, `version_command` and
    /// `family_protocol` (bytes 13 and 14), the length of `rest`, `rest`.
    fn v2(version_command: u8, family_protocol: u8, rest: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(version_command);
        header.push(family_protocol);
        let length = u16::try_from(rest.len()).unwrap();
        header.extend_from_slice(&length.to_be_bytes());
        header.extend_from_slice(rest);
        header
    }

    /// TCP over IPv4 from 192.0.2.1:51234 to 198.51.100.2:443.
    const IPV4_ADDRESSES: [u8; 12] = [192, 0, 2, 1, 198, 51, 100, 2, 0xc8, 0x22, 0x01, 0xbb];

    /// TCP over IPv6 from [2001:db8::1]:51234 to [2001:db8::2]:443.
    fn ipv6_addresses() -> Vec<u8> {
        let source: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        let destination: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut block = source.octets().to_vec();
        block.extend_from_slice(&destination.octets());
        block.extend_from_slice(&[0xc8, 0x22, 0x01, 0xbb]);
        block
    }

    /// Two TLVs: ALPN "h2" and NOOP padding.
    const TLVS: &[u8] = &[0x01, 0x00, 0x02, b'h', b'2', 0x04, 0x00, 0x03, 0, 0, 0];

    fn proxied(source: &str, destination: &str) -> ProxyHeader {
        ProxyHeader::Proxied {
            source: source.parse().unwrap(),
            destination: destination.parse().unwrap(),
        }
    }

    /// The spec's longest version 1 line.
    const V1_LONGEST: &[u8] = b"PROXY UNKNOWN \
        ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";

    fn with(block: &[u8], tail: &[u8]) -> Vec<u8> {
        [block, tail].concat()
    }

    /// Valid headers of every kind, with what they say.
    pub(crate) fn valid_headers() -> Vec<(Vec<u8>, ProxyHeader)> {
        let v4 = proxied("192.0.2.1:51234", "198.51.100.2:443");
        let v6 = proxied("[2001:db8::1]:51234", "[2001:db8::2]:443");
        vec![
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\n".to_vec(),
                v4,
            ),
            (
                b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n".to_vec(),
                proxied("0.0.0.0:0", "0.0.0.0:0"),
            ),
            (
                b"PROXY TCP6 2001:db8::1 2001:db8::2 51234 443\r\n".to_vec(),
                v6,
            ),
            (
                b"PROXY TCP6 :: :: 0 0\r\n".to_vec(),
                proxied("[::]:0", "[::]:0"),
            ),
            (b"PROXY UNKNOWN\r\n".to_vec(), ProxyHeader::Local),
            (V1_LONGEST.to_vec(), ProxyHeader::Local),
            (v2(V2_PROXY, TCP_OVER_IPV4, &IPV4_ADDRESSES), v4),
            (
                v2(V2_PROXY, TCP_OVER_IPV4, &with(&IPV4_ADDRESSES, TLVS)),
                v4,
            ),
            (v2(V2_PROXY, TCP_OVER_IPV6, &ipv6_addresses()), v6),
            (
                v2(V2_PROXY, TCP_OVER_IPV6, &with(&ipv6_addresses(), TLVS)),
                v6,
            ),
            (v2(V2_LOCAL, UNSPEC, &[]), ProxyHeader::Local),
            (v2(V2_PROXY, 0x31, &[b'/'; 216]), ProxyHeader::Local),
        ]
    }

    fn done(header: &[u8]) -> ProxyHeader {
        match parse(header) {
            Ok(Progress::Done(found, length)) => {
                assert_eq!(length, header.len(), "{}", header.escape_ascii());
                found
            }
            other => panic!("{}: {other:?}", header.escape_ascii()),
        }
    }

    fn error(header: &[u8]) -> String {
        match parse(header) {
            Err(e) => {
                assert_eq!(e.http_status(), Some(400), "{e}");
                e.to_string()
            }
            other => panic!("{}: {other:?}", header.escape_ascii()),
        }
    }

    #[test]
    fn v1_tcp4_gives_the_client_and_destination_addresses() {
        assert_eq!(
            done(b"PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\n"),
            proxied("192.0.2.1:51234", "198.51.100.2:443")
        );
    }

    #[test]
    fn v1_tcp6_gives_the_client_and_destination_addresses() {
        assert_eq!(
            done(b"PROXY TCP6 2001:DB8::1 2001:0db8:0:0:0:0:0:2 51234 443\r\n"),
            proxied("[2001:db8::1]:51234", "[2001:db8::2]:443")
        );
    }

    #[test]
    fn v1_tcp6_takes_ipv4_mapped_addresses_as_inet_ntop_writes_them() {
        assert_eq!(
            done(b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 51234 443\r\n"),
            proxied("[::ffff:192.0.2.1]:51234", "[2001:db8::2]:443")
        );
    }

    #[test]
    fn v1_unknown_alone_is_local() {
        assert_eq!(done(b"PROXY UNKNOWN\r\n"), ProxyHeader::Local);
    }

    #[test]
    fn v1_unknown_ignores_the_rest_of_its_line() {
        assert_eq!(
            done(b"PROXY UNKNOWN whatever \x01\xff\r stays unread\r\n"),
            ProxyHeader::Local
        );
    }

    #[test]
    fn v1_line_of_107_bytes_is_accepted() {
        assert_eq!(V1_LONGEST.len(), 107);
        assert_eq!(done(V1_LONGEST), ProxyHeader::Local);
    }

    #[test]
    fn v1_line_over_107_bytes_is_refused() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(105, b'f');
        line.extend_from_slice(b" \r\n");
        assert!(error(&line).contains("v1 line longer than 107 bytes"));
        // Refused as soon as the CRLF can no longer come in time.
        assert!(error(&line[..106]).contains("longer than 107"));
        assert!(matches!(parse(&line[..105]), Ok(Progress::NeedMore(2))));
    }

    #[test]
    fn v1_tcp_line_too_long_to_end_in_time_is_refused_before_its_end() {
        // Two addresses of 45 bytes, the longest IPv6 text: 102 bytes so
        // far, and two ports and a CRLF still to come, 6 bytes at least.
        let address = "0000:0000:0000:0000:0000:ffff:255.255.255.255";
        let line = format!("PROXY TCP6 {address} {address}");
        assert_eq!(line.len(), 102);
        assert!(error(line.as_bytes()).contains("longer than 107"));
    }

    #[test]
    fn v1_addresses_must_be_of_the_line_family() {
        assert!(error(b"PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n").contains("IPv4 address"));
        assert!(error(b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n").contains("IPv6 address"));
    }

    #[test]
    fn v1_ipv4_addresses_are_four_plain_decimal_numbers() {
        for bad in [
            "01.2.3.4",
            "1.2.3.256",
            "+1.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.4.",
            "0x1.2.3.4",
        ] {
            let line = format!("PROXY TCP4 {bad} 192.0.2.2 1 2\r\n");
            assert!(
                error(line.as_bytes()).contains("bad v1 IPv4 address"),
                "{bad}"
            );
        }
    }

    #[test]
    fn v1_ipv6_addresses_are_refused_when_malformed() {
        for bad in [
            "1::2::3",
            "12345::1",
            "::1%eth0",
            "[::1]",
            "1:2:3:4:5:6:7:8:9",
            "::01.2.3.4",
        ] {
            let line = format!("PROXY TCP6 {bad} ::1 1 2\r\n");
            assert!(
                error(line.as_bytes()).contains("bad v1 IPv6 address"),
                "{bad}"
            );
        }
    }

    #[test]
    fn v1_ports_are_plain_decimal_numbers_up_to_65535() {
        assert_eq!(
            done(b"PROXY TCP4 192.0.2.1 192.0.2.2 0 65535\r\n"),
            proxied("192.0.2.1:0", "192.0.2.2:65535")
        );
        for bad in ["65536", "99999", "080", "+80", "-1", "0x50", "８０"] {
            let line = format!("PROXY TCP4 192.0.2.1 192.0.2.2 {bad} 443\r\n");
            assert!(error(line.as_bytes()).contains("bad v1 port"), "{bad}");
        }
    }

    #[test]
    fn v1_fields_are_separated_by_single_spaces() {
        for bad in [
            "PROXY TCP4 192.0.2.1  192.0.2.2 1 2\r\n",
            "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n",
            "PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n",
            "PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n",
            "PROXY  TCP4 192.0.2.1 192.0.2.2 1 2\r\n",
            "PROXY\tTCP4 192.0.2.1 192.0.2.2 1 2\r\n",
        ] {
            error(bad.as_bytes());
        }
    }

    #[test]
    fn v1_line_must_end_in_crlf_not_a_bare_cr_or_lf() {
        error(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n");
        error(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX");
        error(b"PROXY TCP4 192.0.2.1 192.0.2.2 1\r2\r\n");
        error(b"PROXY UNKNOWN\n\r\n");
    }

    #[test]
    fn v1_protocols_other_than_tcp4_tcp6_and_unknown_are_refused() {
        for bad in ["TCP5", "UDP4", "tcp4", "UNKNOWNX", "TCP"] {
            let line = format!("PROXY {bad} 192.0.2.1 192.0.2.2 1 2\r\n");
            assert!(error(line.as_bytes()).contains("v1 protocol"), "{bad}");
        }
        // As soon as the word cannot be one of them.
        assert!(error(b"PROXY TX").contains("v1 protocol"));
    }

    #[test]
    fn v1_bad_field_is_refused_as_soon_as_it_arrives() {
        assert!(error(b"PROXY TCP4 192.0.2.256 ").contains("IPv4 address"));
        assert!(error(b"PROXY TCP4 192.0.2.x").contains("IPv4 address"));
        assert!(error(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2 ").contains("more than 4 fields"));
        assert!(error(b"PROXY TCP6 ::1 ::2 1 2x").contains("port"));
    }

    #[test]
    fn v2_proxy_tcp4_gives_the_client_and_destination_addresses() {
        assert_eq!(
            done(&v2(V2_PROXY, TCP_OVER_IPV4, &IPV4_ADDRESSES)),
            proxied("192.0.2.1:51234", "198.51.100.2:443")
        );
    }

    #[test]
    fn v2_proxy_tcp6_gives_the_client_and_destination_addresses() {
        assert_eq!(
            done(&v2(V2_PROXY, TCP_OVER_IPV6, &ipv6_addresses())),
            proxied("[2001:db8::1]:51234", "[2001:db8::2]:443")
        );
    }

    #[test]
    fn v2_tlvs_after_the_addresses_are_skipped() {
        assert_eq!(
            done(&v2(V2_PROXY, TCP_OVER_IPV4, &with(&IPV4_ADDRESSES, TLVS))),
            proxied("192.0.2.1:51234", "198.51.100.2:443")
        );
        assert_eq!(
            done(&v2(V2_PROXY, TCP_OVER_IPV6, &with(&ipv6_addresses(), TLVS))),
            proxied("[2001:db8::1]:51234", "[2001:db8::2]:443")
        );
    }

    #[test]
    fn v2_local_is_local_whatever_its_family_and_length() {
        assert_eq!(done(&v2(V2_LOCAL, UNSPEC, &[])), ProxyHeader::Local);
        assert_eq!(
            done(&v2(V2_LOCAL, TCP_OVER_IPV4, &IPV4_ADDRESSES)),
            ProxyHeader::Local
        );
        // The family is ignored with LOCAL, even one PROXY may not carry.
        assert_eq!(done(&v2(V2_LOCAL, 0xff, &[1, 2])), ProxyHeader::Local);
    }

    #[test]
    fn v2_proxy_of_unspec_unix_or_udp_is_local() {
        for family_protocol in [0x00, 0x01, 0x10, 0x12, 0x22, 0x31, 0x32] {
            assert_eq!(
                done(&v2(V2_PROXY, family_protocol, &[0; 216])),
                ProxyHeader::Local,
                "{family_protocol:#x}"
            );
        }
        assert_eq!(done(&v2(V2_PROXY, 0x31, &[])), ProxyHeader::Local);
    }

    #[test]
    fn v2_family_or_protocol_outside_the_spec_is_refused() {
        for family_protocol in [0x41, 0x13, 0xf1, 0x2f] {
            let header = v2(V2_PROXY, family_protocol, &[0; 36]);
            assert!(error(&header[..14]).contains("not in the spec"));
        }
    }

    #[test]
    fn v2_wrong_signature_is_refused_at_its_first_wrong_byte() {
        let mut header = v2(V2_PROXY, TCP_OVER_IPV4, &IPV4_ADDRESSES);
        header[7] = b'q';
        assert!(error(&header[..8]).contains("bad v2 signature"));
        assert!(matches!(parse(&header[..7]), Ok(Progress::NeedMore(9))));
    }

    #[test]
    fn v2_version_other_than_2_is_refused() {
        for version_command in [0x11, 0x31, 0x01, 0xf1] {
            let header = v2(version_command, TCP_OVER_IPV4, &IPV4_ADDRESSES);
            assert!(error(&header[..13]).contains("is not 2"));
        }
    }

    #[test]
    fn v2_commands_other_than_local_and_proxy_are_refused() {
        for version_command in [0x22, 0x2f] {
            let header = v2(version_command, TCP_OVER_IPV4, &IPV4_ADDRESSES);
            assert!(error(&header[..13]).contains("neither LOCAL"));
        }
    }

    #[test]
    fn v2_length_shorter_than_the_addresses_is_refused_before_reading_them() {
        let header = v2(V2_PROXY, TCP_OVER_IPV4, &IPV4_ADDRESSES[..11]);
        assert!(error(&header[..16]).contains("v2 length 11 is shorter than the 12 bytes"));
        let header = v2(V2_PROXY, TCP_OVER_IPV6, &IPV4_ADDRESSES);
        assert!(error(&header[..16]).contains("v2 length 12 is shorter than the 36 bytes"));
    }

    #[test]
    fn v2_length_over_4096_is_refused_before_reading_it() {
        let mut header = v2(V2_PROXY, TCP_OVER_IPV4, &with(&IPV4_ADDRESSES, &[0; 4085]));
        assert_eq!(header.len(), V2_MAX + 1);
        assert!(error(&header[..16]).contains("v2 length 4097 exceeds 4096"));
        header.truncate(V2_MAX);
        header[14..16].copy_from_slice(&4096u16.to_be_bytes());
        assert_eq!(
            done(&header),
            proxied("192.0.2.1:51234", "198.51.100.2:443")
        );
    }

    #[test]
    fn neither_version_is_refused_on_the_first_byte() {
        assert!(error(b"G").contains("starts with byte 0x47"));
        assert!(error(b"\x16").contains("starts with byte 0x16"));
        assert!(error(b"POST / HTTP/1.1\r\n").contains("does not start with \"PROXY \""));
    }

    #[test]
    fn an_empty_buffer_asks_for_one_byte() {
        assert_eq!(parse(b"").unwrap(), Progress::NeedMore(1));
    }

    #[test]
    fn truncated_headers_need_more_and_are_never_done_early() {
        for (header, _) in valid_headers() {
            for end in 0..header.len() {
                assert!(
                    matches!(parse(&header[..end]), Ok(Progress::NeedMore(_))),
                    "{}: {:?}",
                    header[..end].escape_ascii(),
                    parse(&header[..end])
                );
            }
        }
    }

    #[test]
    fn no_prefix_asks_for_more_bytes_than_the_header_has() {
        for (header, _) in valid_headers() {
            for end in 0..header.len() {
                let Ok(Progress::NeedMore(more)) = parse(&header[..end]) else {
                    panic!("{}", header[..end].escape_ascii());
                };
                assert!(more >= 1);
                assert!(
                    end + more <= header.len(),
                    "{}: {more} more",
                    header[..end].escape_ascii()
                );
            }
        }
    }

    #[test]
    fn v1_needs_few_reads() {
        // The least remaining grows with each field still to come, so a
        // line is not read one byte at a time.
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\n";
        let mut reads = 0;
        let mut end = 0;
        while let Ok(Progress::NeedMore(more)) = parse(&line[..end]) {
            end += more;
            reads += 1;
        }
        assert_eq!(end, line.len());
        assert!(reads <= 8, "{reads} reads");
    }

    #[test]
    fn parse_says_where_the_header_ends_when_more_bytes_follow() {
        for (header, expected) in valid_headers() {
            let followed = with(&header, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
            assert_eq!(
                parse(&followed).unwrap(),
                Progress::Done(expected, header.len())
            );
        }
    }

    #[test]
    fn read_header_leaves_the_client_hello_unread() {
        let client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03rest of the hello";
        for (header, expected) in valid_headers() {
            let bytes = with(&header, client_hello);
            let mut reader = &bytes[..];
            assert_eq!(read_header(&mut reader).unwrap(), expected);
            assert_eq!(reader, client_hello, "{}", header.escape_ascii());
        }
    }

    #[test]
    fn read_header_reports_a_stream_ending_inside_the_header_as_closed() {
        let mut reader = &b"PROXY TCP4 192.0.2.1"[..];
        assert!(matches!(
            read_header(&mut reader),
            Err(Error::ConnectionClosed)
        ));
    }

    #[test]
    fn read_header_refuses_a_tls_client_after_one_byte() {
        let client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
        let mut reader = &client_hello[..];
        assert!(read_header(&mut reader).is_err());
        assert_eq!(reader.len(), client_hello.len() - 1);
    }
}
