//! Node's `https.Server`: a listener with an accept thread, one thread per
//! connection, Node's events, and a graceful close.

mod connection;
mod exchange;
mod listener;
mod pool;
mod queue;
mod registration;
mod stack;

pub use crate::message::IncomingMessage;
pub use crate::net::{SocketInfo, UpgradedSocket};
pub use exchange::ServerResponse;
pub use queue::{Queued, Taken};

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, Shutdown};
use std::os::unix::io::RawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::{self, JoinHandle};

use registration::Registration;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, check_timeout};
use crate::http::Limits;
use crate::net::{Traffic, Transport};
use crate::tls::{
    SecureContext, ServerTls, SniCallback, TicketKeys, TlsOptions, alpn_wire_format,
    check_ocsp_response, read_file,
};
use listener::Listener;
use pool::Pool;

/// Node's `request` and `checkContinue` listener.
pub type RequestHandler = Arc<dyn Fn(Arc<IncomingMessage>, ServerResponse) + Send + Sync>;
/// `connection`: return false to refuse the connection (it is closed before the handshake).
pub type ConnectionHandler = Arc<dyn Fn(&SocketInfo) -> bool + Send + Sync>;
/// `upgrade`: the request, the socket (now the handler's) and the bytes read past the head.
pub type UpgradeHandler = Arc<dyn Fn(Arc<IncomingMessage>, UpgradedSocket, &[u8]) + Send + Sync>;
/// `clientError` (and `tlsClientError`): what went wrong, on which connection.
pub type ClientErrorHandler = Arc<dyn Fn(&Error, &SocketInfo) + Send + Sync>;
/// `close`, `listening`.
pub type EventHandler = Arc<dyn Fn() + Send + Sync>;
/// `secureConnection`: a handshake succeeded; the connection's details.
pub type SecureConnectionHandler = Arc<dyn Fn(&SocketInfo) + Send + Sync>;
pub use crate::tls::KeylogHandler;

/// The listeners of a server's events. Every one is called on a connection's
/// thread, except `listening` (on the thread that called `listen`) and
/// `close` (on the thread that finished the close).
#[derive(Clone, Default)]
pub struct Handlers {
    pub request: Option<RequestHandler>,
    pub check_continue: Option<RequestHandler>,
    pub connection: Option<ConnectionHandler>,
    pub upgrade: Option<UpgradeHandler>,
    pub client_error: Option<ClientErrorHandler>,
    /// Handshake failures; when unset they go to `client_error`.
    pub tls_client_error: Option<ClientErrorHandler>,
    pub secure_connection: Option<SecureConnectionHandler>,
    /// Key-log lines, called during handshakes on the connection's thread.
    pub keylog: Option<KeylogHandler>,
    pub close: Option<EventHandler>,
    pub listening: Option<EventHandler>,
    /// Not in Node: called on each of the server's threads as it leaves
    /// the pool (after its last job), so that a language runtime can drop
    /// what it keeps per thread.
    pub thread_exit: Option<EventHandler>,
}

