//! The client core against a real nhttps server over loopback TLS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nhttps::client::{Agent, AgentChoice, AgentOptions, ClientRequest, RequestOptions};
use nhttps::server::{Server, ServerOptions};

struct TestServer {
    server: Server,
    connections: Arc<AtomicUsize>,
    max_concurrent: Arc<AtomicUsize>,
}

/// A development-certificate server that echoes the method, url and body.
fn echo_server(configure: impl FnOnce(&mut ServerOptions)) -> TestServer {
    let mut options = ServerOptions::default();
    options.tls.context.dev_certificate = true;
    configure(&mut options);
    let server = Server::new(options).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let max_concurrent = Arc::new(AtomicUsize::new(0));
    let (c, o, m) = (connections.clone(), open.clone(), max_concurrent.clone());
    server.set_handlers(|h| {
        h.connection = Some(Arc::new(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            true
        }));
        h.request = Some(Arc::new(move |req, res| {
            let now = o.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            let mut body = Vec::new();
            let mut buf = [0u8; 16384];
            loop {
                let n = req.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
            }
            if req.url() == "/slow" {
                std::thread::sleep(Duration::from_millis(20));
            }
            let answer = [
                format!("{} {} ", req.method(), req.url()).into_bytes(),
                body,
            ]
            .concat();
            o.fetch_sub(1, Ordering::SeqCst);
            res.end(&answer).unwrap();
        }));
    });
    server.listen(Some("127.0.0.1"), 0).unwrap();
    TestServer {
        server,
        connections,
        max_concurrent,
    }
}

impl TestServer {
    fn options(&self, path: &str, agent: AgentChoice) -> RequestOptions {
        let mut options =
            RequestOptions::from_url(&format!("https://localhost:{}{path}", self.server.port()))
                .unwrap();
        options.tls.ca_pem = vec![self.server.certificate_pem().to_bytes().to_vec()];
        options.agent = agent;
        options
    }
}

fn body_of(response: &nhttps::message::IncomingMessage) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = response.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn agent(max_sockets: usize) -> AgentChoice {
    AgentChoice::Agent(Arc::new(Agent::new(AgentOptions {
        max_sockets,
        ..AgentOptions::default()
    })))
}

