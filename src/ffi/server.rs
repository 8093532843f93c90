//! `nhttps_server`: Node's `https.Server`, its events and its life cycle.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::error::{ClientError, fail, nhttps_error, nhttps_result};
use super::handle::{box_castable, into_raw, lend, take};
use super::macros::{ffi_boundary, null_argument, try_core, try_out, try_ref, try_str};
use super::message::{nhttps_incoming_message, nhttps_socket_info};
use super::options::nhttps_server_options;
use super::response::{self, nhttps_server_response};
use super::socket::nhttps_socket;
use super::userdata::Userdata;
use crate::error::Error;
use crate::server::{Handlers, Server, Taken};

/// An HTTPS server (Node's `https.Server`). Made by `nhttps_server_new`,
/// freed by `nhttps_server_free`. Its functions may be called from any
/// thread.
pub struct nhttps_server {
    _private: [u8; 0],
}
box_castable!(nhttps_server => Server);

/// `request` and `checkContinue`: called on the thread serving the
/// connection (after a keep-alive wait, maybe another thread of nhttps's
/// pool than for the connection's last request) with a request and its
/// response. Both handles belong to nhttps. `req` stays
/// valid until both the callback has returned and
/// `nhttps_server_response_end(res, ...)` has returned (so a callback may
/// still read `req` after ending `res` in it, e.g. to log); the callback
/// may return first and end the response later, from any thread — the
/// connection waits for it. Every response must be ended exactly once.
/// A response may be sent without reading the request body: what is left
/// of it is read and discarded afterwards when that is at most 1 MiB of a
/// Content-Length body (or a chunked body already received whole), and
/// the connection stays open; otherwise the response head says
/// `Connection: close` (replacing an application's `keep-alive`) and the
/// connection ends after the response. The choice is made when the head
/// goes out (at the first `write` or at `end`).
pub type nhttps_request_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        req: *mut nhttps_incoming_message,
        res: *mut nhttps_server_response,
    ),
>;

/// `connection`: called on a thread of nhttps's pool before the TLS
/// handshake, with the connection's addresses (valid during the call).
/// Return false to close the connection at once. Node emits it when the
/// connection is accepted; nhttps when its first bytes (the TLS hello)
/// arrive — or at the handshake timeout if none do — so that a connection
/// that says nothing holds no thread.
pub type nhttps_connection_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, info: *const nhttps_socket_info) -> bool>;

/// `upgrade` (and CONNECT): called on the connection's thread. `req` is
/// valid during the call only. `socket` is now the callee's: it must be
/// freed with `nhttps_socket_free`, from any thread, at any time. `head`
/// holds `head_len` bytes the client sent after the request head (valid
/// during the call; may be NULL when `head_len` is 0). `nhttps_server_close`
/// waits for this callback to return: to keep a long-lived socket (a
/// WebSocket), hand it to a thread of your own and return.
pub type nhttps_upgrade_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        req: *mut nhttps_incoming_message,
        socket: *mut nhttps_socket,
        head: *const u8,
        head_len: usize,
    ),
>;

/// `clientError`: a failed TLS handshake or a malformed request, called on
/// the connection's thread. `error` and `info` are valid during the call.
/// After it, a malformed request gets the status `nhttps_error_http_status`
/// tells (400, 431, 505) and the connection is closed.
pub type nhttps_client_error_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        error: *const nhttps_error,
        info: *const nhttps_socket_info,
    ),
>;

/// `secureConnection`: a TLS handshake succeeded; called on the
/// connection's thread with its details (valid during the call).
pub type nhttps_secure_connection_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, info: *const nhttps_socket_info)>;

/// `keylog`: one line of NSS key-log format (without its newline, valid
/// during the call), called on the connection's thread during handshakes.
/// Appending the lines to a file lets Wireshark decrypt a capture. The
/// lines hold session secrets: handle them as such.
pub type nhttps_keylog_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, line: *const c_char)>;

/// `close` and `listening`.
pub type nhttps_event_callback = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// Validates options and builds a server (Node's `https.createServer`).
/// The key, certificate and passphrase are checked now: a bad one fails
/// with `NHTTPS_ERR_KEY`, `_CERTIFICATE` or `_PASSPHRASE`. On success
/// `*server_out` is a new server the caller owns and frees with
/// `nhttps_server_free`; `options` stays the caller's.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_new(
    options: *const nhttps_server_options,
    server_out: *mut *mut nhttps_server,
) -> nhttps_result {
    ffi_boundary! {
        let options = try_ref!(options);
        let server_out = try_out!(server_out);
        *server_out = into_raw::<nhttps_server>(try_core!(Server::new(options.clone())));
        nhttps_result::NHTTPS_OK
    }
}