/// Everything `https.createServer` takes, and a few limits of our own.
#[derive(Clone)]
pub struct ServerOptions {
    pub tls: TlsOptions,
    /// Node's `SNICallback`: picks the context for a server name (`None`:
    /// the default). Without it, the `add_context` table is used.
    pub sni_callback: Option<SniCallback>,
    pub limits: Limits,
    /// Node's `maxConnections`: past it, new connections are closed at once,
    /// before the handshake. 0 = no limit.
    pub max_connections: usize,
    /// Node's `maxRequestsPerSocket`: the response to the last request a
    /// connection may carry says `Connection: close`, and the connection
    /// ends after it. 0 = no limit.
    pub max_requests_per_socket: u32,
    /// Not in Node: past this many open connections from one IP address,
    /// new ones from it are closed at once, before the handshake. 0 = no
    /// limit. Unix-socket peers are not counted.
    pub max_connections_per_ip: u32,
    /// How long a request head may take from its first byte (Node's
    /// `headersTimeout`: 60 s). On a new connection it counts from the end
    /// of the handshake.
    pub headers_timeout: Duration,
    /// Idle time allowed between requests on a kept-alive connection (Node: 5 s).
    pub keep_alive_timeout: Duration,
    /// How long one read or write may block while a request is served (Node's `requestTimeout`: 300 s).
    pub request_timeout: Duration,
    /// How long a TLS handshake may take (Node's `handshakeTimeout`: 120 s).
    pub handshake_timeout: Duration,
    /// Stack size of each connection thread. Only the pages a thread
    /// touches cost memory; the rest is address space.
    pub thread_stack_size: usize,
    /// Not in Node (its `reusePort` is `net`'s): bind with `SO_REUSEPORT`,
    /// so that several processes serve one port, the kernel spreading new
    /// connections among them (a rolling restart starts the new process
    /// before it stops the old one).
    pub reuse_port: bool,
    /// Not in Node: every connection starts with a PROXY protocol header
    /// (v1 or v2, HAProxy's), read before the TLS handshake; the addresses
    /// it carries are the connection's remote and local ones from then on.
    /// A connection without a valid one is closed and reported to
    /// `clientError`.
    pub proxy_protocol: bool,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            tls: TlsOptions::default(),
            sni_callback: None,
            limits: Limits::default(),
            max_connections: 0,
            max_requests_per_socket: 0,
            max_connections_per_ip: 0,
            headers_timeout: Duration::from_secs(60),
            keep_alive_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(300),
            handshake_timeout: Duration::from_secs(120),
            thread_stack_size: 1024 * 1024,
            reuse_port: false,
            proxy_protocol: false,
        }
    }
}

/// The server's timeouts, for `ServerOptions::set_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerTimeout {
    /// Node's `keepAliveTimeout`.
    KeepAlive,
    /// Node's `headersTimeout`.
    Headers,
    /// Node's `requestTimeout`.
    Request,
    /// Node's `handshakeTimeout`.
    Handshake,
}

/// The smallest stack a connection thread may be given.
const MIN_THREAD_STACK_SIZE: usize = 64 * 1024;
/// The smallest `max_header_size`: room for a short request line.
const MIN_MAX_HEADER_SIZE: usize = 64;

/// The setters that check a value before taking it: each refuses a value
/// out of its range with `InvalidArgument` and leaves the option as it was;
/// none clamps. The other options are plain fields, where every value
/// (0 included, documented on each) means what it says.
impl ServerOptions {
    /// Sets one of the server's timeouts; at least 1 ms (`check_timeout`).
    pub fn set_timeout(&mut self, which: ServerTimeout, timeout: Duration) -> Result<()> {
        let (field, what) = match which {
            ServerTimeout::KeepAlive => (&mut self.keep_alive_timeout, "keep-alive timeout"),
            ServerTimeout::Headers => (&mut self.headers_timeout, "headers timeout"),
            ServerTimeout::Request => (&mut self.request_timeout, "request timeout"),
            ServerTimeout::Handshake => (&mut self.handshake_timeout, "handshake timeout"),
        };
        *field = check_timeout(what, timeout)?;
        Ok(())
    }

    /// At least `MIN_THREAD_STACK_SIZE`.
    pub fn set_thread_stack_size(&mut self, bytes: usize) -> Result<()> {
        if bytes < MIN_THREAD_STACK_SIZE {
            return Err(Error::invalid(
                "the thread stack size must be at least 64 KiB",
            ));
        }
        self.thread_stack_size = bytes;
        Ok(())
    }

    /// Node's `maxHeaderSize`; at least `MIN_MAX_HEADER_SIZE`.
    pub fn set_max_header_size(&mut self, bytes: usize) -> Result<()> {
        if bytes < MIN_MAX_HEADER_SIZE {
            return Err(Error::invalid(
                "the maximum header size must be at least 64 bytes",
            ));
        }
        self.limits.max_header_size = bytes;
        Ok(())
    }

    /// Node's `sessionIdContext`: 1 to 32 bytes (OpenSSL's limit).
    pub fn set_session_id_context(&mut self, context: &[u8]) -> Result<()> {
        if !(1..=32).contains(&context.len()) {
            return Err(Error::invalid(
                "the session id context must be 1 to 32 bytes",
            ));
        }
        self.tls.session_id_context = Some(context.to_vec());
        Ok(())
    }

