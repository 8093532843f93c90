//! One connection's life: the `connection` event, the TLS handshake, then
//! requests one after another until either side closes. A thread of the
//! pool serves the connection while it has work; when the connection waits
//! for its next request it parks (see `pool`) and the thread takes other
//! work. A response that is still being written when its request handler
//! returns (by a thread of the application's) holds no thread of the pool
//! either: the connection's turn goes on on the thread that ends it.

use std::io::Read;
use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::exchange::{
    DRAIN_LIMIT, Exchange, Outcome, ServerResponse, Stream, send_error_response,
};
use super::pool::Parked;
use super::registration::Registration;
use super::{CachedHandlers, Handlers, ServerOptions, Shared};
use crate::error::Error;
use crate::http::{BodyReader, BufferedStream, RequestHead, read_request_head};
use crate::message::IncomingMessage;
use crate::net::proxy_protocol::{self, ProxyHeader};
use crate::net::{SocketInfo, Transport, UpgradedSocket};
use crate::tls;

/// How long a connection closed with its request body unread goes on
/// reading (and discarding) what the client still sends: until
/// `LINGER_GAP` passes without a byte, `LINGER_TOTAL` at most (nginx's
/// lingering close, shorter).
const LINGER_GAP: Duration = Duration::from_secs(1);
const LINGER_TOTAL: Duration = Duration::from_secs(5);

/// A connection between two requests: everything its next request needs,
/// parked without a thread while it waits for it.
pub(super) struct Connection {
    stream: Stream,
    registration: Arc<Registration>,
    info: Arc<SocketInfo>,
    handlers: CachedHandlers,
    /// Requests served so far.
    served: u32,
    /// Since when it has waited holding its read buffer and OpenSSL's
    /// record buffers; `None` once they are given back (see
    /// `Pool::release_buffers_parked_before`).
    pub(super) holding_buffers_since: Option<Instant>,
}

/// A connection whose stream is lent to an exchange whose response is
/// written on another thread than the pool's.
pub(super) struct Responding {
    /// The request, kept until its response has ended (the C API lends
    /// its handle until then).
    _request: Arc<IncomingMessage>,
    registration: Arc<Registration>,
    info: Arc<SocketInfo>,
    handlers: CachedHandlers,
    served: u32,
}

impl Responding {
    /// The connection again, its exchange concluded (the request goes).
    fn with_stream(self, stream: Stream) -> Connection {
        Connection {
            stream,
            registration: self.registration,
            info: self.info,
            handlers: self.handlers,
            served: self.served,
            holding_buffers_since: None,
        }
    }
}

/// A connection whose response has ended on another thread than the
/// pool's, with work left for the pool: bytes the response left to send
/// (`ServerResponse::end_on_server_threads`), or work that may block (a
/// body to drain, a lingering close). See `conclude_later`.
pub(super) struct Concluding {
    exchange: Arc<Exchange>,
    connection: Responding,
}

/// Where a connection's turn on a thread ended.
enum Turn {
    /// It waits for its next request.
    Park(Connection),
    /// It was closed (or handed over).
    Ended,
    /// Its response is being written by another thread.
    Responding(Arc<Exchange>, Responding),
}

impl Connection {
    pub(super) fn id(&self) -> u64 {
        self.registration.id
    }

    /// Gives back what the connection does not need while it waits for its
    /// next request: its read buffer and OpenSSL's two record buffers — the
    /// bulk of an idle connection's memory. They are allocated again when
    /// it reads.
    pub(super) fn release_buffers(&mut self) {
        if self.holding_buffers_since.take().is_none() {
            return;
        }
        self.stream.shrink_when_empty();
        if tls::can_free_buffers() {
            tls::free_buffers(self.stream.get_ref().ssl());
        }
    }
}

