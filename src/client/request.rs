//! Node's `ClientRequest`: the head and body sent on a connection from an
//! agent, and the response read back.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::agent::{Agent, AgentOptions, Lease, PoolKey};
use super::connection::{ClientConnection, ClientSocket, TlsStart};
use super::options::{AgentChoice, RequestOptions};
use super::request_threads;
use crate::error::{Error, Result};
use crate::http::{BodyKind, BodyReader, HeaderFields, Limits, StatusHead, read_status_head};
use crate::message::{BodySource, IncomingMessage};
use crate::net::UpgradedSocket;
use crate::tls::ClientSession;

/// How long to wait for `100 Continue` before sending the body anyway (as curl).
const CONTINUE_WAIT: Duration = Duration::from_secs(1);
/// Body bytes kept to replay a request once on a fresh connection.
const REPLAY_LIMIT: usize = 64 * 1024;

/// The agent behind `agent: false`: fresh connections, closed after use.
fn no_agent() -> Arc<Agent> {
    static NO_AGENT: OnceLock<Arc<Agent>> = OnceLock::new();
    NO_AGENT
        .get_or_init(|| {
            Arc::new(Agent::new(AgentOptions {
                max_sockets: usize::MAX,
                keep_alive: false,
                ..AgentOptions::default()
            }))
        })
        .clone()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Nothing sent yet: decided by the first write or by `end`.
    Undecided,
    Length(u64),
    Chunked,
}

/// A request being sent. `write` body pieces, then `end` to get the response.
pub struct ClientRequest {
    options: RequestOptions,
    agent: Arc<Agent>,
    key: PoolKey,
    keep_alive: bool,
    connection: Option<ClientConnection>,
    framing: Framing,
    /// Body bytes sent so far, while they fit in `REPLAY_LIMIT`.
    replay: Option<Vec<u8>>,
    /// A final response that came instead of `100 Continue`.
    early_response: Option<StatusHead>,
}

impl ClientRequest {
    /// Checks the options; nothing is sent until the first `write` or `end`.
    pub fn new(options: RequestOptions) -> Result<ClientRequest> {
        options.validate()?;
        let (agent, keep_alive) = match &options.agent {
            AgentChoice::Global => (super::agent::global_agent(), true),
            AgentChoice::Agent(agent) => (agent.clone(), agent.options().keep_alive),
            AgentChoice::None => (no_agent(), false),
        };
        let key = PoolKey::new(&options);
        let framing = match find_header(&options.headers, "content-length") {
            // `validate` refused any other value.
            Some(v) => Framing::Length(
                crate::http::parse_content_length(v.trim().as_bytes()).ok_or_else(|| {
                    Error::invalid("the Content-Length header is not a plain decimal number")
                })?,
            ),
            None => Framing::Undecided,
        };
        Ok(ClientRequest {
            options,
            agent,
            key,
            keep_alive,
            connection: None,
            framing,
            replay: Some(Vec::new()),
            early_response: None,
        })
    }