    /// Node's `sessionTimeout`, in seconds: at least 1. (OpenSSL would take
    /// 0 as its default of 300 s: a silent substitution nhttps refuses.)
    pub fn set_session_timeout(&mut self, seconds: u32) -> Result<()> {
        if seconds == 0 {
            return Err(Error::invalid("the session timeout must be at least 1 s"));
        }
        self.tls.session_timeout = seconds;
        Ok(())
    }

    /// Node's `ALPNProtocols`: each name 1 to 255 bytes.
    pub fn set_alpn_protocols(&mut self, protocols: Vec<String>) -> Result<()> {
        alpn_wire_format(&protocols)?;
        self.tls.context.policy.alpn_protocols = protocols;
        Ok(())
    }

    /// Node's `NPNProtocols`: each name 1 to 255 bytes.
    pub fn set_npn_protocols(&mut self, protocols: Vec<String>) -> Result<()> {
        alpn_wire_format(&protocols)?;
        self.tls.npn_protocols = protocols;
        Ok(())
    }

    /// Node's `ticketKeys`: exactly `TICKET_KEYS_LEN` bytes.
    pub fn set_ticket_keys(&mut self, keys: &[u8]) -> Result<()> {
        self.tls.ticket_keys = Some(ticket_keys_from(keys)?);
        Ok(())
    }

    /// The OCSP response to staple, DER: checked now (`check_ocsp_response`);
    /// empty removes it.
    pub fn set_ocsp_response(&mut self, der: &[u8]) -> Result<()> {
        if der.is_empty() {
            self.tls.context.ocsp_response = None;
            return Ok(());
        }
        check_ocsp_response(der)?;
        self.tls.context.ocsp_response = Some(der.to_vec());
        Ok(())
    }

    /// The OCSP response read from a file now and checked; an empty file
    /// holds no response and is refused (it does not remove one).
    pub fn set_ocsp_response_file(&mut self, path: &str) -> Result<()> {
        let der = read_file(path)?;
        check_ocsp_response(&der)?;
        self.tls.context.ocsp_response = Some(der);
        Ok(())
    }
}

/// Session-ticket keys from bytes: exactly `TICKET_KEYS_LEN` of them.
fn ticket_keys_from(keys: &[u8]) -> Result<TicketKeys> {
    TicketKeys::try_from(keys).map_err(|_| {
        Error::invalid("ticket keys must be exactly NHTTPS_TICKET_KEYS_LEN (80) bytes")
    })
}

struct ConnectionEntry {
    /// A second handle on the socket, to shut it down from `close` or when
    /// a deadline passes.
    socket: Transport,
    /// Shared with the connection's thread.
    registration: Arc<Registration>,
    /// The peer's address, counted in `State::per_ip` (when capped).
    ip: Option<IpAddr>,
}

#[derive(Default)]
struct State {
    listening: bool,
    closing: bool,
    accept_done: bool,
    close_emitted: bool,
    connections: HashMap<u64, ConnectionEntry>,
    /// Open connections per peer address, kept when `max_connections_per_ip` is set.
    per_ip: HashMap<IpAddr, u32>,
    next_id: u64,
}

/// How long `close` lets a connection that has not sent its first request
/// yet do so: one accepted just before the listening socket closed is
/// served, not reset (a rolling restart loses no request).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A server's counters since it started listening (`Server::stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted (including those refused at once by a limit).
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Of those, kept-alive connections waiting for their next request
    /// without a thread.
    pub idle: u64,
    /// TLS handshakes that failed or timed out.
    pub handshake_failures: u64,
    /// Requests read and handed to a listener (or answered by the server:
    /// 100-continue refusals, upgrades without a listener).
    pub requests: u64,
    /// Bytes read from and written to the sockets, TLS records included.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// `clientError` reports other than failed handshakes: malformed
    /// requests, bad PROXY headers, timeouts.
    pub client_errors: u64,
}

/// The counters the connection threads bump without a lock.
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    handshake_failures: AtomicU64,
    requests: AtomicU64,
    client_errors: AtomicU64,
    traffic: Arc<Traffic>,
}