/// Opens a new connection (its first bytes have come) and serves it until
/// it ends or parks. Never panics: a panic is reported as a client error
/// and ends the connection.
pub(super) fn run(shared: &Arc<Shared>, registration: Arc<Registration>, transport: Transport) {
    let mut info = SocketInfo::from_transport(&transport);
    let opened = catch_unwind(AssertUnwindSafe(|| {
        let mut handlers = CachedHandlers::new(shared);
        let stream = open(shared, &registration, transport, &mut info, &mut handlers)?;
        Some(Connection {
            stream,
            registration: registration.clone(),
            info: Arc::new(info.clone()),
            handlers,
            served: 0,
            holding_buffers_since: None,
        })
    }));
    match opened {
        Ok(Some(connection)) => serve(shared, connection, false),
        Ok(None) => shared.unregister(registration.id),
        Err(payload) => {
            shared.report_client_error(&Error::from_panic(&*payload), &info);
            shared.unregister(registration.id);
        }
    }
}

/// Serves a parked connection whose socket became readable.
pub(super) fn resume(shared: &Arc<Shared>, connection: Connection) {
    serve(shared, connection, true);
}

/// Serves requests until the connection ends (it is then unregistered),
/// parks, or its response goes on on another thread. Never panics.
fn serve(shared: &Arc<Shared>, connection: Connection, resumed: bool) {
    let id = connection.id();
    let info = connection.info.clone();
    let (mut connection, mut resumed) = (connection, resumed);
    loop {
        let served = catch_unwind(AssertUnwindSafe(|| {
            serve_requests(shared, connection, resumed)
        }));
        match served {
            Ok(Turn::Park(idle)) => match shared.pool.park(idle) {
                Ok(()) => return,
                // Bytes arrived while it was busy: look at them first.
                Err(readable) => (connection, resumed) = (readable, true),
            },
            Ok(Turn::Ended) => return shared.unregister(id),
            Ok(Turn::Responding(exchange, responding)) => {
                let (shared, finished) = (shared.clone(), exchange.clone());
                // The closure and the exchange hold each other until the
                // response ends (`finish` takes the closure out).
                exchange.when_finished(Box::new(move || {
                    after_response(&shared, finished, responding)
                }));
                return;
            }
            Err(payload) => {
                shared.report_client_error(&Error::from_panic(&*payload), &info);
                return shared.unregister(id);
            }
        }
    }
}

/// The rest of a connection's turn after a response that ended on another
/// thread than the pool's, on that thread: the connection parks to wait
/// for its next request, or closes. Bytes left to send, and what may block
/// — a request body to drain, a lingering close, a pipelined request to
/// serve — go to a thread of the pool. Never panics.
fn after_response(shared: &Arc<Shared>, exchange: Arc<Exchange>, connection: Responding) {
    let id = connection.registration.id;
    let info = connection.info.clone();
    let done = catch_unwind(AssertUnwindSafe(|| {
        if exchange.leaves_work_for_the_pool() {
            let concluding = Concluding {
                exchange,
                connection,
            };
            return shared
                .pool
                .run_later(Parked::Concluding(Box::new(concluding)));
        }
        let outcome = exchange.conclude();
        let Some(stream) = conclude(shared, &connection.registration, &info, outcome) else {
            return shared.unregister(id);
        };
        let mut connection = connection.with_stream(stream);
        match await_next_request(shared, &mut connection) {
            Awaiting::Park => {
                if let Err(readable) = shared.pool.park(connection) {
                    shared.pool.run_later(Parked::Idle(readable));
                }
            }
            Awaiting::Here => shared.pool.run_later(Parked::Idle(connection)),
            Awaiting::End => {
                close(connection.stream);
                shared.unregister(id);
            }
        }
    }));
    if let Err(payload) = done {
        shared.report_client_error(&Error::from_panic(&*payload), &info);
        shared.unregister(id);
    }
}

/// Finishes, on a thread of the pool, a response that ended elsewhere
/// (see `after_response`), and serves the connection on.
pub(super) fn conclude_later(shared: &Arc<Shared>, concluding: Concluding) {
    let Concluding {
        exchange,
        connection,
    } = concluding;
    let id = connection.registration.id;
    let info = connection.info.clone();
    let stream = catch_unwind(AssertUnwindSafe(|| {
        conclude(shared, &connection.registration, &info, exchange.conclude())
    }));
    match stream {
        Ok(Some(stream)) => serve(shared, connection.with_stream(stream), false),
        Ok(None) => shared.unregister(id),
        Err(payload) => {
            shared.report_client_error(&Error::from_panic(&*payload), &info);
            shared.unregister(id);
        }
    }
}