    /// Sends a piece of the body (connecting and sending the head first):
    /// chunked unless a Content-Length header was set.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.framing == Framing::Undecided {
            self.framing = Framing::Chunked;
        }
        if self.connection.is_none() {
            let lease = self.agent.acquire(&self.key)?;
            return self.send_head(lease, data);
        }
        self.send_body(data)
    }

    /// Finishes the request and blocks until the response head has arrived.
    pub fn end(self) -> Result<IncomingMessage> {
        if self.connection.is_none() {
            let lease = self.agent.acquire(&self.key)?;
            return self.end_with(lease);
        }
        self.complete()
    }

    /// Finishes the request without blocking: `done` is called once, on a
    /// thread of nhttps's (never the caller's), with the response or the
    /// error. A request that has no connection yet is queued on its agent
    /// now, in call order, and holds no thread while it waits for its turn.
    pub fn end_async(self, done: impl FnOnce(Result<IncomingMessage>) + Send + 'static) {
        if self.connection.is_some() {
            // Past the queue already (a body was written): only the rest to do.
            return request_threads::run(Box::new(move || done(self.complete())));
        }
        let agent = self.agent.clone();
        let key = self.key.clone();
        agent.acquire_async(
            &key,
            Box::new(move |lease| done(lease.and_then(|lease| self.end_with(lease)))),
        );
    }

    /// `end` for a request whose turn in its agent's queue has come.
    fn end_with(mut self, lease: Lease) -> Result<IncomingMessage> {
        if self.framing == Framing::Undecided {
            self.framing = Framing::Length(0);
        }
        self.send_head(lease, b"")?;
        self.complete()
    }

    /// Finishes the body and reads the response head; when the pooled
    /// connection turns out closed, sends the request once more on a fresh
    /// one (see `may_retry`).
    fn complete(mut self) -> Result<IncomingMessage> {
        self.finish_body()?;
        match self.read_response() {
            Ok(response) => Ok(response),
            Err(e) if self.may_retry(&e) => {
                let replay = self.replay.take().unwrap_or_default();
                // The fresh connection takes the closed one's place in the
                // pool: the request does not queue again.
                if let Some(closed) = self.connection.take() {
                    closed.close();
                }
                let lease = self.agent.lease_again(&self.key);
                self.send_head(lease, &replay)?;
                self.finish_body()?;
                self.read_response()
            }
            Err(e) => {
                self.discard_connection();
                Err(e)
            }
        }
    }

    /// The server closed a pooled connection under us before answering:
    /// safe to send again once, on a fresh connection, for an idempotent
    /// request whose body we still have.
    fn may_retry(&self, error: &Error) -> bool {
        let idempotent = matches!(
            self.options.method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
        );
        let closed = matches!(error, Error::ConnectionClosed) || matches!(error, Error::Io(_));
        closed
            && idempotent
            && self.replay.is_some()
            && self.connection.as_ref().is_some_and(|c| c.reused)
            && self.early_response.is_none()
    }

    fn discard_connection(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.agent.release(&self.key, Some(connection), false);
        }
    }

    /// A new connection under an `Open` lease: with the pool's TLS
    /// configuration and `session` to offer for `https:`, plain for `http:`.
    fn open(&self, session: Option<&ClientSession>) -> Result<ClientConnection> {
        let connector = self.agent.connector(&self.key)?;
        let tls = connector
            .as_ref()
            .map(|connector| TlsStart { connector, session });
        ClientConnection::open(&self.options, tls)
    }

    /// Connects under `lease` (or takes the pooled connection it lends)
    /// and sends the head with the first body bytes.
    fn send_head(&mut self, lease: Lease, first_body: &[u8]) -> Result<()> {
        let connection = match lease {
            Lease::Reused(connection) => connection,
            Lease::Open(session) => match self.open(session.as_ref()) {
                Ok(connection) => {
                    self.agent.remember_session(&self.key, connection.session());
                    connection
                }
                Err(e) => {
                    self.agent.release(&self.key, None, false);
                    return Err(e);
                }
            },
        };
        let _ = connection
            .stream
            .get_ref()
            .transport()
            .set_read_timeout(Some(self.options.timeout));
        let head = self.encode_head();
        self.connection = Some(connection);
        if self.expects_continue() {
            self.send_raw(&[&head])?;
            self.await_continue()?;
            return self.send_body(first_body);
        }
        let framed = self.frame(first_body)?;
        self.send_raw(&[&head, &framed.0, first_body, framed.1])?;
        self.keep_for_replay(first_body);
        Ok(())
    }

    fn expects_continue(&self) -> bool {
        find_header(&self.options.headers, "expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    /// Waits briefly for `100 Continue`; a final response instead means the
    /// server does not want the body.
    fn await_continue(&mut self) -> Result<()> {
        let timeout = self.options.timeout;
        let method = self.options.method.clone();
        let connection = self.connection.as_mut().ok_or(Error::ConnectionClosed)?;
        let transport = connection.stream.get_ref().transport();
        let _ = transport.set_read_timeout(Some(CONTINUE_WAIT));
        let answer = read_status_head(&mut connection.stream, &Limits::default(), &method);
        let _ = connection
            .stream
            .get_ref()
            .transport()
            .set_read_timeout(Some(timeout));
        match answer {
            Ok(head) if head.status() == 100 => Ok(()),
            Ok(head) if head.is_informational() => Ok(()),
            Ok(head) => {
                self.early_response = Some(head);
                Ok(())
            }
            Err(Error::Timeout(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn encode_head(&self) -> Vec<u8> {
        let o = &self.options;
        let mut head = format!("{} {} HTTP/1.1\r\n", o.method, o.path).into_bytes();
        let mut add = |name: &str, value: &str| {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        };
        if find_header(&o.headers, "host").is_none() {
            let host = o.target_host();
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            };
            // The port is left out when it is the protocol's default.
            let value = if o.port() == o.protocol.default_port() || o.socket_path.is_some() {
                host
            } else {
                format!("{host}:{}", o.port())
            };
            add("Host", &value);
        }
        for (name, value) in &o.headers {
            add(name, value);
        }
        if let Some(auth) = &o.auth
            && find_header(&o.headers, "authorization").is_none()
        {
            add(
                "Authorization",
                &format!("Basic {}", openssl::base64::encode_block(auth.as_bytes())),
            );
        }
        if find_header(&o.headers, "connection").is_none() {
            add(
                "Connection",
                if self.keep_alive {
                    "keep-alive"
                } else {
                    "close"
                },
            );
        }
        match self.framing {
            Framing::Chunked => add("Transfer-Encoding", "chunked"),
            Framing::Length(n) if find_header(&o.headers, "content-length").is_none() => {
                let bodiless = matches!(
                    o.method.as_str(),
                    "GET" | "HEAD" | "DELETE" | "OPTIONS" | "TRACE" | "CONNECT"
                );
                if n > 0 || !bodiless {
                    add("Content-Length", &n.to_string());
                }
            }
            _ => {}
        }
        head.extend_from_slice(b"\r\n");
        head
    }

    /// The chunk header and trailer around `data`, or checks the length.
    fn frame(&mut self, data: &[u8]) -> Result<(Vec<u8>, &'static [u8])> {
        match self.framing {
            Framing::Chunked if !data.is_empty() => {
                Ok((format!("{:x}\r\n", data.len()).into_bytes(), b"\r\n"))
            }
            Framing::Length(remaining) => {
                if data.len() as u64 > remaining {
                    return Err(Error::invalid(
                        "more body than the Content-Length header announced",
                    ));
                }
                self.framing = Framing::Length(remaining - data.len() as u64);
                Ok((Vec::new(), b""))
            }
            _ => Ok((Vec::new(), b"")),
        }
    }

    fn send_body(&mut self, data: &[u8]) -> Result<()> {
        if self.early_response.is_some() || data.is_empty() {
            return Ok(());
        }
        let framed = self.frame(data)?;
        self.send_raw(&[&framed.0, data, framed.1])?;
        self.keep_for_replay(data);
        Ok(())
    }

    fn keep_for_replay(&mut self, data: &[u8]) {
        if let Some(replay) = &mut self.replay {
            if replay.len() + data.len() <= REPLAY_LIMIT {
                replay.extend_from_slice(data);
            } else {
                self.replay = None;
            }
        }
    }

    fn finish_body(&mut self) -> Result<()> {
        if self.early_response.is_some() {
            return Ok(());
        }
        match self.framing {
            Framing::Chunked => self.send_raw(&[b"0\r\n\r\n"]),
            Framing::Length(0) | Framing::Undecided => Ok(()),
            Framing::Length(left) => Err(Error::state(format!(
                "the request ended {left} bytes short of its Content-Length"
            ))),
        }
    }

    fn send_raw(&mut self, parts: &[&[u8]]) -> Result<()> {
        let connection = self.connection.as_mut().ok_or(Error::ConnectionClosed)?;
        let all = parts.concat();
        connection.stream.get_mut().write_all(&all)?;
        Ok(())
    }

    fn read_response(&mut self) -> Result<IncomingMessage> {
        let head = match self.early_response.take() {
            Some(head) => head,
            None => loop {
                let connection = self.connection.as_mut().ok_or(Error::ConnectionClosed)?;
                let head = read_status_head(
                    &mut connection.stream,
                    &Limits::default(),
                    &self.options.method,
                )
                .map_err(refused_by_alert)?;
                if !head.is_informational() {
                    break head;
                }
            },
        };
        let connection = self.connection.take().ok_or(Error::ConnectionClosed)?;
        let mut info = (*connection.info).clone();
        info.reused_connection = connection.reused;
        // A request whose body was refused leaves the connection unusable.
        let body_sent = !matches!(self.framing, Framing::Length(n) if n > 0);
        let reusable = self.keep_alive && head.keep_alive() && body_sent && head.status() != 101;
        let body = Arc::new(ResponseBody {
            state: Mutex::new(BodyState {
                connection: Some(connection),
                reader: BodyReader::new(head.body_kind()),
            }),
            agent: self.agent.clone(),
            key: self.key.clone(),
            reusable,
        });
        // A 101's connection waits for `upgrade`; an empty body's goes back now.
        if head.body_kind() == BodyKind::Empty && head.status() != 101 {
            body.give_back(&mut body.lock());
        }
        Ok(IncomingMessage::response(head, Arc::new(info), body))
    }
}

impl Drop for ClientRequest {
    /// A request dropped before `end` closes its connection.
    fn drop(&mut self) {
        self.discard_connection();
    }
}

/// A TLS alert where the response should be is the server refusing the
/// handshake after the fact: in TLS 1.3 the verdict on a client
/// certificate arrives only with the first read.
fn refused_by_alert(error: Error) -> Error {
    let is_tls_alert = match &error {
        Error::Io(e) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
            .is_some_and(|tls| tls.ssl_error().is_some()),
        _ => false,
    };
    if is_tls_alert {
        Error::Handshake(format!("the server refused the connection: {error}"))
    } else {
        error
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

struct BodyState {
    connection: Option<ClientConnection>,
    reader: BodyReader,
}

/// A response body read off its connection, which goes back to the agent
/// once the body has been read to the end (or is closed when the response
/// is dropped before that).
struct ResponseBody {
    state: Mutex<BodyState>,
    agent: Arc<Agent>,
    key: PoolKey,
    reusable: bool,
}

impl ResponseBody {
    fn lock(&self) -> std::sync::MutexGuard<'_, BodyState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn give_back(&self, state: &mut BodyState) {
        if let Some(connection) = state.connection.take() {
            let reusable = self.reusable && state.reader.is_done();
            self.agent.release(&self.key, Some(connection), reusable);
        }
    }
}

impl BodySource for ResponseBody {
    fn read(&self, out: &mut [u8]) -> Result<usize> {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(connection) = state.connection.as_mut() else {
            return if state.reader.is_done() {
                Ok(0)
            } else {
                Err(Error::ConnectionClosed)
            };
        };
        match state.reader.read(&mut connection.stream, out) {
            Ok(n) => {
                if state.reader.is_done() {
                    self.give_back(state);
                }
                Ok(n)
            }
            Err(e) => {
                self.give_back(state);
                Err(e)
            }
        }
    }

    fn trailers(&self) -> HeaderFields {
        self.lock().reader.trailers().clone()
    }

    fn upgrade(&self) -> Option<UpgradedSocket> {
        let mut state = self.lock();
        // An `UpgradedSocket` is TLS only: a plain `http:` connection is
        // not handed over (it stays here and is closed with the response).
        state.connection.as_ref()?.stream.get_ref().ssl()?;
        let connection = state.connection.take()?;
        drop(state);
        // The agent lent this connection; it is the caller's now.
        self.agent.release(&self.key, None, false);
        let info = (*connection.info).clone();
        let (socket, pending) = connection.stream.into_parts();
        match socket {
            ClientSocket::Tls(ssl) => Some(UpgradedSocket::new(ssl, info, pending)),
            ClientSocket::Plain(_) => None,
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.give_back(&mut state);
    }
}
