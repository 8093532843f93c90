//! One request/response exchange: Node's `IncomingMessage` and
//! `ServerResponse`. Both share the connection's stream for the length of the
//! exchange, so the body can be read and the response written from any
//! thread. When the response ends after the request handler has returned
//! (on another thread), the connection's turn goes on on that thread.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openssl::ssl::SslStream;

use crate::error::{Error, Result};
use crate::http::{
    BodyKind, BodyReader, BufferedStream, HeaderFields, RequestHead, ResponseHead, Version,
    http_date_now, is_token, is_valid_header_value, parse_content_length, push_decimal, push_hex,
    reason_phrase,
};
use crate::message::BodySource;
use crate::net::Transport;

/// A connection's stream: TLS over a socket, with a read-ahead buffer.
pub(crate) type Stream = BufferedStream<SslStream<Transport>>;

/// Node's default answer to a malformed request: a bare status and close.
/// Written straight to the socket, past the read-ahead buffer; the
/// connection ends after it.
pub(super) fn send_error_response(stream: &mut Stream, status: u16) {
    let response = format!(
        "HTTP/1.1 {status} {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        reason_phrase(status)
    );
    let _ = stream.get_mut().write_all(response.as_bytes());
}

/// Writes of at most this size are copied behind the head or chunk header
/// and sent as one TLS write.
const COALESCE_LIMIT: usize = 16 * 1024;

/// The most of an unread request body that is read and discarded after the
/// response to keep the connection alive; with more left when the head
/// goes out, the head says `Connection: close` and the connection closes.
pub(super) const DRAIN_LIMIT: u64 = 1024 * 1024;

/// How the response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Nothing may follow the head (HEAD, 1xx, 204, 304).
    NoBody,
    /// Content-Length: this many bytes still to send.
    Length(u64),
    Chunked,
    /// HTTP/1.0 without Content-Length: the body ends when we close.
    UntilClose,
}

/// The state both handles share.
struct Io {
    stream: Option<Stream>,
    body: BodyReader,
    body_error: Option<Error>,
    head: ResponseHead,
    /// The head is fixed (no more header changes); it may still wait in `pending`.
    head_sent: bool,
    /// Encoded head not yet written: it goes out with the first body bytes.
    pending: Vec<u8>,
    framing: Framing,
    version: Version,
    is_head_request: bool,
    expects_continue: bool,
    continue_sent: bool,
    /// Whether the connection may serve another request after this one.
    keep_alive: bool,
    keep_alive_timeout: Duration,
    /// Set when the server starts closing: responses then say `Connection: close`.
    server_closing: Arc<AtomicBool>,
    /// A write failed or the response was cut short: close after it.
    broken: bool,
    /// `end` leaves its bytes in `pending` for the server's threads to
    /// send (see `ServerResponse::end_on_server_threads`).
    end_on_server_threads: bool,
}

impl Io {
    fn stream(&mut self) -> Result<&mut Stream> {
        self.stream.as_mut().ok_or(Error::ConnectionClosed)
    }