/// Closes the server if it is open (as `nhttps_server_close`, waiting for
/// every connection), then frees it. After it returns no callback of this
/// server runs again. NULL is a no-op. Must not be called from one of the
/// server's own callbacks.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_free(server: *mut nhttps_server) {
    ffi_boundary! { drop(unsafe { take(server) }) }
}

fn register(server: *const nhttps_server, change: impl FnOnce(&mut Handlers)) -> nhttps_result {
    ffi_boundary! {
        try_ref!(server).set_handlers(change);
        nhttps_result::NHTTPS_OK
    }
}

/// Registers the `request` listener (NULL removes it). Callbacks for
/// different connections run at the same time on different threads: the
/// callback and `userdata` must be thread-safe. Without a listener, a
/// request gets `500` and its connection is closed.
/// `userdata` is passed to every call and must stay valid until
/// `nhttps_server_free` returns: replacing or removing the listener is not
/// enough, as a call that began before may still be running (a request
/// whose head is complete after the change goes to the new listener).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_request(
    server: *mut nhttps_server,
    callback: nhttps_request_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.request = callback.map(|cb| request_handler(cb, userdata))
    })
}

/// Registers the `checkContinue` listener for requests with
/// `Expect: 100-continue` (NULL removes it). It replaces `request` for
/// them: call `nhttps_server_response_write_continue` before reading the
/// body, or answer without reading it — the response then says
/// `Connection: close` and the connection ends after it (the client may
/// never send the body), as in Node. Without it, `100 Continue` is sent
/// at once and `request` follows, as in Node.
/// `userdata` is passed to every call and must stay valid until
/// `nhttps_server_free` returns: replacing or removing the listener is not
/// enough, as a call that began before may still be running (a request
/// whose head is complete after the change goes to the new listener).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_check_continue(
    server: *mut nhttps_server,
    callback: nhttps_request_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.check_continue = callback.map(|cb| request_handler(cb, userdata))
    })
}

fn request_handler(
    callback: unsafe extern "C" fn(
        *mut c_void,
        *mut nhttps_incoming_message,
        *mut nhttps_server_response,
    ),
    userdata: Userdata,
) -> crate::server::RequestHandler {
    Arc::new(move |message, response| {
        let req = lend::<nhttps_incoming_message>(&message).cast_mut();
        // Without a handle (a million responses open) the response is
        // dropped here, which answers 500.
        let Some(res) = response::new_handle(response) else {
            return;
        };
        let userdata = userdata;
        // SAFETY: a C function pointer registered by the user; `req` lives
        // until the response ends (the connection keeps `message` until then)
        // and `res` is a handle checked by every response function.
        unsafe { callback(userdata.0, req, res) };
    })
}

/// Not in Node: requests are queued for the program's own threads to take
/// with `nhttps_server_take_request`, instead of calling a `request`
/// listener (this replaces it). For hosts where a call from one of
/// nhttps's threads is dear (Ruby's ffi gem runs such callbacks on a
/// dispatcher thread of its own): their threads block in
/// `nhttps_server_take_request` and get each request without a callback.
/// `checkContinue` is not queued (without its own listener, `100
/// Continue` is sent by itself). A queued request is in flight:
/// `nhttps_server_close` waits for its response, so keep taking (from
/// threads other than the one that closes) until `take_request` says the
/// server has closed.
///
/// A taken request holds none of nhttps's threads while the program
/// answers it. Its `nhttps_server_response_end` with at most 16 KiB
/// returns once the bytes are framed, and nhttps's threads send them: the
/// taking thread goes on to its next request meanwhile (a failure to send
/// then closes the connection; `end` cannot report it). `write` and a
/// larger `end` send before they return, as for any response.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_queue_requests(server: *mut nhttps_server) -> nhttps_result {
    ffi_boundary! {
        try_ref!(server).queue_requests();
        nhttps_result::NHTTPS_OK
    }
}

