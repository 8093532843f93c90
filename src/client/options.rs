//! The options of Node's `https.request` (and, with `protocol: "http:"`,
//! of `http.request`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::agent::Agent;
use crate::error::{Error, Result, check_timeout};
use crate::http::{is_token, is_valid_header_value, parse_content_length};
use crate::tls::TlsVersion;

/// The TLS options of a request (those of `tls.connect` that Node's
/// `https.request` takes). They are part of the pool key: requests with
/// different TLS options never share a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientTlsOptions {
    /// Trusted CAs, PEM; when given they replace the system's roots.
    pub ca_pem: Vec<Vec<u8>>,
    /// A client certificate chain and its key, PEM.
    pub cert_pem: Option<Vec<u8>>,
    pub key_pem: Option<Vec<u8>>,
    pub passphrase: Option<String>,
    /// Verify the server's certificate and name (default true).
    pub reject_unauthorized: bool,
    /// The SNI name and the name the certificate must match; default the
    /// host (no SNI for an IP address).
    pub servername: Option<String>,
    pub min_version: TlsVersion,
}

impl Default for ClientTlsOptions {
    fn default() -> ClientTlsOptions {
        ClientTlsOptions {
            ca_pem: Vec::new(),
            cert_pem: None,
            key_pem: None,
            passphrase: None,
            reject_unauthorized: true,
            servername: None,
            min_version: TlsVersion::Tls1_2,
        }
    }
}

/// Node's `protocol` option: whether the connection runs TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `"https:"` (the default): TLS with verification, port 443.
    #[default]
    Https,
    /// `"http:"`: plain HTTP, no TLS, port 80 — for a legacy backend behind
    /// a TLS-terminating proxy, on loopback or a trusted network.
    Http,
}

impl Protocol {
    /// From Node's spelling, `"https:"` or `"http:"`.
    pub fn from_node_name(name: &str) -> Result<Protocol> {
        match name {
            "https:" => Ok(Protocol::Https),
            "http:" => Ok(Protocol::Http),
            _ => Err(Error::invalid(format!(
                "protocol {name:?} is not supported: \"https:\" or \"http:\""
            ))),
        }
    }

    /// `"https:"` or `"http:"`.
    pub fn node_name(self) -> &'static str {
        match self {
            Protocol::Https => "https:",
            Protocol::Http => "http:",
        }
    }

    /// 443 or 80.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Https => 443,
            Protocol::Http => 80,
        }
    }

    pub fn is_tls(self) -> bool {
        self == Protocol::Https
    }
}

/// Which agent a request goes through (Node's `agent` option).
#[derive(Clone, Default)]
pub enum AgentChoice {
    /// The global agent (Node's `undefined`).
    #[default]
    Global,
    /// This agent.
    Agent(Arc<Agent>),
    /// No pooling: a fresh connection, closed after the response (Node's `false`).
    None,
}

/// Node's `https.request(options)`.
#[derive(Clone)]
pub struct RequestOptions {
    /// Node's `protocol`: `Https` (default) or `Http` (no TLS; `tls` is unused).
    pub protocol: Protocol,
    /// Node's `host` (default "localhost").
    pub host: String,
    /// Node's `hostname`, preferred over `host`.
    pub hostname: Option<String>,
    /// Node's `port`; `None`: the protocol's default (443, or 80 for `Http`).
    pub port: Option<u16>,
    /// Node's `socketPath`: a unix socket instead of host and port (TLS
    /// still runs over it, unless the protocol is `Http`).
    pub socket_path: Option<PathBuf>,
    /// Default "GET".
    pub method: String,
    /// Path and query, default "/".
    pub path: String,
    /// Header fields in order; duplicates are kept.
    pub headers: Vec<(String, String)>,
    /// Node's `auth`: "user:password", sent as `Authorization: Basic`.
    pub auth: Option<String>,
    pub tls: ClientTlsOptions,
    pub agent: AgentChoice,
    /// How long connecting may take (default 30 s).
    pub connect_timeout: Duration,
    /// How long one read or write may block (Node's `timeout`; default 120 s).
    pub timeout: Duration,
}

