//! The server core from Rust, with a real TLS client over loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use nhttps::server::{Server, ServerOptions};
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};

fn dev_server() -> Server {
    let mut options = ServerOptions::default();
    options.tls.context.dev_certificate = true;
    // Long enough that a close waiting for idle connections would hang the test.
    options.keep_alive_timeout = Duration::from_secs(3600);
    Server::new(options).expect("server")
}

fn connect(server: &Server) -> SslStream<TcpStream> {
    let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
    connector.set_verify(SslVerifyMode::NONE);
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    connector.build().connect("localhost", tcp).unwrap()
}

fn read_to_end(stream: &mut SslStream<TcpStream>) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = dev_server();
    server.set_handlers(|h| {
        h.request = Some(Arc::new(|req, res| {
            let body = format!("you asked for {}", req.url());
            res.end(body.as_bytes()).unwrap();
        }))
    });
    server.listen(Some("127.0.0.1"), 0).unwrap();
    let mut client = connect(&server);
    client
        .write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let text = read_to_end(&mut client);
    let first = text.find("you asked for /1").expect("first answer");
    let second = text.find("you asked for /2").expect("second answer");
    assert!(first < second, "{text}");
}

#[test]
fn a_panicking_handler_gets_500_and_a_client_error() {
    let server = dev_server();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    server.set_handlers(|h| {
        h.request = Some(Arc::new(|_req, _res| panic!("handler bug")));
        h.client_error = Some(Arc::new(move |error, _info| {
            seen.lock().unwrap().push(error.to_string())
        }));
    });
    server.listen(Some("127.0.0.1"), 0).unwrap();
    let mut client = connect(&server);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let text = read_to_end(&mut client);
    assert!(text.starts_with("HTTP/1.1 500 "), "{text}");
    server.close();
    assert!(
        errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("handler bug"))
    );
}

#[test]
fn close_waits_for_a_request_in_flight_and_emits_close_once() {
    let server = Arc::new(dev_server());
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let release_rx = Mutex::new(release_rx);
    let closes = Arc::new(AtomicUsize::new(0));
    let counted = closes.clone();
    server.set_handlers(|h| {
        h.request = Some(Arc::new(move |_req, res| {
            started_tx.lock().unwrap().send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
            res.end(b"finished").unwrap();
        }));
        h.close = Some(Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
    });
    server.listen(Some("127.0.0.1"), 0).unwrap();
    let mut client = connect(&server);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    started_rx.recv().unwrap();

    let closing = server.clone();
    let closer = thread::spawn(move || closing.close());
    thread::sleep(Duration::from_millis(100));
    assert!(
        !closer.is_finished(),
        "close returned while a request was in flight"
    );
    release_tx.send(()).unwrap();
    let text = read_to_end(&mut client);
    closer.join().unwrap();
    assert!(
        text.contains("Connection: close") && text.ends_with("finished"),
        "{text}"
    );
    server.close();
    assert_eq!(closes.load(Ordering::SeqCst), 1);
}

#[test]
fn an_idle_keep_alive_connection_does_not_hold_up_close() {
    let server = dev_server();
    server.set_handlers(|h| h.request = Some(Arc::new(|_req, res| res.end(b"ok").unwrap())));
    server.listen(Some("127.0.0.1"), 0).unwrap();
    let mut client = connect(&server);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = client.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok"));
    // Returns at once: the idle connection is closed, not waited for.
    server.close();
}

fn connect_with(
    server: &Server,
    configure: impl FnOnce(&mut openssl::ssl::SslConnectorBuilder),
) -> Result<SslStream<TcpStream>, String> {
    let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
    connector.set_verify(SslVerifyMode::NONE);
    configure(&mut connector);
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    connector
        .build()
        .connect("localhost", tcp)
        .map_err(|e| e.to_string())
}

#[test]
fn alpn_picks_our_preferred_protocol_among_the_offered() {
    let mut options = ServerOptions::default();
    options.tls.context.dev_certificate = true;
    options.tls.context.policy.alpn_protocols = vec!["h2".into(), "http/1.1".into()];
    let server = Server::new(options).unwrap();
    server.listen(Some("127.0.0.1"), 0).unwrap();
    let client = connect_with(&server, |c| {
        c.set_alpn_protos(b"\x08http/1.1\x02h2").unwrap()
    })
    .unwrap();
    assert_eq!(client.ssl().selected_alpn_protocol(), Some(&b"h2"[..]));
    let refused = connect_with(&server, |c| c.set_alpn_protos(b"\x03foo").unwrap());
    assert!(
        refused.is_err(),
        "a client without a common protocol must fail the handshake"
    );
}

#[test]
fn tls_1_1_is_refused_by_default() {
    let server = dev_server();
    server.listen(Some("127.0.0.1"), 0).unwrap();
    let old = connect_with(&server, |c| {
        c.set_max_proto_version(Some(openssl::ssl::SslVersion::TLS1_1))
            .unwrap();
        c.set_cipher_list("DEFAULT:@SECLEVEL=0").unwrap();
    });
    assert!(old.is_err());
}

#[test]
fn secure_connection_and_keylog_fire_during_the_handshake() {
    let server = dev_server();
    let versions = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (v, l) = (versions.clone(), lines.clone());
    server.set_handlers(|h| {
        h.secure_connection = Some(Arc::new(move |info| {
            v.lock()
                .unwrap()
                .push(info.tls_version.clone().unwrap().into_string().unwrap())
        }));
        h.keylog = Some(Arc::new(move |line| {
            l.lock().unwrap().push(line.to_string())
        }));
    });
    server.listen(Some("127.0.0.1"), 0).unwrap();
    let mut client = connect(&server);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let _ = read_to_end(&mut client);
    server.close();
    assert_eq!(*versions.lock().unwrap(), ["TLSv1.3"]);
    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("CLIENT_HANDSHAKE_TRAFFIC_SECRET ")),
        "{lines:?}"
    );
}