/// What the accept thread and every connection thread share.
pub(crate) struct Shared {
    options: ServerOptions,
    tls: ServerTls,
    handlers: RwLock<Arc<Handlers>>,
    /// Bumped when `handlers` changes: connections keep their own copy
    /// until then (`CachedHandlers`).
    handlers_version: AtomicU64,
    /// `State::closing`, readable without the lock.
    closing: AtomicBool,
    /// `close` has shut the listening socket: the accept thread ends.
    accept_stopped: AtomicBool,
    state: Mutex<State>,
    connections_changed: Condvar,
    /// The threads, and the connections waiting without one.
    pool: Pool,
    counters: Counters,
    /// Where requests go when the application takes them (`queue_requests`).
    queue: std::sync::OnceLock<Arc<queue::RequestQueue>>,
}

/// A connection's copy of the server's listeners, taken again only when
/// they change: a request reads them without a lock and without touching a
/// reference count that every connection shares.
struct CachedHandlers {
    version: u64,
    handlers: Arc<Handlers>,
}

impl CachedHandlers {
    fn new(shared: &Shared) -> CachedHandlers {
        let version = shared.handlers_version.load(Ordering::Acquire);
        CachedHandlers {
            version,
            handlers: shared.handlers(),
        }
    }

    fn get(&mut self, shared: &Shared) -> &Handlers {
        let version = shared.handlers_version.load(Ordering::Acquire);
        if version != self.version {
            self.handlers = shared.handlers();
            self.version = version;
        }
        &self.handlers
    }
}

thread_local! {
    /// The server whose connection this thread serves (its `Shared`'s address), or 0.
    static CONNECTION_OF: Cell<usize> = const { Cell::new(0) };
}

fn mark_connection_thread(shared: &Arc<Shared>) {
    CONNECTION_OF.with(|c| c.set(Arc::as_ptr(shared) as usize));
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handlers(&self) -> Arc<Handlers> {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// A malformed request or a panic: `clientError`.
    fn report_client_error(&self, error: &Error, info: &SocketInfo) {
        self.report(error, info, false);
    }

    /// A failed (or timed-out) TLS handshake: `tlsClientError`, or
    /// `clientError` when no one listens to that, as in Node.
    fn report_handshake_error(&self, error: &Error, info: &SocketInfo) {
        self.report(error, info, true);
    }

    fn report(&self, error: &Error, info: &SocketInfo, during_handshake: bool) {
        let counter = if during_handshake {
            &self.counters.handshake_failures
        } else {
            &self.counters.client_errors
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let handlers = self.handlers();
        let tls_handler = if during_handshake {
            handlers.tls_client_error.as_ref()
        } else {
            None
        };
        if let Some(on_error) = tls_handler.or(handlers.client_error.as_ref()) {
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_error(error, info)));
        }
    }

    /// Admits a new connection; `None` when closing, at `max_connections`,
    /// or at `max_connections_per_ip` for the peer's address.
    fn register(&self, socket: &Transport) -> Option<Arc<Registration>> {
        let per_ip_cap = self.options.max_connections_per_ip;
        let ip = (per_ip_cap > 0).then(|| socket.remote_ip()).flatten();
        let socket = socket.try_clone().ok()?;
        let mut state = self.state();
        let max = self.options.max_connections;
        if state.closing || (max > 0 && state.connections.len() >= max) {
            return None;
        }
        if let Some(ip) = ip {
            let open = state.per_ip.entry(ip).or_insert(0);
            if *open >= per_ip_cap {
                return None;
            }
            *open += 1;
        }
        state.next_id += 1;
        let id = state.next_id;
        let registration = Arc::new(Registration::new(
            id,
            Instant::now() + self.options.handshake_timeout,
        ));
        state.connections.insert(
            id,
            ConnectionEntry {
                socket,
                registration: registration.clone(),
                ip,
            },
        );
        Some(registration)
    }

    /// Marks a connection idle, awaiting a request head by `deadline`
    /// (`None`: only its own wait bounds it). Returns false when the server
    /// is closing: the connection should end.
    fn set_idle(&self, registration: &Registration, deadline: Option<Instant>) -> bool {
        registration.set_deadline(deadline);
        registration.set_busy(false);
        !self.closing.load(Ordering::SeqCst)
    }

    fn unregister(&self, id: u64) {
        self.pool.forget(id);
        let (closing, none_left) = {
            let mut state = self.state();
            let ip = state.connections.remove(&id).and_then(|entry| entry.ip);
            if let Some(ip) = ip
                && let Some(open) = state.per_ip.get_mut(&ip)
            {
                *open -= 1;
                if *open == 0 {
                    state.per_ip.remove(&ip);
                }
            }
            (state.closing, state.connections.is_empty())
        };
        // Only a closing server waits for its connections to end (`close`,
        // and the watchdog to stop): waking the watchdog for every
        // connection would cost a context switch per connection.
        if closing {
            self.connections_changed.notify_all();
            if none_left {
                // Nothing can park any more.
                self.pool.stop();
            }
        }
        self.emit_close_when_done();
    }

    /// Emits `close` once: after `close` was asked, the accept thread has
    /// stopped and the last connection has ended.
    fn emit_close_when_done(&self) {
        {
            let mut state = self.state();
            if !state.closing
                || !state.accept_done
                || !state.connections.is_empty()
                || state.close_emitted
            {
                return;
            }
            state.close_emitted = true;
        }
        if let Some(queue) = self.queue.get() {
            queue.close();
        }
        if let Some(on_close) = self.handlers().close.clone() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_close()));
        }
    }
}