    /// Writes what is pending (a head, a chunk's size line) and then
    /// `parts` to the stream, as one TLS write when they are small.
    fn send(&mut self, parts: &[&[u8]]) -> Result<()> {
        let mut pending = std::mem::take(&mut self.pending);
        let total: usize = pending.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let result = (|| {
            let stream = self.stream()?.get_mut();
            if total <= COALESCE_LIMIT {
                parts.iter().for_each(|p| pending.extend_from_slice(p));
                stream.write_all(&pending)?;
            } else {
                for part in std::iter::once(&pending[..])
                    .chain(parts.iter().copied())
                    .filter(|p| !p.is_empty())
                {
                    stream.write_all(part)?;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Decides the framing and encodes the head into `out`. `whole_body` is
    /// the body's length when `end` is called before anything was sent.
    fn encode_head(&mut self, whole_body: Option<usize>, out: &mut Vec<u8>) -> Result<()> {
        let status = self.head.status;
        let status_has_body = status >= 200 && status != 204 && status != 304;
        let declared = match self.head.get("content-length") {
            Some(v) => Some(
                parse_content_length(v.trim_ascii())
                    .ok_or_else(|| Error::invalid("Content-Length header is not a number"))?,
            ),
            None => None,
        };
        let user_chunked = self
            .head
            .get("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"));
        // What nhttps adds to the head goes straight into `out`, after the
        // application's fields (as in Node, `getHeader` does not see it).
        let mut length = None;
        let mut add_chunked = false;
        self.framing = if !status_has_body {
            Framing::NoBody
        } else if let Some(n) = declared {
            Framing::Length(n)
        } else if user_chunked {
            Framing::Chunked
        } else if let Some(n) = whole_body {
            length = Some(n as u64);
            Framing::Length(n as u64)
        } else if self.version == Version::Http11 {
            self.head.remove("Transfer-Encoding");
            add_chunked = true;
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
        if self.is_head_request {
            self.framing = Framing::NoBody;
        }
        if self.framing == Framing::UntilClose
            || self.head.says_close()
            || self.server_closing.load(Ordering::Relaxed)
            || !self.unread_body_can_be_discarded()
        {
            self.keep_alive = false;
        }
        if !self.keep_alive && self.head.has("connection") && !self.head.says_close() {
            // The application's `Connection: keep-alive` would be a promise
            // the server does not keep.
            self.head.set("Connection", "close");
        }
        self.head.encode_fields(out);
        if let Some(n) = length {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        if add_chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        if !self.head.has("date") {
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(&http_date_now());
            out.extend_from_slice(b"\r\n");
        }
        if !self.head.has("connection") {
            if self.keep_alive {
                out.extend_from_slice(b"Connection: keep-alive\r\nKeep-Alive: timeout=");
                push_decimal(out, self.keep_alive_timeout.as_secs().max(1));
                out.extend_from_slice(b"\r\n");
            } else {
                out.extend_from_slice(b"Connection: close\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        self.head_sent = true;
        Ok(())
    }

    /// Whether what the handler may leave of the request body can be read
    /// and discarded after the response, so that the connection carries
    /// another request. Decided when the head goes out, which then says
    /// `Connection: close` if not (RFC 9112 section 9.6): when the client
    /// still waits for `100 Continue` (it may never send the body), when
    /// more than `DRAIN_LIMIT` bytes of it are left, or when it is chunked
    /// (its length unknown) and its end is not already read ahead. A
    /// malformed chunked body found there is kept as the exchange's
    /// `body_error`, for the connection to report.
    fn unread_body_can_be_discarded(&mut self) -> bool {
        if self.body.is_done() {
            return true;
        }
        if self.expects_continue && !self.continue_sent {
            return false;
        }
        if let Some(left) = self.body.remaining_length() {
            return left <= DRAIN_LIMIT;
        }
        let buffered = self.stream.as_ref().map_or(&[][..], |s| s.buffered());
        match self.body.ends_within(buffered, DRAIN_LIMIT) {
            Ok(ends) => ends,
            Err(e) => {
                self.body_error.get_or_insert(e);
                false
            }
        }
    }

    /// Sends the head (if not yet sent) and `data`, framed; with `later`,
    /// only frames them into `pending` (`data` is then at most
    /// `COALESCE_LIMIT` bytes), for `conclude` to send.
    fn write_body(
        &mut self,
        data: &[u8],
        whole_body: Option<usize>,
        last: bool,
        later: bool,
    ) -> Result<()> {
        // The head, a chunk's size line and a small body leave in one write,
        // from one buffer: `pending`, allocated once, with room for them all.
        let kept = self.pending.len();
        let body_room = if data.len() <= COALESCE_LIMIT {
            data.len() + 32
        } else {
            0
        };
        if self.head_sent {
            self.pending.reserve(body_room);
        } else {
            let mut out = std::mem::take(&mut self.pending);
            out.reserve(self.head.encoded_len() + body_room);
            let encoded = self.encode_head(whole_body, &mut out);
            self.pending = out;
            if let Err(e) = encoded {
                self.pending.truncate(kept);
                return Err(e);
            }
        }
        let mut suffix: &[u8] = b"";
        let mut data = data;
        match self.framing {
            Framing::NoBody => data = b"",
            Framing::Length(remaining) => {
                if data.len() as u64 > remaining {
                    self.broken = true;
                    self.pending.truncate(kept);
                    return Err(Error::invalid(
                        "more body than the Content-Length header announced",
                    ));
                }
                self.framing = Framing::Length(remaining - data.len() as u64);
            }
            Framing::Chunked => {
                if !data.is_empty() {
                    push_hex(&mut self.pending, data.len() as u64);
                    self.pending.extend_from_slice(b"\r\n");
                    suffix = if last { b"\r\n0\r\n\r\n" } else { b"\r\n" };
                } else if last {
                    suffix = b"0\r\n\r\n";
                }
            }
            Framing::UntilClose => {}
        }
        if later {
            self.pending.extend_from_slice(data);
            self.pending.extend_from_slice(suffix);
            return Ok(());
        }
        self.send(&[data, suffix])
    }
}

/// What the connection does once its response has ended, when that is
/// after its request handler returned (see `Exchange::when_finished`).
pub(crate) type AfterResponse = Box<dyn FnOnce() + Send>;

/// Whether the response has ended, or what to do when it does.
#[derive(Default)]
struct Finished {
    finished: bool,
    then: Option<AfterResponse>,
}

/// The shared part of one exchange.
pub(crate) struct Exchange {
    io: Mutex<Io>,
    finished: Mutex<Finished>,
}

impl Exchange {
    pub(crate) fn new(
        stream: Option<Stream>,
        head: &RequestHead,
        server_closing: Arc<AtomicBool>,
        keep_alive_timeout: Duration,
    ) -> Exchange {
        let io = Io {
            stream,
            body: BodyReader::new(head.body_kind()),
            body_error: None,
            head: ResponseHead::default(),
            head_sent: false,
            pending: Vec::new(),
            framing: Framing::NoBody,
            version: head.version(),
            is_head_request: head.is_head(),
            expects_continue: head.expects_continue(),
            continue_sent: false,
            keep_alive: head.keep_alive(),
            keep_alive_timeout,
            server_closing,
            broken: false,
            end_on_server_threads: false,
        };
        Exchange {
            io: Mutex::new(io),
            finished: Mutex::new(Finished::default()),
        }
    }

    fn io(&self) -> MutexGuard<'_, Io> {
        // A panic while holding the lock leaves consistent data behind (every
        // field is valid at every step), so a poisoned lock is still usable.
        self.io.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_finished(&self) -> MutexGuard<'_, Finished> {
        self.finished.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes this the connection's last exchange: the response says
    /// `Connection: close`.
    pub(crate) fn refuse_keep_alive(&self) {
        self.io().keep_alive = false;
    }

    pub(crate) fn send_continue(&self) -> Result<()> {
        let mut io = self.io();
        if io.head_sent {
            return Err(Error::state("the response head was already sent"));
        }
        if !io.continue_sent {
            io.continue_sent = true;
            io.send(&[b"HTTP/1.1 100 Continue\r\n\r\n"])?;
        }
        Ok(())
    }

    /// The response has ended: what waited for that runs now, on this
    /// thread, with no lock held.
    fn finish(&self) {
        let then = {
            let mut state = self.lock_finished();
            state.finished = true;
            state.then.take()
        };
        if let Some(then) = then {
            then();
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.lock_finished().finished
    }

    /// Runs `then` when the response has ended: at once, on this thread,
    /// if it has; else on the thread that ends it (or drops it). No thread
    /// waits for a response ended elsewhere: the connection's turn goes on
    /// where the response ends.
    pub(crate) fn when_finished(&self, then: AfterResponse) {
        {
            let mut state = self.lock_finished();
            if !state.finished {
                state.then = Some(then);
                return;
            }
        }
        then();
    }

    /// Whether what is left after the response ended is for the server's
    /// threads: bytes `end` left to send, or what may block — the rest of
    /// the request body to drain, or a lingering close.
    pub(crate) fn leaves_work_for_the_pool(&self) -> bool {
        let io = self.io();
        !io.pending.is_empty()
            || (io.stream.is_some() && (io.body_error.is_some() || !io.body.is_done()))
    }

    /// Takes the stream back once the exchange has finished, with what the
    /// connection needs to decide whether to serve another request.
    /// What an `end` left to send (see `ServerResponse::end_on_server_threads`)
    /// goes out first; a failure closes the connection after the exchange.
    pub(crate) fn conclude(&self) -> Outcome {
        let mut io = self.io();
        if !io.pending.is_empty() {
            let sent = io.send(&[]).and_then(|()| Ok(io.stream()?.flush()?));
            if sent.is_err() {
                io.broken = true;
            }
        }
        Outcome {
            stream: io.stream.take(),
            body: std::mem::replace(&mut io.body, BodyReader::new(BodyKind::Empty)),
            body_error: io.body_error.take(),
            keep_alive: io.keep_alive && !io.broken,
        }
    }
}

/// What is left of an exchange for its connection.
pub(crate) struct Outcome {
    pub stream: Option<Stream>,
    /// The request body, maybe not read to the end.
    pub body: BodyReader,
    /// A framing error in the request body, to report as a client error.
    pub body_error: Option<Error>,
    /// Whether both sides allow another request on this connection (and
    /// the response said so). An unread rest of the body is then at most
    /// `DRAIN_LIMIT` bytes.
    pub keep_alive: bool,
}

/// The request body, pulled from the connection by `IncomingMessage::read`.
impl BodySource for Exchange {
    /// With `Expect: 100-continue`, the first read sends `100 Continue` if
    /// the handler has not.
    fn read(&self, out: &mut [u8]) -> Result<usize> {
        let mut io = self.io();
        if io.expects_continue && !io.continue_sent && !io.head_sent {
            io.continue_sent = true;
            io.send(&[b"HTTP/1.1 100 Continue\r\n\r\n"])?;
        }
        let io = &mut *io;
        let Some(stream) = io.stream.as_mut() else {
            return if io.body.is_done() {
                Ok(0)
            } else {
                Err(Error::ConnectionClosed)
            };
        };
        match io.body.read(stream, out) {
            Ok(n) => Ok(n),
            Err(e) => {
                io.broken = true;
                if io.body_error.is_none()
                    && let Some(status) = e.http_status()
                {
                    io.body_error = Some(Error::http(status, e.to_string()));
                    // As Node does: a malformed body is answered with the
                    // error's status when nothing of the response has gone
                    // out yet; what the handler sends after it is discarded.
                    if !io.head_sent || !io.pending.is_empty() {
                        io.pending.clear();
                        io.head_sent = true;
                        io.framing = Framing::NoBody;
                        io.keep_alive = false;
                        if let Some(stream) = io.stream.as_mut() {
                            send_error_response(stream, status);
                        }
                    }
                }
                Err(e)
            }
        }
    }

    fn trailers(&self) -> HeaderFields {
        self.io().body.trailers().clone()
    }
}

/// Node's `ServerResponse`. Ending it (or dropping it) finishes the exchange.
pub struct ServerResponse {
    exchange: Arc<Exchange>,
    ended: bool,
}

impl ServerResponse {
    pub(crate) fn new(exchange: Arc<Exchange>) -> ServerResponse {
        ServerResponse {
            exchange,
            ended: false,
        }
    }

    fn before_head(&self) -> Result<MutexGuard<'_, Io>> {
        let io = self.exchange.io();
        if io.head_sent {
            return Err(Error::state("the response head was already sent"));
        }
        Ok(io)
    }

    pub fn set_status(&self, status: u16) -> Result<()> {
        check_status(status)?;
        self.before_head()?.head.status = status;
        Ok(())
    }

    pub fn status(&self) -> u16 {
        self.exchange.io().head.status
    }

    pub fn set_status_message(&self, reason: &str) -> Result<()> {
        check_status_message(reason)?;
        self.before_head()?.head.reason = Some(reason.to_string());
        Ok(())
    }

    /// Not in Node as one call: `statusCode`, `statusMessage` (None: the
    /// standard phrase) and the headers given, which replace the values
    /// set before under their names; a name given twice keeps both values
    /// (as Node's `writeHead` with raw headers). Unlike `write_head`, the
    /// head is not fixed: `end` still sets Content-Length. All or nothing:
    /// an invalid part changes nothing.
    pub fn set_head(
        &self,
        status: u16,
        reason: Option<&str>,
        headers: &[(&str, &[u8])],
    ) -> Result<()> {
        check_status(status)?;
        if let Some(reason) = reason {
            check_status_message(reason)?;
        }
        for (name, value) in headers {
            check_header(name, value)?;
        }
        let mut io = self.before_head()?;
        io.head.status = status;
        io.head.reason = reason.map(str::to_string);
        for (name, _) in headers {
            io.head.remove(name);
        }
        for (name, value) in headers {
            io.head.append(name, value);
        }
        Ok(())
    }

    /// Node's `setHeader`: replaces every value of `name`. The value is
    /// sent as the bytes given (see `ResponseHead`).
    pub fn set_header(&self, name: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let value = value.as_ref();
        check_header(name, value)?;
        self.before_head()?.head.set(name, value);
        Ok(())
    }

    /// Node's `appendHeader`: adds a value, keeping the others.
    pub fn append_header(&self, name: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let value = value.as_ref();
        check_header(name, value)?;
        self.before_head()?.head.append(name, value);
        Ok(())
    }

    /// The first value of `name` set so far.
    pub fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.exchange.io().head.get(name).map(<[u8]>::to_vec)
    }

    /// Removes every value of `name`; returns whether there was one.
    pub fn remove_header(&self, name: &str) -> Result<bool> {
        Ok(self.before_head()?.head.remove(name))
    }

    pub fn headers_sent(&self) -> bool {
        self.exchange.io().head_sent
    }

    /// Node's `writeHead`: sets the status (and reason) and fixes the head:
    /// no header may change afterwards. As in Node, the head goes out with
    /// the first body bytes (or at `end`), in the same TLS record.
    pub fn write_head(&self, status: u16, reason: Option<&str>) -> Result<()> {
        self.set_status(status)?;
        if let Some(reason) = reason {
            self.set_status_message(reason)?;
        }
        let mut io = self.exchange.io();
        let mut head = Vec::new();
        io.encode_head(None, &mut head)?;
        io.pending = head;
        Ok(())
    }

    /// Sends a piece of the body (the head first, if not sent yet): chunked
    /// on HTTP/1.1 unless a Content-Length was set, until-close on HTTP/1.0.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        self.exchange.io().write_body(data, None, false, false)
    }

    /// Not in Node: `end` returns once the head and the body's last bytes
    /// (up to 16 KiB of them) are framed, and the server's threads send
    /// them — a thread that runs an application, and not the network, goes
    /// on to its next request meanwhile. A failure to send then closes the
    /// connection; `end` cannot report it. For queued requests.
    pub(crate) fn end_on_server_threads(&self) {
        self.exchange.io().end_on_server_threads = true;
    }

    /// Node's `writeContinue`: sends `100 Continue`.
    pub fn write_continue(&self) -> Result<()> {
        self.exchange.send_continue()
    }

    /// Sends `data` as the last of the body and finishes the response. When
    /// nothing was sent yet and no length was set, `data`'s length becomes
    /// the Content-Length.
    pub fn end(mut self, data: &[u8]) -> Result<()> {
        self.ended = true;
        let result = {
            let mut io = self.exchange.io();
            let whole = (!io.head_sent).then_some(data.len());
            let later = io.end_on_server_threads && data.len() <= COALESCE_LIMIT;
            let mut result = io.write_body(data, whole, true, later);
            if let Framing::Length(left) = io.framing
                && left > 0
                && result.is_ok()
            {
                io.broken = true;
                result = Err(Error::state(format!(
                    "the response ended {left} bytes short of its Content-Length; the connection will be closed"
                )));
            }
            if result.is_ok() && !later {
                result = io.stream().and_then(|s| Ok(s.flush()?));
            }
            result
        };
        self.exchange.finish();
        result
    }
}

impl ServerResponse {
    /// Node's `res.destroy()`: sends nothing more of the response (a head
    /// not yet sent is dropped) and closes the connection after it, so
    /// that the client sees the response cut short, or none at all — for
    /// an application that fails after its head went out, where ending
    /// the response would make a partial body look whole.
    pub fn destroy(mut self) {
        self.ended = true;
        {
            let mut io = self.exchange.io();
            io.pending.clear();
            io.head_sent = true;
            io.broken = true;
        }
        self.exchange.finish();
    }
}

impl Drop for ServerResponse {
    /// A response dropped without `end` (a forgotten handle, a panicking
    /// handler) gets a `500` if nothing was sent yet, and its connection is
    /// closed.
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        {
            let mut io = self.exchange.io();
            if !io.head_sent {
                io.head = ResponseHead::default();
                io.head.status = 500;
                io.head.set("Connection", "close");
                let _ = io.write_body(b"", Some(0), true, false);
            }
            io.broken = true;
        }
        self.exchange.finish();
    }
}

fn check_status(status: u16) -> Result<()> {
    if !(100..=999).contains(&status) {
        return Err(Error::invalid(format!(
            "status code {status} is not in 100..=999"
        )));
    }
    Ok(())
}

fn check_status_message(reason: &str) -> Result<()> {
    if !is_valid_header_value(reason.as_bytes()) {
        return Err(Error::invalid("the status message has control characters"));
    }
    Ok(())
}

fn check_header(name: &str, value: &[u8]) -> Result<()> {
    if !is_token(name) {
        return Err(Error::invalid(format!("invalid header name {name:?}")));
    }
    if !is_valid_header_value(value) {
        return Err(Error::invalid(format!(
            "invalid characters in the value of header {name:?}"
        )));
    }
    Ok(())
}