impl Default for RequestOptions {
    fn default() -> RequestOptions {
        RequestOptions {
            protocol: Protocol::Https,
            host: "localhost".into(),
            hostname: None,
            port: None,
            socket_path: None,
            method: "GET".into(),
            path: "/".into(),
            headers: Vec::new(),
            auth: None,
            tls: ClientTlsOptions::default(),
            agent: AgentChoice::Global,
            connect_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(120),
        }
    }
}

impl RequestOptions {
    /// Options from `https://user:password@host:port/path?query`, or the
    /// same with `http://` (plain HTTP, default port 80).
    pub fn from_url(url: &str) -> Result<RequestOptions> {
        let (protocol, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (Protocol::Https, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (Protocol::Http, rest),
            _ => {
                return Err(Error::invalid(format!(
                    "{url:?} is not an https:// or http:// URL"
                )));
            }
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        let (auth, host_port) = match authority.rfind('@') {
            Some(i) => (Some(percent_decode(&authority[..i])), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port)?;
        if host.is_empty() {
            return Err(Error::invalid(format!("{url:?} has no host")));
        }
        Ok(RequestOptions {
            protocol,
            hostname: Some(host),
            port,
            path,
            auth,
            ..RequestOptions::default()
        })
    }

    /// The port to connect to: `port`, else the protocol's default.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.protocol.default_port())
    }

    /// The host to connect to and verify: `hostname`, else `host`.
    pub fn target_host(&self) -> &str {
        self.hostname.as_deref().unwrap_or(&self.host)
    }

    /// Adds a header field, checked now (`check_header`); repeated names
    /// are all sent, in order.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<()> {
        check_header(name, value)?;
        self.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }

    /// Node's `timeout`; at least 1 ms (`check_timeout`).
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.timeout = check_timeout("request timeout", timeout)?;
        Ok(())
    }

    /// How long connecting may take; at least 1 ms (`check_timeout`).
    pub fn set_connect_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.connect_timeout = check_timeout("connect timeout", timeout)?;
        Ok(())
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<()> {
        if !is_token(&self.method) {
            return Err(Error::invalid(format!("invalid method {:?}", self.method)));
        }
        if self.path.is_empty() || self.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(Error::invalid(format!(
                "invalid path {:?}: it must not be empty or hold spaces or control characters",
                self.path
            )));
        }
        for (name, value) in &self.headers {
            check_header(name, value)?;
            if name.eq_ignore_ascii_case("content-length")
                && parse_content_length(value.trim().as_bytes()).is_none()
            {
                return Err(Error::invalid(format!(
                    "the Content-Length header {value:?} is not a plain decimal number"
                )));
            }
        }
        if self.socket_path.is_none() && self.target_host().is_empty() {
            return Err(Error::invalid("no host"));
        }
        // The host goes into the `Host` header: nothing that could end it.
        let host = self.target_host();
        if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(Error::invalid(format!(
                "invalid host {host:?}: it must not hold spaces or control characters"
            )));
        }
        Ok(())
    }
}

/// A header field a request may carry: a token for a name, and a value
/// without control bytes (CR, LF, NUL, ...; a tab is allowed).
fn check_header(name: &str, value: &str) -> Result<()> {
    if !is_token(name) || !is_valid_header_value(value.as_bytes()) {
        return Err(Error::invalid(format!("invalid header {name:?}")));
    }
    Ok(())
}