/// A self-signed certificate and key for `cn`, as PEM.
fn certificate_for(cn: &str) -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509, X509NameBuilder};
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (
        cert.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

fn context_for(cn: &str) -> Arc<nhttps::tls::SecureContext> {
    let (cert, key) = certificate_for(cn);
    let options = nhttps::tls::ContextOptions {
        cert_pem: Some(cert),
        key_pem: Some(key),
        ..Default::default()
    };
    nhttps::tls::SecureContext::new(&options).unwrap()
}

/// The common name of the certificate the server presents for `servername`.
fn presented_name(server: &Server, servername: Option<&str>) -> String {
    let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
    connector.set_verify(SslVerifyMode::NONE);
    let mut config = connector.build().configure().unwrap();
    config.set_use_server_name_indication(servername.is_some());
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let stream = config.connect(servername.unwrap_or("unused"), tcp).unwrap();
    let cert = stream.ssl().peer_certificate().unwrap();
    let cn = cert
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .unwrap();
    cn.data().to_string().unwrap()
}

fn server_for(cn: &str, sni_callback: Option<nhttps::tls::SniCallback>) -> Server {
    let (cert, key) = certificate_for(cn);
    let mut options = ServerOptions::default();
    options.tls.context.cert_pem = Some(cert);
    options.tls.context.key_pem = Some(key);
    options.sni_callback = sni_callback;
    let server = Server::new(options).unwrap();
    server.listen(Some("127.0.0.1"), 0).unwrap();
    server
}

#[test]
fn sni_picks_exact_and_wildcard_contexts_and_falls_back_to_the_default() {
    let server = server_for("default.test", None);
    server
        .add_context("www.example.test", &context_for("exact"))
        .unwrap();
    server
        .add_context("*.example.test", &context_for("wildcard"))
        .unwrap();
    server
        .add_context("api.example.test", &context_for("later-exact"))
        .unwrap();
    assert_eq!(
        presented_name(&server, Some("www.example.test")),
        "wildcard",
        "later entries win"
    );
    assert_eq!(
        presented_name(&server, Some("API.example.test")),
        "later-exact"
    );
    assert_eq!(
        presented_name(&server, Some("other.example.test")),
        "wildcard"
    );
    assert_eq!(
        presented_name(&server, Some("a.b.example.test")),
        "default.test"
    );
    assert_eq!(
        presented_name(&server, Some("unknown.test")),
        "default.test"
    );
    assert_eq!(presented_name(&server, None), "default.test");
}

#[test]
fn an_sni_callback_chooses_the_context() {
    let special = context_for("from-callback");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let callback: nhttps::tls::SniCallback = Arc::new(move |name| {
        log.lock().unwrap().push(name.to_string());
        (name == "special.test").then(|| special.clone())
    });
    let server = server_for("default.test", Some(callback));
    assert_eq!(
        presented_name(&server, Some("special.test")),
        "from-callback"
    );
    assert_eq!(presented_name(&server, Some("plain.test")), "default.test");
    assert_eq!(*seen.lock().unwrap(), ["special.test", "plain.test"]);
}

#[test]
fn set_secure_context_swaps_the_certificate_for_new_connections_only() {
    let server = server_for("before.test", None);
    server.set_handlers(|h| h.request = Some(Arc::new(|_req, res| res.end(b"ok").unwrap())));
    let mut open = connect(&server);
    server
        .set_secure_context(&context_for("after.test"))
        .unwrap();
    assert_eq!(presented_name(&server, None), "after.test");
    let cn = open.ssl().peer_certificate().unwrap();
    let cn = cn
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .unwrap()
        .data()
        .to_string()
        .unwrap();
    assert_eq!(cn, "before.test");
    open.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(
        read_to_end(&mut open).ends_with("ok"),
        "the open connection still works"
    );
}

#[test]
fn a_pkcs12_bundle_with_its_passphrase_makes_a_context() {
    let (cert, key) = certificate_for("bundle.test");
    let cert = openssl::x509::X509::from_pem(&cert).unwrap();
    let key = openssl::pkey::PKey::private_key_from_pem(&key).unwrap();
    let der = openssl::pkcs12::Pkcs12::builder()
        .name("bundle")
        .pkey(&key)
        .cert(&cert)
        .build2("secret")
        .unwrap()
        .to_der()
        .unwrap();
    let with = |passphrase: &str| {
        let options = nhttps::tls::ContextOptions {
            pfx: Some(der.clone()),
            passphrase: Some(passphrase.into()),
            ..Default::default()
        };
        nhttps::tls::SecureContext::new(&options)
    };
    assert!(with("secret").is_ok());
    assert!(matches!(with("wrong"), Err(nhttps::Error::Passphrase(_))));
}

/// A successful OCSP response made by `openssl ocsp -index ... -respout
/// -no_nonce -resp_no_certs` for a throwaway CA's leaf. Stapling sends it
/// as it is (nothing checks it against the certificate), so any
/// certificate will do in these tests.
const OCSP_RESPONSE: &[u8] = include_bytes!("data/ocsp_response.der");

fn context_with_ocsp(cn: &str, ocsp_response: Option<&[u8]>) -> Arc<nhttps::tls::SecureContext> {
    let (cert, key) = certificate_for(cn);
    let options = nhttps::tls::ContextOptions {
        cert_pem: Some(cert),
        key_pem: Some(key),
        ocsp_response: ocsp_response.map(<[u8]>::to_vec),
        ..Default::default()
    };
    nhttps::tls::SecureContext::new(&options).unwrap()
}

/// The OCSP response stapled for `servername`, when the client asks for
/// one (`ask`) at TLS version `version`.
fn stapled(
    server: &Server,
    servername: &str,
    ask: bool,
    version: openssl::ssl::SslVersion,
) -> Option<Vec<u8>> {
    let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
    connector.set_verify(SslVerifyMode::NONE);
    connector.set_min_proto_version(Some(version)).unwrap();
    connector.set_max_proto_version(Some(version)).unwrap();
    let mut config = connector.build().configure().unwrap();
    if ask {
        config
            .set_status_type(openssl::ssl::StatusType::OCSP)
            .unwrap();
    }
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let stream = config.connect(servername, tcp).unwrap();
    stream.ssl().ocsp_status().map(<[u8]>::to_vec)
}

#[test]
fn the_ocsp_response_is_stapled_only_for_clients_that_ask() {
    use openssl::ssl::SslVersion;
    let (cert, key) = certificate_for("stapled.test");
    let mut options = ServerOptions::default();
    options.tls.context.cert_pem = Some(cert);
    options.tls.context.key_pem = Some(key);
    options.tls.context.ocsp_response = Some(OCSP_RESPONSE.to_vec());
    let server = Server::new(options).unwrap();
    server.listen(Some("127.0.0.1"), 0).unwrap();
    for version in [SslVersion::TLS1_2, SslVersion::TLS1_3] {
        assert_eq!(
            stapled(&server, "stapled.test", true, version).as_deref(),
            Some(OCSP_RESPONSE)
        );
        assert_eq!(stapled(&server, "stapled.test", false, version), None);
    }
}

#[test]
fn each_sni_context_staples_its_own_ocsp_response_or_none() {
    const TLS1_3: openssl::ssl::SslVersion = openssl::ssl::SslVersion::TLS1_3;
    // The default context staples; the SNI context has no response.
    let server = server_for("default.test", None);
    server
        .set_secure_context(&context_with_ocsp("default.test", Some(OCSP_RESPONSE)))
        .unwrap();
    server
        .add_context("bare.test", &context_with_ocsp("bare.test", None))
        .unwrap();
    // The other way round: a default without, an SNI context with.
    let callback: nhttps::tls::SniCallback = {
        let with = context_with_ocsp("with.test", Some(OCSP_RESPONSE));
        Arc::new(move |name| (name == "with.test").then(|| with.clone()))
    };
    let other = server_for("plain.test", Some(callback));
    assert_eq!(
        stapled(&server, "default.test", true, TLS1_3).as_deref(),
        Some(OCSP_RESPONSE)
    );
    assert_eq!(stapled(&server, "bare.test", true, TLS1_3), None);
    assert_eq!(
        stapled(&other, "with.test", true, TLS1_3).as_deref(),
        Some(OCSP_RESPONSE)
    );
    assert_eq!(stapled(&other, "plain.test", true, TLS1_3), None);
}

#[test]
fn set_secure_context_brings_its_own_ocsp_response() {
    const TLS1_2: openssl::ssl::SslVersion = openssl::ssl::SslVersion::TLS1_2;
    let server = server_for("swap.test", None);
    assert_eq!(stapled(&server, "swap.test", true, TLS1_2), None);
    server
        .set_secure_context(&context_with_ocsp("swap.test", Some(OCSP_RESPONSE)))
        .unwrap();
    assert_eq!(
        stapled(&server, "swap.test", true, TLS1_2).as_deref(),
        Some(OCSP_RESPONSE)
    );
    server
        .set_secure_context(&context_with_ocsp("swap.test", None))
        .unwrap();
    assert_eq!(stapled(&server, "swap.test", true, TLS1_2), None);
}

#[test]
fn a_context_refuses_bytes_that_are_not_an_ocsp_response() {
    let (cert, key) = certificate_for("refused.test");
    let options = nhttps::tls::ContextOptions {
        cert_pem: Some(cert),
        key_pem: Some(key),
        ocsp_response: Some(b"garbage".to_vec()),
        ..Default::default()
    };
    assert!(matches!(
        nhttps::tls::SecureContext::new(&options),
        Err(nhttps::Error::Certificate(m)) if m.contains("OCSP")
    ));
}

/// Connects twice, offering the first connection's session on the second;
/// returns whether the second resumed.
fn resumes(first: &Server, second: &Server, max: openssl::ssl::SslVersion) -> bool {
    let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
    connector.set_verify(SslVerifyMode::NONE);
    connector.set_max_proto_version(Some(max)).unwrap();
    let connector = connector.build();
    let tcp = TcpStream::connect(("127.0.0.1", first.port())).unwrap();
    let mut stream = connector.connect("localhost", tcp).unwrap();
    // TLS 1.3 tickets arrive after the handshake: exchange a request first.
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let _ = read_to_end(&mut stream);
    let session = stream.ssl().session().unwrap().to_owned();
    let tcp = TcpStream::connect(("127.0.0.1", second.port())).unwrap();
    let mut config = connector.configure().unwrap();
    unsafe { config.set_session(&session).unwrap() };
    let stream = config.connect("localhost", tcp).unwrap();
    stream.ssl().session_reused()
}

fn resumable_server(configure: impl FnOnce(&mut ServerOptions)) -> Server {
    let mut options = ServerOptions::default();
    options.tls.context.dev_certificate = true;
    configure(&mut options);
    let server = Server::new(options).unwrap();
    server.set_handlers(|h| h.request = Some(Arc::new(|_req, res| res.end(b"ok").unwrap())));
    server.listen(Some("127.0.0.1"), 0).unwrap();
    server
}

#[test]
fn tls12_sessions_resume_by_session_id_without_tickets() {
    let server = resumable_server(|o| o.tls.tickets = false);
    assert!(resumes(&server, &server, openssl::ssl::SslVersion::TLS1_2));
}

#[test]
fn tls13_sessions_resume_by_ticket() {
    let server = resumable_server(|_| {});
    assert!(resumes(&server, &server, openssl::ssl::SslVersion::TLS1_3));
}

#[test]
fn servers_sharing_ticket_keys_resume_each_others_sessions() {
    let keys = [7u8; nhttps::tls::TICKET_KEYS_LEN];
    let a = resumable_server(|o| o.tls.ticket_keys = Some(keys));
    let b = resumable_server(|o| o.tls.ticket_keys = Some(keys));
    let stranger = resumable_server(|_| {});
    assert_eq!(a.ticket_keys(), keys);
    assert!(resumes(&a, &b, openssl::ssl::SslVersion::TLS1_2));
    assert!(!resumes(&a, &stranger, openssl::ssl::SslVersion::TLS1_2));
    stranger.set_ticket_keys(&keys).unwrap();
    assert!(resumes(&a, &stranger, openssl::ssl::SslVersion::TLS1_2));
}

#[test]
fn npn_is_advertised_to_clients_that_ask() {
    let server =
        resumable_server(|o| o.tls.npn_protocols = vec!["spdy/1".into(), "http/1.1".into()]);
    let output = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", server.port()),
            "-tls1_2",
            "-nextprotoneg",
            "http/1.1",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Next protocol: (1) http/1.1"), "{text}");
}

/// A key and a certificate for `cn`, signed by `issuer` (self-signed when None).
fn signed_certificate(
    cn: &str,
    issuer: Option<(
        &openssl::x509::X509,
        &openssl::pkey::PKey<openssl::pkey::Private>,
    )>,
    is_ca: bool,
) -> (
    openssl::x509::X509,
    openssl::pkey::PKey<openssl::pkey::Private>,
) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::BasicConstraints;
    use openssl::x509::{X509, X509NameBuilder};
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&BigNum::from_u32(0x1234).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
        .unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    if is_ca {
        cert.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    }
    cert.sign(issuer.map_or(&key, |(_, k)| k), MessageDigest::sha256())
        .unwrap();
    (cert.build(), key)
}