/// What the connection does after a request.
enum Awaiting {
    /// Park until its next request comes.
    Park,
    /// Serve the next request: it is here already (pipelined).
    Here,
    /// End: the server is closing.
    End,
}

/// Sets the deadline of the connection's next request head: the whole
/// head must be in `headersTimeout` after its first byte (the server's
/// watchdog enforces it); on a kept-alive connection that first byte may
/// take up to `keepAliveTimeout` to come.
fn await_next_request(shared: &Shared, connection: &mut Connection) -> Awaiting {
    let options = &shared.options;
    let registration = &connection.registration;
    let first = connection.served == 0;
    let now = Instant::now();
    let wait = if first {
        options.headers_timeout
    } else {
        options.keep_alive_timeout
    };
    // A closing server still serves a connection's first request (see
    // `CLOSE_GRACE`), by the deadline `close` gave it.
    if !shared.set_idle(registration, Some(now + wait)) && !first {
        return Awaiting::End;
    }
    if first && shared.is_closing() {
        registration.shorten_deadline(now + super::CLOSE_GRACE);
    }
    if !has_buffered_bytes(&connection.stream) {
        // Its buffers are kept for now: most connections that park are
        // back within microseconds (see `Pool::release_buffers_parked_before`).
        connection.holding_buffers_since = Some(now);
        return Awaiting::Park;
    }
    if !first {
        registration.set_deadline(Some(now + options.headers_timeout));
    }
    Awaiting::Here
}

/// The request loop: serves requests until the connection should park,
/// has ended, or its response goes on on another thread.
fn serve_requests(shared: &Shared, mut connection: Connection, resumed: bool) -> Turn {
    let options = &shared.options;
    let mut resumed = resumed;
    loop {
        let first = connection.served == 0;
        if resumed {
            resumed = false;
            // The poller reported an arrival, but its bytes may have been
            // read since (with the last request).
            match look_for_bytes(&mut connection.stream, options.limits.max_header_size) {
                Looked::Bytes => {}
                Looked::Nothing => {
                    // The look may have allocated the buffers again.
                    connection.holding_buffers_since = Some(Instant::now());
                    return Turn::Park(connection);
                }
                Looked::End => break,
            }
            // A new connection's first head keeps the deadline it parked
            // with (a head past it gets 408). A kept-alive connection's
            // next head must be whole `headersTimeout` after its first
            // byte — unless its keep-alive time ran out meanwhile.
            let deadline = Instant::now() + options.headers_timeout;
            if !first && !connection.registration.renew_deadline(deadline) {
                break;
            }
        } else {
            match await_next_request(shared, &mut connection) {
                Awaiting::Park => return Turn::Park(connection),
                Awaiting::Here => {}
                Awaiting::End => break,
            }
        }
        set_read_timeout(&connection.stream, head_read_timeout(options));
        connection.served += 1;
        connection.registration.set_served();
        let last = options.max_requests_per_socket > 0
            && connection.served >= options.max_requests_per_socket;
        match read_and_serve(
            shared,
            &connection.registration,
            &mut connection.handlers,
            connection.stream,
            &connection.info,
            last,
        ) {
            Served::Again(stream) => connection.stream = stream,
            Served::Ended => return Turn::Ended,
            Served::Responding(exchange, request) => {
                let Connection {
                    registration,
                    info,
                    handlers,
                    served,
                    ..
                } = connection;
                let responding = Responding {
                    _request: request,
                    registration,
                    info,
                    handlers,
                    served,
                };
                return Turn::Responding(exchange, responding);
            }
        }
    }
    close(connection.stream);
    Turn::Ended
}