/// Takes the next queued request (see `nhttps_server_queue_requests`),
/// waiting up to `timeout_ms` milliseconds for one (0: not at all;
/// negative: until one comes or the server has closed). Any thread may
/// call it, several at once; each request goes to one of them. On
/// `NHTTPS_OK`, `*req_out` and `*res_out` are the request and its response,
/// as a `request` listener gets them: the response is the caller's to end
/// (exactly once, from any thread), and `*req_out` stays valid until that
/// `nhttps_server_response_end` (or `_destroy`) returns. Otherwise both are
/// set to NULL: `NHTTPS_ERR_TIMEOUT` when none came in time,
/// `NHTTPS_ERR_INVALID_STATE` when the server has closed and no request is
/// left (or requests are not queued).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_take_request(
    server: *const nhttps_server,
    timeout_ms: c_int,
    req_out: *mut *mut nhttps_incoming_message,
    res_out: *mut *mut nhttps_server_response,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        let req_out = try_out!(req_out);
        let res_out = try_out!(res_out);
        *req_out = std::ptr::null_mut();
        *res_out = std::ptr::null_mut();
        let timeout = u64::try_from(timeout_ms).ok().map(std::time::Duration::from_millis);
        loop {
            match try_core!(server.take_request(timeout)) {
                Taken::Request((message, response)) => {
                    // Without a handle (a million responses open) the
                    // response is dropped here, which answers 500.
                    let Some(res) = response::new_handle(response) else {
                        continue;
                    };
                    // The connection keeps `message` until the response ends.
                    *req_out = lend::<nhttps_incoming_message>(&message).cast_mut();
                    *res_out = res;
                    return nhttps_result::NHTTPS_OK;
                }
                Taken::TimedOut => {
                    return fail(Error::Timeout("no request came in time".into()));
                }
                Taken::Closed => {
                    return fail(Error::state("the server has closed"));
                }
            }
        }
    }
}

/// Registers the `connection` listener (NULL removes it).
/// `userdata` is passed to every call and must stay valid until
/// `nhttps_server_free` returns (a call may still be under way after the
/// listener is replaced or removed).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_connection(
    server: *mut nhttps_server,
    callback: nhttps_connection_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.connection = callback.map(|cb| -> crate::server::ConnectionHandler {
            Arc::new(move |info| {
                let userdata = userdata;
                // SAFETY: user callback; `info` outlives the call.
                unsafe { cb(userdata.0, lend::<nhttps_socket_info>(info)) }
            })
        })
    })
}

/// Registers the `upgrade` listener (NULL removes it). Without one, a
/// request to upgrade closes its connection, as in Node.
/// `userdata` is passed to every call and must stay valid until
/// `nhttps_server_free` returns: replacing or removing the listener is not
/// enough, as a call that began before may still be running (a request
/// whose head is complete after the change goes to the new listener).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_upgrade(
    server: *mut nhttps_server,
    callback: nhttps_upgrade_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.upgrade = callback.map(|cb| -> crate::server::UpgradeHandler {
            Arc::new(move |message, socket, head| {
                let userdata = userdata;
                let req = lend::<nhttps_incoming_message>(&message).cast_mut();
                let socket = into_raw::<nhttps_socket>(socket);
                let head_ptr = if head.is_empty() {
                    std::ptr::null()
                } else {
                    head.as_ptr()
                };
                // SAFETY: user callback; `req` and `head` outlive the call and
                // `socket` is handed over.
                unsafe { cb(userdata.0, req, socket, head_ptr, head.len()) };
            })
        })
    })
}

/// Registers the `clientError` listener (NULL removes it).
/// `userdata` is passed to every call and must stay valid until
/// `nhttps_server_free` returns (a call may still be under way after the
/// listener is replaced or removed).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_client_error(
    server: *mut nhttps_server,
    callback: nhttps_client_error_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.client_error = callback.map(|cb| client_error_handler(cb, userdata))
    })
}

fn client_error_handler(
    callback: unsafe extern "C" fn(*mut c_void, *const nhttps_error, *const nhttps_socket_info),
    userdata: Userdata,
) -> crate::server::ClientErrorHandler {
    Arc::new(move |error, info| {
        let userdata = userdata;
        let error = ClientError::new(error);
        // SAFETY: user callback; both pointers outlive the call.
        unsafe {
            callback(
                userdata.0,
                lend::<nhttps_error>(&error),
                lend::<nhttps_socket_info>(info),
            )
        };
    })
}

/// Registers the `tlsClientError` listener (NULL removes it): failed TLS
/// handshakes go to it instead of `clientError`, as in Node. Same callback
/// type as `clientError`.
/// `userdata` is passed to every call and must stay valid until
/// `nhttps_server_free` returns (a call may still be under way after the
/// listener is replaced or removed).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_tls_client_error(
    server: *mut nhttps_server,
    callback: nhttps_client_error_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.tls_client_error = callback.map(|cb| client_error_handler(cb, userdata))
    })
}

