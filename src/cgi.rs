//! A request as CGI/1.1 meta-variables (RFC 3875, section 4.1) and Apache
//! mod_ssl's TLS variables, in one block: what a WSGI environ and a Rack
//! env are made of, read in one call instead of one per fact.

use std::ffi::CString;

use crate::http::{HeaderFields, Version};
use crate::message::IncomingMessage;
use crate::net::SocketInfo;

/// The variables of a request, each as `NAME\0VALUE\0`, in this order:
/// `REQUEST_METHOD`, `REQUEST_URI` (the target as sent), `QUERY_STRING`
/// (after the first `?`; "" without one), `SERVER_PROTOCOL`,
/// `REMOTE_ADDR`, `REMOTE_PORT`, `SERVER_NAME` and `SERVER_PORT` (from the
/// first Host header; without one, or for a port it does not name, the
/// connection's local address and port), then one variable per request
/// header name — `CONTENT_TYPE`, `CONTENT_LENGTH`, or `HTTP_` and the name
/// upper-cased with `-` as `_`, repeated fields joined with ", ", names
/// with `_` left out (they would pose as others: `X_Forwarded_For` as
/// `X-Forwarded-For`) — then `HTTPS` ("on"), `SSL_PROTOCOL`, `SSL_CIPHER`,
/// `SSL_TLS_SNI` (when the client sent a name), `SSL_CLIENT_VERIFY`
/// ("NONE", "SUCCESS" or "FAILED:reason") and, with a client certificate,
/// `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN` (RFC 2253, as mod_ssl: "CN=alice,O=Example"),
/// `SSL_CLIENT_M_SERIAL` (hex) and
/// `SSL_CLIENT_CERT` (PEM). Values are bytes as received (header values
/// may hold any byte but NUL).
pub(crate) fn variables(message: &IncomingMessage) -> Vec<u8> {
    let headers = message.headers();
    let mut out = Vec::with_capacity(512 + 2 * headers.as_bytes().len());
    let socket = message.socket();
    let url = message.url();
    put(&mut out, "REQUEST_METHOD", message.method().as_bytes());
    put(&mut out, "REQUEST_URI", url.as_bytes());
    let query = url.split_once('?').map_or("", |(_, query)| query);
    put(&mut out, "QUERY_STRING", query.as_bytes());
    let protocol = match message.version() {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    };
    put(&mut out, "SERVER_PROTOCOL", protocol.as_bytes());
    put(&mut out, "REMOTE_ADDR", bytes(&socket.remote_address));
    put(
        &mut out,
        "REMOTE_PORT",
        socket.remote_port.to_string().as_bytes(),
    );
    let local_port = socket.local_port.to_string();
    let (name, port) = match headers.first("host") {
        Some(host) => split_host(host.to_bytes(), local_port.as_bytes()),
        None => (bytes(&socket.local_address), local_port.as_bytes()),
    };
    put(&mut out, "SERVER_NAME", name);
    put(&mut out, "SERVER_PORT", port);
    put_headers(&mut out, headers);
    put_tls(&mut out, socket);
    out
}

fn put(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.extend_from_slice(value);
    out.push(0);
}

fn bytes(value: &Option<CString>) -> &[u8] {
    value.as_ref().map_or(&[], |v| v.to_bytes())
}

/// (name, port) of a Host header value: "[::1]:8443" gives ("::1",
/// "8443"), "example.test" ("example.test", `default_port`); a port that
/// is not digits leaves the whole value as the name.
fn split_host<'a>(host: &'a [u8], default_port: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    if let Some(rest) = host.strip_prefix(b"[") {
        let end = rest.iter().position(|&b| b == b']').unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        return match after.strip_prefix(b"]:") {
            Some(port) => (name, port),
            None => (name, default_port),
        };
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(colon)
            if colon + 1 < host.len() && host[colon + 1..].iter().all(u8::is_ascii_digit) =>
        {
            (&host[..colon], &host[colon + 1..])
        }
        _ => (host, default_port),
    }
}