/// Node's `https.Server`.
pub struct Server {
    shared: Arc<Shared>,
    listener: Mutex<Option<(Arc<Listener>, JoinHandle<()>)>>,
    watchdog: Mutex<Option<JoinHandle<()>>>,
    port: Mutex<u16>,
}

impl Server {
    /// Builds the TLS configuration; fails on a bad key, certificate or passphrase.
    pub fn new(options: ServerOptions) -> Result<Server> {
        let tls = ServerTls::new(&options.tls)?;
        tls.set_sni_callback(options.sni_callback.clone());
        let shared = Shared {
            pool: Pool::new(options.thread_stack_size).map_err(Error::Io)?,
            options,
            tls,
            handlers: RwLock::new(Arc::new(Handlers::default())),
            handlers_version: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            accept_stopped: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            connections_changed: Condvar::new(),
            counters: Counters::default(),
            queue: std::sync::OnceLock::new(),
        };
        Ok(Server {
            shared: Arc::new(shared),
            listener: Mutex::new(None),
            watchdog: Mutex::new(None),
            port: Mutex::new(0),
        })
    }

    /// Changes the event listeners (Node's `server.on(...)`). Requests that
    /// arrive afterwards see the change.
    pub fn set_handlers(&self, change: impl FnOnce(&mut Handlers)) {
        let mut guard = self
            .shared
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let mut handlers = (**guard).clone();
        change(&mut handlers);
        self.shared.tls.set_keylog_handler(handlers.keylog.clone());
        *guard = Arc::new(handlers);
        self.shared.handlers_version.fetch_add(1, Ordering::Release);
    }

    /// Not in Node: from now on every request goes to a queue that the
    /// application's threads take from (`take_request`) instead of to the
    /// `request` listener (which this replaces). `checkContinue` is not
    /// queued: without its own listener, `100 Continue` goes out by itself.
    pub fn queue_requests(&self) {
        let queue = self
            .shared
            .queue
            .get_or_init(|| Arc::new(queue::RequestQueue::new()))
            .clone();
        self.set_handlers(|h| h.request = Some(queue.listener()));
    }

    /// The next queued request, waiting at most `timeout` (`None`: until
    /// one comes or the server has closed). Fails when requests are not
    /// queued.
    pub fn take_request(&self, timeout: Option<Duration>) -> Result<Taken> {
        match self.shared.queue.get() {
            Some(queue) => Ok(queue.take(timeout)),
            None => Err(Error::state(
                "requests are not queued (nhttps_server_queue_requests)",
            )),
        }
    }

    /// Listens on `host:port` (port 0: the system picks one; no host: every address).
    pub fn listen(&self, host: Option<&str>, port: u16) -> Result<()> {
        self.start(Listener::bind_tcp(
            host,
            port,
            self.shared.options.reuse_port,
        ))
    }