/// The `connection` event, the TLS handshake and the `secureConnection`
/// event: the secure stream, or `None` when the connection ended.
#[inline(never)]
fn open(
    shared: &Shared,
    registration: &Registration,
    transport: Transport,
    info: &mut SocketInfo,
    handlers: &mut CachedHandlers,
) -> Option<Stream> {
    let options = &shared.options;
    let _ = transport.set_read_timeout(Some(handshake_read_timeout(options)));
    if options.proxy_protocol && !read_proxy_header(shared, registration, &transport, info) {
        return None;
    }
    if let Some(on_connection) = &handlers.get(shared).connection
        && !on_connection(info)
    {
        return None;
    }
    let _ = transport.set_write_timeout(Some(options.request_timeout));
    let session = match shared.tls.new_session() {
        Ok(session) => session,
        Err(e) => {
            shared.report_client_error(&e, info);
            return None;
        }
    };
    let ssl = match session.accept(transport) {
        Ok(ssl) => ssl,
        Err(mut e) => {
            let error = if registration.timed_out() {
                Error::Timeout("the TLS handshake did not finish in time".into())
            } else {
                handshake_error(&e)
            };
            if !shared.is_closing() {
                shared.report_handshake_error(&error, info);
            }
            if let (openssl::ssl::HandshakeError::Failure(mid), Error::Handshake(_)) =
                (&mut e, &error)
            {
                linger_after_refusal(mid.get_mut());
            }
            return None;
        }
    };
    info.add_tls(ssl.ssl(), shared.tls.requests_client_certificate());
    if let Some(on_secure) = &handlers.get(shared).secure_connection {
        on_secure(info);
    }
    Some(BufferedStream::new(ssl))
}

/// The PROXY protocol header that starts the connection: its addresses
/// replace the socket's in `info`. False (reported to `clientError`) when
/// it is missing, malformed or late — within the handshake's deadline.
fn read_proxy_header(
    shared: &Shared,
    registration: &Registration,
    transport: &Transport,
    info: &mut SocketInfo,
) -> bool {
    let mut reader = transport.clone();
    match proxy_protocol::read_header(&mut reader) {
        Ok(ProxyHeader::Proxied {
            source,
            destination,
        }) => {
            info.set_addresses(source, destination);
            true
        }
        Ok(ProxyHeader::Local) => true,
        Err(e) => {
            let error = if registration.timed_out() {
                Error::Timeout("the PROXY protocol header did not come in time".into())
            } else {
                e
            };
            if !shared.is_closing() {
                shared.report_client_error(&error, info);
            }
            false
        }
    }
}

// The handshake and each request head are bounded as wholes by the
// watchdog's deadlines, a request's reads by `requestTimeout`.

/// The socket's read timeout while a request head is read.
fn head_read_timeout(options: &ServerOptions) -> Duration {
    options.request_timeout.max(options.headers_timeout)
}

/// The socket's read timeout during the handshake.
fn handshake_read_timeout(options: &ServerOptions) -> Duration {
    head_read_timeout(options).max(options.handshake_timeout)
}

fn set_read_timeout(stream: &Stream, timeout: Duration) {
    let _ = stream.get_ref().get_ref().set_read_timeout(Some(timeout));
}

/// What serving a request left the connection with.
enum Served {
    /// The stream: the connection may carry another request.
    Again(Stream),
    /// It was closed or handed over.
    Ended,
    /// The handler returned before the response ended: it goes on on
    /// another thread.
    Responding(Arc<Exchange>, Arc<IncomingMessage>),
}

/// Reads a request's head and serves the request.
#[inline(never)]
fn read_and_serve(
    shared: &Shared,
    registration: &Registration,
    handlers: &mut CachedHandlers,
    mut stream: Stream,
    info: &Arc<SocketInfo>,
    last: bool,
) -> Served {
    let options = &shared.options;
    let head = match read_request_head(&mut stream, &options.limits) {
        Ok(Some(head)) => head,
        _ if registration.timed_out() => {
            // Node's answer to a head that took too long.
            send_error_response(&mut stream, 408);
            let error = Error::Timeout("the request head did not arrive in time".into());
            shared.report_client_error(&error, info);
            close(stream);
            return Served::Ended;
        }
        Ok(None) => {
            close(stream);
            return Served::Ended;
        }
        Err(e) => {
            if let Some(status) = e.http_status() {
                send_error_response(&mut stream, status);
                shared.report_client_error(&e, info);
            }
            close(stream);
            return Served::Ended;
        }
    };
    registration.set_busy(true);
    registration.set_deadline(None);
    set_read_timeout(&stream, options.request_timeout);
    // The listeners as they are now that the head is here (as in Node, a
    // listener replaced while the head was arriving no longer gets it).
    let handlers = handlers.get(shared);
    serve_request(shared, registration, handlers, stream, head, info, last)
}