/// One variable per header name, in the order names first appear.
fn put_headers(out: &mut Vec<u8>, headers: &HeaderFields) {
    let mut variables: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(headers.len());
    for field in headers.iter() {
        let name = field.name.to_bytes();
        if name.contains(&b'_') {
            continue;
        }
        let key = if name.eq_ignore_ascii_case(b"content-type") {
            b"CONTENT_TYPE".to_vec()
        } else if name.eq_ignore_ascii_case(b"content-length") {
            b"CONTENT_LENGTH".to_vec()
        } else {
            let mut key = b"HTTP_".to_vec();
            key.extend(name.iter().map(|&b| match b {
                b'-' => b'_',
                b => b.to_ascii_uppercase(),
            }));
            key
        };
        let value = field.value.to_bytes();
        match variables.iter_mut().find(|(k, _)| *k == key) {
            Some((_, joined)) => {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(value);
            }
            None => variables.push((key, value.to_vec())),
        }
    }
    for (key, value) in &variables {
        out.extend_from_slice(key);
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    }
}

/// mod_ssl's variables.
fn put_tls(out: &mut Vec<u8>, socket: &SocketInfo) {
    put(out, "HTTPS", b"on");
    for (name, value) in [
        ("SSL_PROTOCOL", &socket.tls_version),
        ("SSL_CIPHER", &socket.cipher),
        ("SSL_TLS_SNI", &socket.servername),
    ] {
        if let Some(value) = value {
            put(out, name, value.to_bytes());
        }
    }
    let Some(certificate) = &socket.peer_certificate else {
        put(out, "SSL_CLIENT_VERIFY", b"NONE");
        return;
    };
    if socket.authorized {
        put(out, "SSL_CLIENT_VERIFY", b"SUCCESS");
    } else {
        let mut verdict = b"FAILED:".to_vec();
        match &socket.authorization_error {
            Some(reason) => verdict.extend_from_slice(reason.to_bytes()),
            None => verdict.extend_from_slice(b"unknown"),
        }
        put(out, "SSL_CLIENT_VERIFY", &verdict);
    }
    put(out, "SSL_CLIENT_S_DN", &certificate.subject_rfc2253);
    put(out, "SSL_CLIENT_I_DN", &certificate.issuer_rfc2253);
    put(
        out,
        "SSL_CLIENT_M_SERIAL",
        certificate.serial_number.to_bytes(),
    );
    put(out, "SSL_CLIENT_CERT", certificate.pem.to_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_header_gives_the_server_name_and_port() {
        // (Host, name, port); port "" is the default.
        let cases = [
            ("example.test:8443", "example.test", "8443"),
            ("example.test", "example.test", ""),
            ("[::1]:9443", "::1", "9443"),
            ("[::1]", "::1", ""),
            ("example.test:", "example.test:", ""),
            ("example.test:x1", "example.test:x1", ""),
        ];
        for (host, name, port) in cases {
            let port = if port.is_empty() { "443" } else { port };
            let split = split_host(host.as_bytes(), b"443");
            assert_eq!(split, (name.as_bytes(), port.as_bytes()), "{host}");
        }
    }

    #[test]
    fn repeated_headers_are_joined_and_underscored_names_left_out() {
        let mut headers = HeaderFields::with_capacity(4, 64);
        headers.push(b"Accept", b"a").unwrap();
        headers.push(b"Content-Type", b"text/plain").unwrap();
        headers.push(b"X_Forwarded_For", b"evil").unwrap();
        headers.push(b"accept", b"b").unwrap();
        let mut out = Vec::new();
        put_headers(&mut out, &headers);
        assert_eq!(
            out,
            b"HTTP_ACCEPT\0a, b\0CONTENT_TYPE\0text/plain\0".to_vec()
        );
    }
}