    /// Listens on a socket the program already has (systemd's socket
    /// activation, a previous process's): `fd` must be a listening TCP or
    /// unix stream socket, and the server owns it from then on (it is
    /// closed with the server, also when this fails for another reason).
    /// A descriptor that is not one is refused and left open.
    pub fn listen_fd(&self, fd: RawFd) -> Result<()> {
        self.start(Listener::adopt(fd))
    }

    /// The counters since the server started: cheap to call (no lock that
    /// a request takes, but `idle` walks the table of parked connections).
    pub fn stats(&self) -> ServerStats {
        let counters = &self.shared.counters;
        let open = self.shared.state().connections.len() as u64;
        ServerStats {
            accepted: counters.accepted.load(Ordering::Relaxed),
            open,
            idle: self.shared.pool.idle_count() as u64,
            handshake_failures: counters.handshake_failures.load(Ordering::Relaxed),
            requests: counters.requests.load(Ordering::Relaxed),
            bytes_in: counters.traffic.bytes_in.load(Ordering::Relaxed),
            bytes_out: counters.traffic.bytes_out.load(Ordering::Relaxed),
            client_errors: counters.client_errors.load(Ordering::Relaxed),
        }
    }

    /// Listens on a unix-domain socket at `path` (TLS still runs over it).
    pub fn listen_unix(&self, path: impl Into<PathBuf>) -> Result<()> {
        self.start(Listener::bind_unix(path.into()))
    }

    fn start(&self, bind: Result<Listener>) -> Result<()> {
        {
            let mut state = self.shared.state();
            if state.closing {
                return Err(Error::state("the server was closed"));
            }
            if state.listening {
                return Err(Error::state("the server is already listening"));
            }
            let listener = Arc::new(bind?);
            state.listening = true;
            *self.port.lock().unwrap_or_else(|p| p.into_inner()) = listener.port();
            self.shared.pool.start(&self.shared)?;
            let shared = self.shared.clone();
            let accepting = listener.clone();
            let thread = thread::Builder::new()
                .name("nhttps-accept".into())
                .spawn(move || accept_loop(&shared, &accepting))
                .map_err(Error::Io)?;
            *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some((listener, thread));
            let shared = self.shared.clone();
            let watchdog = thread::Builder::new()
                .name("nhttps-deadlines".into())
                .spawn(move || watch_deadlines(&shared))
                .map_err(Error::Io)?;
            *self.watchdog.lock().unwrap_or_else(|p| p.into_inner()) = Some(watchdog);
        }
        if let Some(on_listening) = self.shared.handlers().listening.clone() {
            on_listening();
        }
        Ok(())
    }