fn split_host_port(host_port: &str) -> Result<(String, Option<u16>)> {
    let bad_port = || Error::invalid(format!("invalid port in {host_port:?}"));
    if let Some(rest) = host_port.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| Error::invalid(format!("unclosed [ in {host_port:?}")))?;
        let host = rest[..end].to_string();
        let port = match &rest[end + 1..] {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(bad_port)?,
            ),
        };
        return Ok((host, port));
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => Ok((
            host.to_ascii_lowercase(),
            Some(port.parse().map_err(|_| bad_port())?),
        )),
        None => Ok((host_port.to_ascii_lowercase(), None)),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_host_with_cr_or_lf_is_refused_even_with_a_socket_path() {
        let mut options = RequestOptions {
            socket_path: Some("/tmp/x.sock".into()),
            ..RequestOptions::default()
        };
        options.host = "localhost\r\nX-Injected: 1".into();
        assert!(matches!(options.validate(), Err(Error::InvalidArgument(_))));
        options.host = "localhost".into();
        assert!(options.validate().is_ok());
    }

    use super::*;

    #[test]
    fn a_url_gives_host_port_path_and_auth() {
        let o =
            RequestOptions::from_url("https://us%40er:pw@Example.test:8443/a/b?c=1#frag").unwrap();
        assert_eq!(
            (o.target_host(), o.port(), o.path.as_str()),
            ("example.test", 8443, "/a/b?c=1")
        );
        assert_eq!(o.auth.as_deref(), Some("us@er:pw"));
    }

    #[test]
    fn defaults_are_port_443_and_path_slash() {
        let o = RequestOptions::from_url("https://example.test").unwrap();
        assert_eq!((o.port(), o.path.as_str()), (443, "/"));
        let o = RequestOptions::from_url("https://example.test?q").unwrap();
        assert_eq!(o.path, "/?q");
    }

    #[test]
    fn ipv6_literals_are_bracketed() {
        let o = RequestOptions::from_url("https://[::1]:9/x").unwrap();
        assert_eq!((o.target_host(), o.port()), ("::1", 9));
    }

    #[test]
    fn http_urls_are_plain_http_on_port_80() {
        let o = RequestOptions::from_url("http://example.test/x").unwrap();
        assert_eq!(
            (o.protocol, o.port(), o.path.as_str()),
            (Protocol::Http, 80, "/x")
        );
        let o = RequestOptions::from_url("HTTP://example.test:8080").unwrap();
        assert_eq!((o.protocol, o.port()), (Protocol::Http, 8080));
        let o = RequestOptions::from_url("https://example.test").unwrap();
        assert_eq!(o.protocol, Protocol::Https);
    }

    #[test]
    fn the_default_port_follows_the_protocol_unless_one_was_given() {
        let mut o = RequestOptions::default();
        assert_eq!(o.port(), 443);
        o.protocol = Protocol::from_node_name("http:").unwrap();
        assert_eq!(o.port(), 80);
        o.port = Some(443);
        assert_eq!(o.port(), 443);
        assert!(Protocol::from_node_name("ftp:").is_err());
        assert!(Protocol::from_node_name("http").is_err());
    }

    #[test]
    fn a_zero_timeout_is_refused_not_rounded_up() {
        let mut o = RequestOptions::default();
        assert!(matches!(
            o.set_timeout(Duration::ZERO),
            Err(Error::InvalidArgument(_))
        ));
        assert!(o.set_connect_timeout(Duration::from_micros(999)).is_err());
        let default = RequestOptions::default();
        assert_eq!(
            (o.timeout, o.connect_timeout),
            (default.timeout, default.connect_timeout)
        );
        o.set_timeout(Duration::from_millis(1)).unwrap();
        assert_eq!(o.timeout, Duration::from_millis(1));
    }

    #[test]
    fn a_header_is_checked_when_added_as_before_sending() {
        let mut o = RequestOptions::default();
        assert!(o.add_header("Bad Name", "v").is_err());
        assert!(o.add_header("X-Bad", "a\r\nInjected: 1").is_err());
        assert!(o.headers.is_empty());
        o.add_header("X-Good", "a\tb").unwrap();
        assert!(o.validate().is_ok());
    }

    #[test]
    fn other_schemes_and_bad_ports_are_refused() {
        assert!(RequestOptions::from_url("ftp://example.test/").is_err());
        assert!(RequestOptions::from_url("example.test/").is_err());
        assert!(RequestOptions::from_url("https://example.test:99999/").is_err());
        assert!(RequestOptions::from_url("https:///x").is_err());
    }
}