/// What a look at a parked connection's socket found.
enum Looked {
    /// Bytes (now in the read buffer).
    Bytes,
    /// Nothing: the connection parks again.
    Nothing,
    /// The peer's close, or an error.
    End,
}

/// Reads what is there without waiting.
fn look_for_bytes(stream: &mut Stream, limit: usize) -> Looked {
    if has_buffered_bytes(stream) {
        return Looked::Bytes;
    }
    stream.get_ref().get_ref().read_without_waiting(true);
    let read = stream.fill(limit + 1);
    stream.get_ref().get_ref().read_without_waiting(false);
    match read {
        Ok(0) => Looked::End,
        Ok(_) => Looked::Bytes,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            // A record's start may have come without its end: OpenSSL
            // keeps it, and the rest is another arrival.
            if has_buffered_bytes(stream) {
                Looked::Bytes
            } else {
                Looked::Nothing
            }
        }
        Err(_) => Looked::End,
    }
}

/// Whether the next request's first bytes are here already: read ahead
/// with the last one (pipelined), or inside OpenSSL.
fn has_buffered_bytes(stream: &Stream) -> bool {
    !stream.buffered().is_empty() || tls::has_pending(stream.get_ref().ssl())
}

/// Serves one request.
fn serve_request(
    shared: &Shared,
    registration: &Registration,
    handlers: &Handlers,
    stream: Stream,
    head: RequestHead,
    info: &Arc<SocketInfo>,
    last: bool,
) -> Served {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    if head.is_upgrade() {
        match &handlers.upgrade {
            Some(on_upgrade) => {
                // The socket is the application's now: its arrivals no
                // longer concern the pool.
                shared.pool.unwatch(stream.get_ref().get_ref());
                let (ssl, head_bytes) = stream.into_parts();
                let exchange = Arc::new(Exchange::new(
                    None,
                    &head,
                    registration.server_closing(),
                    shared.options.keep_alive_timeout,
                ));
                let message = Arc::new(IncomingMessage::request(head, info.clone(), exchange));
                on_upgrade(
                    message,
                    UpgradedSocket::new(ssl, (**info).clone(), Vec::new()),
                    &head_bytes,
                );
            }
            None => close(stream),
        }
        return Served::Ended;
    }

    let expects_continue = head.expects_continue();
    let exchange = Arc::new(Exchange::new(
        Some(stream),
        &head,
        registration.server_closing(),
        shared.options.keep_alive_timeout,
    ));
    if last {
        // `maxRequestsPerSocket` reached: this response says
        // `Connection: close` and the connection ends after it.
        exchange.refuse_keep_alive();
    }
    let message = Arc::new(IncomingMessage::request(
        head,
        info.clone(),
        exchange.clone(),
    ));
    let response = ServerResponse::new(exchange.clone());
    let handler = match (&handlers.check_continue, expects_continue) {
        (Some(on_check_continue), true) => Some(on_check_continue),
        (_, continue_expected) => {
            if continue_expected {
                let _ = exchange.send_continue();
            }
            handlers.request.as_ref()
        }
    };
    match handler {
        Some(handler) => {
            let called = catch_unwind(AssertUnwindSafe(|| handler(message.clone(), response)));
            if let Err(payload) = called {
                shared.report_client_error(&Error::from_panic(&*payload), info);
            }
        }
        None => drop(response),
    }
    if !exchange.is_finished() {
        return Served::Responding(exchange, message);
    }
    drop(message);
    match conclude(shared, registration, info, exchange.conclude()) {
        Some(stream) => Served::Again(stream),
        None => Served::Ended,
    }
}