    /// The bound TCP port (0 before `listen` or for a unix socket).
    pub fn port(&self) -> u16 {
        *self.port.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The certificate the server presents, PEM (useful to trust the
    /// development certificate).
    pub fn certificate_pem(&self) -> &CStr {
        self.shared.tls.certificate_pem()
    }

    /// Node's `server.addContext(hostname, context)`: clients asking (by
    /// SNI) for `hostname` — or, for `*.example.com`, any one-label
    /// subdomain — get `context`. Later entries win.
    pub fn add_context(&self, hostname: &str, context: &Arc<SecureContext>) -> Result<()> {
        self.shared.tls.add_context(hostname, context)
    }

    /// Node's `server.setSecureContext`: swaps the default certificate.
    /// Connections already open keep theirs.
    pub fn set_secure_context(&self, context: &Arc<SecureContext>) -> Result<()> {
        self.shared.tls.set_secure_context(context)
    }

    /// Node's `server.getTicketKeys()`: the keys that encrypt session tickets.
    pub fn ticket_keys(&self) -> crate::tls::TicketKeys {
        self.shared.tls.ticket_keys()
    }

    /// Node's `server.setTicketKeys(keys)`: exactly `TICKET_KEYS_LEN` bytes.
    pub fn set_ticket_keys(&self, keys: &[u8]) -> Result<()> {
        self.shared.tls.set_ticket_keys(&ticket_keys_from(keys)?)
    }

    /// Node's `server.close()`: stops accepting, closes idle connections,
    /// lets requests in flight finish, then emits `close`. Returns when every
    /// connection thread has ended — except when called from one of this
    /// server's own connection threads, where it returns at once and `close`
    /// follows when the last connection ends. Calling it again is harmless.
    pub fn close(&self) {
        // The listening socket goes first, before anything is marked
        // closing: what the accept thread takes meanwhile is served (it
        // was the server's), and with `SO_REUSEPORT` and the kernel's
        // `tcp_migrate_req` the connections still queued move to another
        // process on the port instead of being reset.
        let accepting = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((listener, thread)) = accepting {
            self.shared.accept_stopped.store(true, Ordering::SeqCst);
            listener.wake();
            let _ = thread.join();
        }
        {
            let mut state = self.shared.state();
            state.closing = true;
            self.shared.closing.store(true, Ordering::SeqCst);
            let grace = Instant::now() + CLOSE_GRACE;
            for entry in state.connections.values() {
                let registration = &entry.registration;
                registration.mark_server_closing();
                if registration.is_fresh() {
                    // Accepted, not yet asked anything: its client has sent
                    // (or is sending) its hello and a first request, and
                    // gets an answer (with `Connection: close`) if that
                    // comes within the grace.
                    registration.shorten_deadline(grace);
                } else if !registration.is_busy() {
                    // Wakes a thread blocked reading the next request;
                    // writes of a response in flight are not affected.
                    let _ = entry.socket.shutdown(Shutdown::Read);
                }
            }
        }
        self.shared.state().accept_done = true;

        let on_own_thread = CONNECTION_OF.with(|c| c.get()) == Arc::as_ptr(&self.shared) as usize;
        if !on_own_thread {
            {
                let mut state = self.shared.state();
                while !state.connections.is_empty() {
                    state = self
                        .shared
                        .connections_changed
                        .wait(state)
                        .unwrap_or_else(|p| p.into_inner());
                }
            }
            self.shared.pool.stop();
            self.shared.pool.wait_all_exited();
            let watchdog = self
                .watchdog
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(watchdog) = watchdog {
                self.shared.connections_changed.notify_all();
                let _ = watchdog.join();
            }
        }
        self.shared.emit_close_when_done();
    }

    /// Whether the calling thread is one of this server's connection threads.
    pub fn is_connection_thread(&self) -> bool {
        CONNECTION_OF.with(|c| c.get()) == Arc::as_ptr(&self.shared) as usize
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}

/// How often the watchdog looks for connections past their deadline.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Enforces the handshake and head deadlines as wholes, not per read: a
/// peer that trickles a byte now and then is cut off all the same (the
/// slowloris attack). Runs until the server is closed and its last
/// connection has ended.
fn watch_deadlines(shared: &Shared) {
    let mut state = shared.state();
    loop {
        state = shared
            .connections_changed
            .wait_timeout(state, WATCH_INTERVAL)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        if state.closing && state.connections.is_empty() {
            break;
        }
        let now = Instant::now();
        for entry in state.connections.values() {
            if entry.registration.expire_if_due(now) {
                // Wakes the connection's thread; it can still answer (408).
                let _ = entry.socket.shutdown(Shutdown::Read);
            }
        }
        drop(state);
        shared
            .pool
            .release_buffers_parked_before(now - pool::RELEASE_BUFFERS_AFTER);
        state = shared.state();
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &Listener) {
    loop {
        let transport = match listener.accept() {
            Ok(transport) => {
                shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                transport.count_traffic(&shared.counters.traffic);
                transport
            }
            Err(_) if shared.accept_stopped.load(Ordering::SeqCst) => break,
            Err(e) => {
                // Out of descriptors or memory: wait for some to be freed
                // rather than spin.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::ConnectionAborted
                ) {
                    thread::sleep(Duration::from_millis(20));
                }
                continue;
            }
        };
        // Taken as `close` stopped the listener (maybe the connection that
        // woke this thread): served, and the last one.
        let last = shared.accept_stopped.load(Ordering::SeqCst);
        if let Some(registration) = shared.register(&transport) {
            let id = registration.id;
            if shared.pool.admit(registration, transport).is_err() {
                shared.unregister(id);
            }
        }
        if last {
            break;
        }
    }
}