#[test]
fn client_certificates_follow_node_for_every_row_of_the_matrix() {
    let (ca, ca_key) = signed_certificate("Test CA", None, true);
    let trusted = signed_certificate("trusted client", Some((&ca, &ca_key)), false);
    let untrusted = signed_certificate("stranger", None, false);

    for reject in [true, false] {
        let mut options = ServerOptions::default();
        options.tls.context.dev_certificate = true;
        options.tls.context.ca_pem = vec![ca.to_pem().unwrap()];
        options.tls.request_cert = true;
        options.tls.reject_unauthorized = reject;
        let server = Server::new(options).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        server.set_handlers(|h| {
            h.request = Some(Arc::new(move |req, res| {
                let info = req.socket();
                let text = |s: &Option<std::ffi::CString>| {
                    s.as_ref()
                        .map_or("-".to_string(), |s| s.to_str().unwrap().to_string())
                };
                let fingerprint_ok = info
                    .peer_certificate
                    .as_ref()
                    .is_none_or(|c| c.fingerprint256.to_bytes().len() == 95);
                log.lock().unwrap().push(format!(
                    "{} {} {} {}",
                    info.authorized,
                    text(&info.authorization_error),
                    text(&info.peer_common_name),
                    fingerprint_ok
                ));
                res.end(b"ok").unwrap();
            }))
        });
        server.listen(Some("127.0.0.1"), 0).unwrap();
        let request = |identity: Option<&(
            openssl::x509::X509,
            openssl::pkey::PKey<openssl::pkey::Private>,
        )>| {
            let stream = connect_with(&server, |c| {
                if let Some((cert, key)) = identity {
                    c.set_certificate(cert).unwrap();
                    c.set_private_key(key).unwrap();
                }
            });
            // With TLS 1.3 the server's verdict arrives after the handshake.
            let mut stream = stream.ok()?;
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .ok()?;
            let text = read_to_end(&mut stream);
            text.ends_with("ok").then_some(())
        };
        assert!(request(Some(&trusted)).is_some());
        assert_eq!(request(Some(&untrusted)).is_some(), !reject);
        assert_eq!(request(None).is_some(), !reject);
        server.close();
        let expected: &[&str] = if reject {
            &["true - trusted client true"]
        } else {
            &[
                "true - trusted client true",
                "false DEPTH_ZERO_SELF_SIGNED_CERT stranger true",
                "false UNABLE_TO_GET_ISSUER_CERT - true",
            ]
        };
        assert_eq!(
            *seen.lock().unwrap(),
            expected,
            "rejectUnauthorized={reject}"
        );
    }
}

#[test]
fn connections_one_after_another_reuse_the_pools_threads() {
    let server = dev_server();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let seen = threads.clone();
    server.set_handlers(|h| {
        h.request = Some(Arc::new(move |_req, res| {
            seen.lock().unwrap().push(thread::current().id());
            res.end(b"ok").unwrap();
        }))
    });
    server.listen(Some("127.0.0.1"), 0).unwrap();
    // Ten connections, each closed before the next: the pool's few idle
    // threads take them in turns; none needs a thread of its own.
    for _ in 0..10 {
        let mut client = connect(&server);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        read_to_end(&mut client);
        thread::sleep(Duration::from_millis(20));
    }
    let mut seen = threads.lock().unwrap().clone();
    assert_eq!(seen.len(), 10);
    seen.sort_by_key(|id| format!("{id:?}"));
    seen.dedup();
    assert!(
        seen.len() <= 3,
        "{} threads served 10 connections",
        seen.len()
    );
}