/// Registers the `secureConnection` listener (NULL removes it).
/// `userdata` is passed to every call and must stay valid until
/// `nhttps_server_free` returns (a call may still be under way after the
/// listener is replaced or removed).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_secure_connection(
    server: *mut nhttps_server,
    callback: nhttps_secure_connection_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.secure_connection = callback.map(|cb| -> crate::server::SecureConnectionHandler {
            Arc::new(move |info| {
                let userdata = userdata;
                // SAFETY: user callback; `info` outlives the call.
                unsafe { cb(userdata.0, lend::<nhttps_socket_info>(info)) }
            })
        })
    })
}

/// Registers the `keylog` listener (NULL removes it). OpenSSL formats key-log
/// lines only while a listener is registered (they cost a tenth of a
/// handshake); registering the first listener or removing the last one
/// rebuilds the server's TLS contexts for new connections: same
/// certificates and ticket keys, but the session-id cache starts empty.
/// `userdata` is passed to every call and must stay valid until
/// `nhttps_server_free` returns (a call may still be under way after the
/// listener is replaced or removed).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_keylog(
    server: *mut nhttps_server,
    callback: nhttps_keylog_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.keylog = callback.map(|cb| -> crate::server::KeylogHandler {
            Arc::new(move |line| {
                let userdata = userdata;
                if let Ok(line) = std::ffi::CString::new(line) {
                    // SAFETY: user callback; `line` outlives the call.
                    unsafe { cb(userdata.0, line.as_ptr()) }
                }
            })
        })
    })
}

fn event_handler(
    callback: unsafe extern "C" fn(*mut c_void),
    userdata: Userdata,
) -> crate::server::EventHandler {
    Arc::new(move || {
        let userdata = userdata;
        // SAFETY: user callback with the userdata registered beside it.
        unsafe { callback(userdata.0) }
    })
}

/// Registers the `close` listener (NULL removes it): called once, after
/// `nhttps_server_close` has stopped the server and the last connection has
/// ended, on the thread that finished the close. `userdata` is passed to
/// that call and must stay valid until `nhttps_server_free` returns.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_close(
    server: *mut nhttps_server,
    callback: nhttps_event_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.close = callback.map(|cb| event_handler(cb, userdata))
    })
}

/// Registers a listener (NULL removes it) called on each of the server's
/// threads as it leaves nhttps's pool — after 10 s without work, or when
/// the server closes — after the last callback it ran. Not in Node: for
/// language runtimes that keep state per native thread (Python's thread
/// state, for one) and must drop it on that thread before it exits.
/// `nhttps_server_close` returns after every pool thread has run it. Like
/// every callback, `callback` and `userdata` must be usable from any of
/// nhttps's threads and live until `nhttps_server_free` returns.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_thread_exit(
    server: *mut nhttps_server,
    callback: nhttps_event_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.thread_exit = callback.map(|cb| event_handler(cb, userdata))
    })
}

/// Registers the `listening` listener (NULL removes it): called on the
/// thread that called `nhttps_server_listen*`, once the socket is bound,
/// before that call returns. `userdata` is used by that call only: it must
/// stay valid until `nhttps_server_listen*` returns.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_on_listening(
    server: *mut nhttps_server,
    callback: nhttps_event_callback,
    userdata: *mut c_void,
) -> nhttps_result {
    let userdata = Userdata(userdata);
    register(server, |h| {
        h.listening = callback.map(|cb| event_handler(cb, userdata))
    })
}

/// Listens on `host:port` and starts accepting on a thread of its own.
/// `host` may be a name, an IPv4 or IPv6 address, or NULL for every
/// address (IPv6 and IPv4). `port` 0 lets the system pick one: see
/// `nhttps_server_port`. `host` is read now, not kept. Returns once
/// listening; a server listens once.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_listen(
    server: *mut nhttps_server,
    host: *const c_char,
    port: u16,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        let host = if host.is_null() { None } else { Some(try_str!(host)) };
        try_core!(server.listen(host, port));
        nhttps_result::NHTTPS_OK
    }
}

/// Listens on a unix-domain socket at `path` (TLS runs over it as over
/// TCP). `path` is copied: the server removes the socket file when it
/// closes. An existing file makes it fail with `NHTTPS_ERR_ADDRESS_IN_USE`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_listen_unix(
    server: *mut nhttps_server,
    path: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        try_core!(server.listen_unix(try_str!(path)));
        nhttps_result::NHTTPS_OK
    }
}

/// Listens on `fd`, a listening TCP or unix stream socket the program
/// already has — inherited from systemd (socket activation: fd 3 when
/// `LISTEN_FDS` is set) or from a previous process — and starts
/// accepting. The server owns `fd` from a successful call on and closes
/// it when it is freed; a descriptor that is not a listening stream
/// socket is refused (`NHTTPS_ERR_INVALID_ARGUMENT`) and stays the
/// caller's. A unix socket's file is left in place when the server
/// closes (whoever bound it owns it). `nhttps_server_port` reports the
/// socket's port.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_listen_fd(server: *mut nhttps_server, fd: c_int) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        try_core!(server.listen_fd(fd));
        nhttps_result::NHTTPS_OK
    }
}