#[test]
fn keep_alive_reuses_one_connection_for_three_requests() {
    let server = echo_server(|_| {});
    let agent = agent(5);
    for i in 0..3 {
        let response = ClientRequest::new(server.options(&format!("/{i}"), agent.clone()))
            .unwrap()
            .end()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(body_of(&response), format!("GET /{i} ").as_bytes());
        assert_eq!(response.socket().reused_connection, i > 0);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn no_agent_opens_a_connection_per_request() {
    let server = echo_server(|_| {});
    for _ in 0..3 {
        let response = ClientRequest::new(server.options("/", AgentChoice::None))
            .unwrap()
            .end()
            .unwrap();
        assert_eq!(body_of(&response), b"GET / ");
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}

#[test]
fn max_sockets_bounds_the_connections_of_many_concurrent_requests() {
    let server = Arc::new(echo_server(|_| {}));
    let agent = agent(3);
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let (server, agent) = (server.clone(), agent.clone());
            std::thread::spawn(move || {
                let response = ClientRequest::new(server.options("/slow", agent))
                    .unwrap()
                    .end()
                    .unwrap();
                assert_eq!(body_of(&response), b"GET /slow ", "request {i}");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(server.connections.load(Ordering::SeqCst) <= 3);
    assert!(server.max_concurrent.load(Ordering::SeqCst) <= 3);
}

#[test]
fn request_bodies_arrive_byte_exact_chunked_and_by_length() {
    let server = echo_server(|_| {});
    let payload: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut options = server.options("/up", agent(1));
    options.method = "POST".into();
    let mut request = ClientRequest::new(options.clone()).unwrap();
    for piece in payload.chunks(10_000) {
        request.write(piece).unwrap();
    }
    let response = request.end().unwrap();
    assert_eq!(
        body_of(&response),
        [b"POST /up ".as_slice(), &payload].concat()
    );

    options
        .headers
        .push(("Content-Length".into(), payload.len().to_string()));
    let mut request = ClientRequest::new(options).unwrap();
    request.write(&payload).unwrap();
    assert_eq!(
        body_of(&request.end().unwrap()),
        [b"POST /up ".as_slice(), &payload].concat()
    );
}

#[test]
fn expect_continue_sends_the_body_after_100() {
    let server = echo_server(|_| {});
    let mut options = server.options("/c", agent(1));
    options.method = "PUT".into();
    options
        .headers
        .push(("Expect".into(), "100-continue".into()));
    let mut request = ClientRequest::new(options).unwrap();
    request.write(b"after continue").unwrap();
    assert_eq!(body_of(&request.end().unwrap()), b"PUT /c after continue");
}

#[test]
fn head_responses_have_no_body_and_keep_the_connection() {
    let server = echo_server(|_| {});
    let agent = agent(1);
    let mut options = server.options("/h", agent.clone());
    options.method = "HEAD".into();
    let response = ClientRequest::new(options).unwrap().end().unwrap();
    assert_eq!(
        response.header("content-length").unwrap().to_str().unwrap(),
        "8" // "HEAD /h "
    );
    assert!(body_of(&response).is_empty());
    drop(response);
    let again = ClientRequest::new(server.options("/", agent))
        .unwrap()
        .end()
        .unwrap();
    assert_eq!(body_of(&again), b"GET / ");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn a_pooled_connection_the_server_closed_is_not_an_error() {
    let server = echo_server(|o| o.keep_alive_timeout = Duration::from_millis(50));
    let agent = agent(1);
    let first = ClientRequest::new(server.options("/1", agent.clone()))
        .unwrap()
        .end()
        .unwrap();
    assert_eq!(body_of(&first), b"GET /1 ");
    std::thread::sleep(Duration::from_millis(300));
    let second = ClientRequest::new(server.options("/2", agent))
        .unwrap()
        .end()
        .unwrap();
    assert_eq!(body_of(&second), b"GET /2 ");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn a_second_connection_resumes_the_tls_session() {
    let server = echo_server(|_| {});
    let agent = Arc::new(Agent::new(AgentOptions {
        keep_alive: false,
        ..AgentOptions::default()
    }));
    let first = ClientRequest::new(server.options("/", AgentChoice::Agent(agent.clone())))
        .unwrap()
        .end()
        .unwrap();
    assert!(!first.socket().session_reused);
    body_of(&first);
    drop(first);
    let second = ClientRequest::new(server.options("/", AgentChoice::Agent(agent)))
        .unwrap()
        .end()
        .unwrap();
    assert!(second.socket().session_reused);
}

#[test]
fn verification_failures_carry_node_codes() {
    let server = echo_server(|_| {});
    let mut untrusted = server.options("/", AgentChoice::None);
    untrusted.tls.ca_pem.clear(); // the system's roots do not know the development certificate
    let error = ClientRequest::new(untrusted).unwrap().end().unwrap_err();
    assert!(
        matches!(
            error,
            nhttps::Error::Verify {
                code: "DEPTH_ZERO_SELF_SIGNED_CERT",
                ..
            }
        ),
        "{error}"
    );

    let mut wrong_name = server.options("/", AgentChoice::None);
    wrong_name.tls.servername = Some("example.test".into());
    let error = ClientRequest::new(wrong_name).unwrap().end().unwrap_err();
    assert!(
        matches!(
            error,
            nhttps::Error::Verify {
                code: "ERR_TLS_CERT_ALTNAME_INVALID",
                ..
            }
        ),
        "{error}"
    );

    let mut insecure = server.options("/", AgentChoice::None);
    insecure.tls.ca_pem.clear();
    insecure.tls.reject_unauthorized = false;
    assert_eq!(
        ClientRequest::new(insecure)
            .unwrap()
            .end()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn connection_refused_and_dns_failures_are_told_apart() {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = RequestOptions::from_url(&format!("https://127.0.0.1:{free_port}/")).unwrap();
    options.agent = AgentChoice::None;
    assert!(matches!(
        ClientRequest::new(options).unwrap().end(),
        Err(nhttps::Error::ConnectionRefused(_))
    ));
    let mut options = RequestOptions::from_url("https://no-such-host.invalid/").unwrap();
    options.agent = AgentChoice::None;
    assert!(matches!(
        ClientRequest::new(options).unwrap().end(),
        Err(nhttps::Error::Dns(_))
    ));
}

#[test]
fn stats_count_connections_in_use_and_free() {
    let server = echo_server(|_| {});
    let shared = Arc::new(Agent::new(AgentOptions::default()));
    let response = ClientRequest::new(server.options("/", AgentChoice::Agent(shared.clone())))
        .unwrap()
        .end()
        .unwrap();
    let total = shared.stats().pop().unwrap();
    assert_eq!((total.in_use, total.free), (1, 0));
    body_of(&response);
    let stats = shared.stats();
    assert_eq!((stats[0].in_use, stats[0].free), (0, 1));
    assert_eq!(stats[0].name, format!("localhost:{}", server.server.port()));
}

#[test]
fn requests_over_a_unix_socket_still_speak_tls() {
    let mut options = ServerOptions::default();
    options.tls.context.dev_certificate = true;
    let server = Server::new(options).unwrap();
    server.set_handlers(|h| {
        h.request = Some(Arc::new(|req, res| {
            res.end(req.socket().tls_version.as_ref().unwrap().to_bytes())
                .unwrap()
        }))
    });
    let path = std::env::temp_dir().join(format!("nhttps-client-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    server.listen_unix(&path).unwrap();
    let mut options = RequestOptions {
        socket_path: Some(path.clone()),
        agent: AgentChoice::None,
        ..RequestOptions::default()
    };
    options.tls.ca_pem = vec![server.certificate_pem().to_bytes().to_vec()];
    let response = ClientRequest::new(options).unwrap().end().unwrap();
    assert_eq!(body_of(&response), b"TLSv1.3");
    server.close();
    assert!(!path.exists());
}

#[test]
fn async_requests_call_back_from_other_threads() {
    let server = echo_server(|_| {});
    let agent = agent(2);
    let results = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..10 {
        let results = results.clone();
        let tx = tx.clone();
        ClientRequest::new(server.options(&format!("/{i}"), agent.clone()))
            .unwrap()
            .end_async(move |response| {
                results.lock().unwrap().push(body_of(&response.unwrap()));
                tx.send(()).unwrap();
            });
    }
    for _ in 0..10 {
        rx.recv_timeout(Duration::from_secs(20)).unwrap();
    }
    assert_eq!(results.lock().unwrap().len(), 10);
}

#[test]
fn a_101_response_hands_over_the_connection_with_the_bytes_already_read() {
    let mut options = ServerOptions::default();
    options.tls.context.dev_certificate = true;
    let server = Server::new(options).unwrap();
    server.set_handlers(|h| {
        h.upgrade = Some(Arc::new(|_req, socket, _head| {
            socket
                .write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello")
                .unwrap();
            let mut buf = [0u8; 16];
            let n = socket.read(&mut buf).unwrap();
            socket.write(&[b"echo:", &buf[..n]].concat()).unwrap();
            socket.close();
        }))
    });
    server.listen(Some("127.0.0.1"), 0).unwrap();
    let mut options =
        RequestOptions::from_url(&format!("https://localhost:{}/", server.port())).unwrap();
    options.tls.ca_pem = vec![server.certificate_pem().to_bytes().to_vec()];
    options.agent = AgentChoice::None;
    options.headers = vec![
        ("Connection".into(), "Upgrade".into()),
        ("Upgrade".into(), "echo".into()),
    ];
    let response = ClientRequest::new(options).unwrap().end().unwrap();
    assert_eq!(response.status(), 101);
    let socket = response.upgrade().expect("the connection");
    drop(response);
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 5 {
        let n = socket.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"hello");
    socket.write(b"ping").unwrap();
    let n = socket.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"echo:ping");
}

// ---- plain HTTP (protocol "http:") against a plain std server ----------

/// A legacy plain-HTTP server (no TLS) on a std listener: each request's
/// head and body are recorded and answered with `METHOD PATH BODYLEN`.
/// A connection that opens with a TLS handshake is closed at once.
#[derive(Clone, Default)]
struct PlainLog {
    connections: Arc<AtomicUsize>,
    /// Every request, in arrival order.
    requests: Arc<Mutex<Vec<PlainRequest>>>,
}

/// A request's head (as text) and body.
type PlainRequest = (String, Vec<u8>);

fn plain_tcp_server() -> (u16, PlainLog) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = PlainLog::default();
    let l = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let l = l.clone();
            std::thread::spawn(move || serve_plain(stream, &l));
        }
    });
    (port, log)
}

fn serve_plain(mut stream: impl std::io::Read + std::io::Write, log: &PlainLog) {
    use std::io::{BufRead, BufReader, Read};
    log.connections.fetch_add(1, Ordering::SeqCst);
    let mut first = [0u8; 1];
    if stream.read(&mut first).unwrap_or(0) == 0 || first[0] == 0x16 {
        return; // closed, or a TLS ClientHello: this server speaks plain HTTP only
    }
    let mut reader = BufReader::new(stream);
    let mut pending = Some(first[0]);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(b) = pending.take() {
                line.insert(0, b as char);
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let lower = head.to_ascii_lowercase();
        let mut body = Vec::new();
        if lower.contains("transfer-encoding: chunked") {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0u8; n + 2];
                reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(at) = lower.find("content-length: ") {
            let n: usize = lower[at + 16..]
                .split("\r\n")
                .next()
                .unwrap()
                .parse()
                .unwrap();
            body.resize(n, 0);
            reader.read_exact(&mut body).unwrap();
        }
        let mut words = head.split(' ');
        let answer = format!(
            "{} {} {}",
            words.next().unwrap(),
            words.next().unwrap(),
            body.len()
        );
        log.requests.lock().unwrap().push((head, body));
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Plain: yes\r\n\r\n{answer}",
            answer.len()
        );
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn an_http_url_speaks_plain_http_to_a_plain_tcp_server() {
    let (port, log) = plain_tcp_server();
    let agent = agent(1);
    let options = |path: &str| {
        let mut o = RequestOptions::from_url(&format!("http://127.0.0.1:{port}{path}")).unwrap();
        o.agent = agent.clone();
        o
    };
    let response = ClientRequest::new(options("/p?q=1"))
        .unwrap()
        .end()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("x-plain").unwrap().to_str().unwrap(), "yes");
    assert!(response.socket().tls_version.is_none());
    assert!(response.socket().cipher.is_none());
    assert!(!response.socket().reused_connection);
    assert_eq!(body_of(&response), b"GET /p?q=1 0");
    drop(response);

    // A chunked body and one by length, byte-exact, on the same connection.
    let payload: Vec<u8> = (0..100_000).map(|i| (i * 7 % 251) as u8).collect();
    let mut post = options("/up");
    post.method = "POST".into();
    let mut request = ClientRequest::new(post.clone()).unwrap();
    for piece in payload.chunks(7_000) {
        request.write(piece).unwrap();
    }
    let response = request.end().unwrap();
    assert!(response.socket().reused_connection);
    assert_eq!(body_of(&response), b"POST /up 100000");
    post.headers
        .push(("Content-Length".into(), payload.len().to_string()));
    let mut request = ClientRequest::new(post).unwrap();
    request.write(&payload).unwrap();
    assert_eq!(body_of(&request.end().unwrap()), b"POST /up 100000");

    assert_eq!(log.connections.load(Ordering::SeqCst), 1);
    let requests = log.requests.lock().unwrap();
    assert_eq!(requests.len(), 3);
    assert!(requests[0].0.starts_with("GET /p?q=1 HTTP/1.1\r\n"));
    assert!(
        requests[0]
            .0
            .contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n"))
    );
    assert!(requests[1].0.contains("Transfer-Encoding: chunked\r\n"));
    assert_eq!(requests[1].1, payload);
    assert_eq!(requests[2].1, payload);
}

#[test]
fn the_protocol_option_picks_plain_http_and_its_own_pool() {
    let (port, log) = plain_tcp_server();
    let shared = agent(5);
    let mut plain = RequestOptions {
        protocol: nhttps::client::Protocol::from_node_name("http:").unwrap(),
        hostname: Some("127.0.0.1".into()),
        agent: shared.clone(),
        ..RequestOptions::default()
    };
    assert_eq!(plain.port(), 80);
    plain.port = Some(port);
    let response = ClientRequest::new(plain.clone()).unwrap().end().unwrap();
    assert_eq!(body_of(&response), b"GET / 0");
    drop(response);
    // The same host and port over https: never the pooled plain connection.
    let mut tls = plain.clone();
    tls.protocol = nhttps::client::Protocol::Https;
    tls.timeout = Duration::from_secs(5);
    assert!(ClientRequest::new(tls).unwrap().end().is_err());
    assert_eq!(log.connections.load(Ordering::SeqCst), 2);
    // The plain connection is still pooled and reused.
    let response = ClientRequest::new(plain).unwrap().end().unwrap();
    assert!(response.socket().reused_connection);
    assert_eq!(body_of(&response), b"GET / 0");
    assert_eq!(log.requests.lock().unwrap().len(), 2);
}

#[test]
fn plain_http_works_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("nhttps-plain-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let log = PlainLog::default();
    let l = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            serve_plain(stream, &l);
        }
    });
    let mut options = RequestOptions::from_url("http://localhost/sock").unwrap();
    options.socket_path = Some(path.clone());
    options.agent = AgentChoice::None;
    let response = ClientRequest::new(options).unwrap().end().unwrap();
    assert_eq!(body_of(&response), b"GET /sock 0");
    assert!(response.socket().tls_version.is_none());
    let _ = std::fs::remove_file(&path);
    let requests = log.requests.lock().unwrap();
    assert!(requests[0].0.contains("\r\nHost: localhost\r\n"));
    assert!(requests[0].0.contains("\r\nConnection: close\r\n"));
}