/// What is left to do after a response: the body's framing error reported,
/// its unread rest drained or the connection closed. Returns the stream
/// when the connection may carry another request.
fn conclude(
    shared: &Shared,
    registration: &Registration,
    info: &SocketInfo,
    mut outcome: Outcome,
) -> Option<Stream> {
    let mut stream = outcome.stream.take()?;
    if let Some(error) = outcome.body_error.take() {
        shared.report_client_error(&error, info);
        close_unread(shared, registration, stream);
        return None;
    }
    // A response that said keep-alive left at most `DRAIN_LIMIT` bytes of
    // the body unread (see `Exchange`): they are read and discarded.
    let reusable = outcome.keep_alive
        && !shared.is_closing()
        && (outcome.body.is_done() || drain(shared, &mut outcome.body, &mut stream, info));
    if reusable {
        Some(stream)
    } else if outcome.body.is_done() {
        close(stream);
        None
    } else {
        close_unread(shared, registration, stream);
        None
    }
}

/// Reads and discards the body the handler left unread (at most
/// `DRAIN_LIMIT` bytes: the response promised keep-alive only then), so
/// the connection can carry the next request; false when it cannot (the
/// client stalled or went away). A framing error is reported; no second
/// answer follows the response.
fn drain(shared: &Shared, body: &mut BodyReader, stream: &mut Stream, info: &SocketInfo) -> bool {
    match body.drain(stream, DRAIN_LIMIT) {
        Ok(drained) => drained,
        Err(e) => {
            if e.http_status().is_some() {
                shared.report_client_error(&e, info);
            }
            false
        }
    }
}

/// Sends TLS close_notify and closes the socket.
fn close(stream: Stream) {
    let (mut ssl, _) = stream.into_parts();
    let _ = ssl.shutdown();
    let _ = ssl.get_ref().shutdown(Shutdown::Both);
}

/// Closes a connection whose request body was not read to its end (the
/// response said `Connection: close`): TLS close_notify, then a lingering
/// close. Closing a socket with received bytes unread makes the kernel
/// reset the connection, and a reset can destroy the response before the
/// client has read it: a client still sending a body it was refused would
/// see "connection reset" instead of the answer. The connection counts as
/// idle meanwhile, so `close` and the watchdog (at `LINGER_TOTAL`) cut it.
fn close_unread(shared: &Shared, registration: &Registration, stream: Stream) {
    let (mut ssl, _) = stream.into_parts();
    let _ = ssl.shutdown();
    if shared.set_idle(registration, Some(Instant::now() + LINGER_TOTAL)) {
        linger(ssl.get_mut(), LINGER_GAP, usize::MAX);
    }
    let _ = ssl.get_ref().shutdown(Shutdown::Both);
}

/// After a refused handshake: stop writing, then read briefly what the
/// client still sends before closing. A TLS 1.3 client sends its request
/// before the server's verdict on its certificate arrives; closing with
/// those bytes unread would reset the connection and destroy the alert
/// that tells the client why.
fn linger_after_refusal(transport: &mut Transport) {
    linger(transport, Duration::from_millis(250), 64 * 1024);
}

/// Stops writing, then reads and discards what the peer sends until it
/// closes (or the socket is shut down), `gap` passes without a byte, or
/// `max_bytes` were read.
fn linger(transport: &mut Transport, gap: Duration, max_bytes: usize) {
    let _ = transport.shutdown(Shutdown::Write);
    let _ = transport.set_read_timeout(Some(gap));
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0;
    while drained < max_bytes {
        match transport.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// The error a failed handshake reports: `Timeout` when the peer said
/// nothing for `handshakeTimeout`, `Handshake` otherwise.
fn handshake_error(e: &openssl::ssl::HandshakeError<Transport>) -> Error {
    let message = match e {
        openssl::ssl::HandshakeError::SetupFailure(stack) => stack.to_string(),
        openssl::ssl::HandshakeError::Failure(mid)
        | openssl::ssl::HandshakeError::WouldBlock(mid) => {
            let error = mid.error();
            match (error.io_error(), error.ssl_error()) {
                (Some(io), _) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    return Error::Timeout("the TLS handshake did not finish in time".into());
                }
                (Some(io), _) => io.to_string(),
                (None, Some(stack)) => stack.to_string(),
                (None, None) => "the peer closed the connection during the handshake".to_string(),
            }
        }
    };
    Error::Handshake(message)
}