/// A server's counters (`nhttps_server_stats`). The struct can grow:
/// set `size` to `sizeof(nhttps_stats)` before the call; the library
/// fills the fields that fit in `size` bytes and sets `size` to how
/// many bytes it filled. Counts run from `nhttps_server_new`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct nhttps_stats {
    /// In: the size of the caller's struct. Out: the bytes filled.
    pub size: usize,
    /// Connections accepted (also those a limit refused at once).
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Of those, kept-alive connections waiting for their next request
    /// without a thread.
    pub idle: u64,
    /// TLS handshakes that failed or timed out.
    pub handshake_failures: u64,
    /// Requests received.
    pub requests: u64,
    /// Bytes read from and written to the sockets (TLS records included).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// `clientError` reports other than failed handshakes (malformed
    /// requests, bad PROXY headers, timeouts).
    pub client_errors: u64,
}

/// Copies `server`'s counters into `*stats` (see `nhttps_stats`: set
/// `stats->size` first). Cheap: no lock that a request takes; `idle`
/// walks the table of parked connections. Callable from any thread, also
/// from a callback. `NHTTPS_ERR_INVALID_ARGUMENT` when `stats` is NULL or
/// its `size` is smaller than `sizeof(size_t)`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_stats(
    server: *const nhttps_server,
    stats: *mut nhttps_stats,
) -> nhttps_result {
    ffi_boundary! {
        let server = try_ref!(server);
        // Not `try_out!`: the caller's struct may be smaller than ours (its
        // `size` says), so no `&mut nhttps_stats` to it may be made.
        if stats.is_null() {
            return null_argument("stats");
        }
        // SAFETY: the caller says how many bytes `stats` points to.
        let room = unsafe { (*stats).size };
        if room < std::mem::size_of::<usize>() {
            return fail(Error::invalid("stats->size must be set to sizeof(nhttps_stats)"));
        }
        let s = server.stats();
        let full = nhttps_stats {
            size: std::mem::size_of::<nhttps_stats>(),
            accepted: s.accepted,
            open: s.open,
            idle: s.idle,
            handshake_failures: s.handshake_failures,
            requests: s.requests,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            client_errors: s.client_errors,
        };
        // Whole fields only (all are 8 bytes, the first one's padding too).
        let filled = room.min(full.size) & !(std::mem::align_of::<u64>() - 1);
        // SAFETY: `filled` bytes fit both in the caller's struct (its
        // `size`) and in `full`; the regions are distinct.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&full as *const nhttps_stats).cast::<u8>(),
                stats.cast::<u8>(),
                filled,
            );
            (*stats).size = filled;
        }
        nhttps_result::NHTTPS_OK
    }
}

/// The TCP port the server listens on (0 before listening, for a unix
/// socket, or if `server` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_port(server: *const nhttps_server) -> u16 {
    ffi_boundary! { try_ref!(server).port() }
}

/// The certificate the server was built with (`nhttps_server_new`), PEM,
/// NUL-terminated — handy to make a client trust the development
/// certificate. `nhttps_server_set_secure_context` does not change it.
/// Borrowed from `server`: valid until `nhttps_server_free`. NULL if
/// `server` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_certificate_pem(server: *const nhttps_server) -> *const c_char {
    ffi_boundary! { try_ref!(server).certificate_pem().as_ptr() }
}

/// Node's `server.close()`: stops accepting, closes idle connections, lets
/// requests in flight finish (their responses say `Connection: close`),
/// then emits `close`. The listening socket closes first; a connection
/// accepted before that has up to a second to send its first request and
/// is answered (so a rolling restart with `_set_reuse_port` loses none). Returns when every connection thread has ended, so
/// that a host language can unload the library safely afterwards. Called
/// from one of the server's own callbacks, it returns at once instead and
/// `close` follows when the last connection ends (this is told by the
/// calling thread: a host language whose FFI runs callbacks on a thread of
/// its own, as Ruby's ffi gem does, must close from yet another thread).
/// Sockets handed over by `upgrade` are the user's and are not waited for.
/// Calling it twice is harmless.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_close(server: *mut nhttps_server) -> nhttps_result {
    ffi_boundary! {
        try_ref!(server).close();
        nhttps_result::NHTTPS_OK
    }
}
