//! `nhttps_server_response`: Node's `ServerResponse`.
//!
//! Its handles come from a slot table (`slots`), so a call on a response
//! that was already ended is `NHTTPS_ERR_INVALID_STATE`, not a use after free.

use std::ffi::{CString, c_char};

use super::error::{ErrorReturn, fail, nhttps_result};
use super::macros::{ffi_boundary, null_argument, try_core, try_cstr_bytes, try_slice, try_str};
use super::slots::Slots;
use crate::error::Error;
use crate::server::ServerResponse;

/// A response and the storage for the header value last asked for.
struct ResponseHandle {
    response: ServerResponse,
    header_value: Option<CString>,
}

static RESPONSES: Slots<ResponseHandle> = Slots::new();

/// A response (Node's `ServerResponse`), handed to a `request` or
/// `checkContinue` callback. Valid until `nhttps_server_response_end`,
/// which sends the rest and frees it; every response must be ended
/// exactly once, from any thread. A call on a response that was already
/// ended (a second `end`, a `write` after `end`) returns
/// `NHTTPS_ERR_INVALID_STATE` (or NULL/false) and touches nothing: the
/// handle is checked, never dereferenced. Calls on one response from two
/// threads at once are serialized.
pub struct nhttps_server_response {
    _private: [u8; 0],
}

/// Gives a response to C. None when a million responses are already open
/// (the response is then dropped, which answers 500).
pub(crate) fn new_handle(response: ServerResponse) -> Option<*mut nhttps_server_response> {
    let handle = ResponseHandle {
        response,
        header_value: None,
    };
    let id = RESPONSES.insert(handle).ok()?;
    Some(std::ptr::without_provenance_mut(id))
}

/// Runs `f` on the response behind `response`: NULL is
/// `NHTTPS_ERR_NULL_ARGUMENT`, an ended response `NHTTPS_ERR_INVALID_STATE`.
fn with<R: ErrorReturn>(
    response: *const nhttps_server_response,
    f: impl FnOnce(&mut ResponseHandle) -> R,
) -> R {
    if response.is_null() {
        return null_argument("response");
    }
    RESPONSES
        .with(response.addr(), f)
        .unwrap_or_else(|| fail(ended()))
}

/// Takes the response behind `response` out of the table, for `end` or
/// `destroy`: from then on its handle is ended.
fn take(response: *mut nhttps_server_response) -> Result<ResponseHandle, nhttps_result> {
    if response.is_null() {
        return Err(null_argument("response"));
    }
    RESPONSES
        .remove(response.addr())
        .ok_or_else(|| fail(ended()))
}

fn ended() -> Error {
    Error::state("the response was already ended (nhttps_server_response_end)")
}

fn ok(result: crate::Result<()>) -> nhttps_result {
    try_core!(result);
    nhttps_result::NHTTPS_OK
}

/// Node's `statusCode` (default 200), 100–999. `NHTTPS_ERR_INVALID_STATE`
/// once the head was sent.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_set_status(
    response: *mut nhttps_server_response,
    status: u16,
) -> nhttps_result {
    ffi_boundary! { with(response, |h| ok(h.response.set_status(status))) }
}

/// Node's `statusMessage` (default: the standard phrase), copied.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_set_status_message(
    response: *mut nhttps_server_response,
    message: *const c_char,
) -> nhttps_result {
    ffi_boundary! { with(response, |h| ok(h.response.set_status_message(try_str!(message)))) }
}

/// Node's `setHeader`: sets header `name` to `value`, replacing earlier
/// values (both copied). The value goes out as its bytes, in any encoding
/// (bytes 0x80–0xFF are RFC 9110's obs-text: Node writes Latin-1, a WSGI
/// application gives Latin-1, others UTF-8). A name that is not a token, or
/// a value with CR, LF or other control characters, is
/// `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_set_header(
    response: *mut nhttps_server_response,
    name: *const c_char,
    value: *const c_char,
) -> nhttps_result {
    ffi_boundary! { with(response, |h| ok(h.response.set_header(try_str!(name), try_cstr_bytes!(value)))) }
}

/// Node's `appendHeader`: adds a value for `name`, keeping earlier ones
/// (e.g. several `Set-Cookie`). Both strings are copied; the value is bytes
/// as for `_set_header`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_append_header(
    response: *mut nhttps_server_response,
    name: *const c_char,
    value: *const c_char,
) -> nhttps_result {
    ffi_boundary! { with(response, |h| ok(h.response.append_header(try_str!(name), try_cstr_bytes!(value)))) }
}

/// Node's `getHeader`: the first value set for `name` (any case), or NULL.
/// The string is a copy held by `response`, valid until the next call on
/// `response`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_get_header(
    response: *mut nhttps_server_response,
    name: *const c_char,
) -> *const c_char {
    ffi_boundary! {
        with(response, |handle| {
            let value = handle.response.header(try_str!(name)).and_then(|v| CString::new(v).ok());
            handle.header_value = value;
            handle.header_value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())
        })
    }
}

/// Node's `removeHeader`: `name` is read now, not kept. Removing a header
/// that is not set is not an error.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_remove_header(
    response: *mut nhttps_server_response,
    name: *const c_char,
) -> nhttps_result {
    ffi_boundary! { with(response, |h| ok(h.response.remove_header(try_str!(name)).map(drop))) }
}

/// `statusCode`, `statusMessage` and the headers of a response in one call
/// (not in Node as one; a binding's whole head at once). `message` NULL is
/// the standard phrase. `raw_headers` holds `len` bytes: names and values
/// in turn, each ending with a NUL — `"Content-Type\0text/plain\0"` — as
/// Node's raw header arrays (`len` 0: none; `raw_headers` may then be NULL);
/// values are bytes as for `_set_header`.
/// Each name replaces the values set before under it (Node's `setHeader`);
/// a name given twice in `raw_headers` keeps both values. Unlike
/// `_write_head`, the head is not fixed: `_end` still sets Content-Length.
/// Both are read during the call, not kept. All or nothing: a name that is
/// not a token, a value with control characters, a block that is not
/// whole pairs is `NHTTPS_ERR_INVALID_ARGUMENT` and changes
/// nothing; `NHTTPS_ERR_INVALID_STATE` once the head was sent.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_set_head(
    response: *mut nhttps_server_response,
    status: u16,
    message: *const c_char,
    raw_headers: *const c_char,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        let message = if message.is_null() { None } else { Some(try_str!(message)) };
        let block = try_slice!(raw_headers, len);
        // SAFETY: c_char and u8 have the same size and alignment.
        let block: &[u8] = unsafe { std::slice::from_raw_parts(block.as_ptr().cast(), block.len()) };
        let headers = try_core!(raw_header_pairs(block));
        with(response, |h| ok(h.response.set_head(status, message, &headers)))
    }
}

/// `"name\0value\0..."` as (name, value) pairs.
fn raw_header_pairs(block: &[u8]) -> crate::Result<Vec<(&str, &[u8])>> {
    let Some(fields) = block.strip_suffix(b"\0") else {
        return if block.is_empty() {
            Ok(Vec::new())
        } else {
            Err(Error::invalid("raw_headers does not end with a NUL"))
        };
    };
    let mut fields = fields.split(|&b| b == 0);
    let mut pairs = Vec::new();
    while let Some(name) = fields.next() {
        let value = fields
            .next()
            .ok_or_else(|| Error::invalid("raw_headers has a name without a value"))?;
        let name = std::str::from_utf8(name)
            .map_err(|_| Error::invalid("raw_headers has a header name that is not a token"))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Node's `headersSent`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_headers_sent(
    response: *const nhttps_server_response,
) -> bool {
    ffi_boundary! { with(response, |h| h.response.headers_sent()) }
}

/// Node's `writeHead`: sets the status (and, if `message` is not NULL, the
/// status message, copied) and fixes the head: the headers set before are
/// in it, and none may change afterwards. As in Node, the head goes out
/// with the first `write`, or at `end`, in the same TLS record as the body.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_write_head(
    response: *mut nhttps_server_response,
    status: u16,
    message: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let message = if message.is_null() { None } else { Some(try_str!(message)) };
        with(response, |h| ok(h.response.write_head(status, message)))
    }
}

/// Node's `write`: sends `len` bytes of body (the head first if not sent
/// yet), blocking until written. Without a Content-Length header the body
/// is chunked on HTTP/1.1, and ends with the connection on HTTP/1.0.
/// `data` is not kept. `NHTTPS_ERR_CONNECTION_CLOSED` if the client is gone.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_write(
    response: *mut nhttps_server_response,
    data: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! { with(response, |h| ok(h.response.write(try_slice!(data, len)))) }
}

/// Node's `writeContinue`: sends `100 Continue` (in a `checkContinue`
/// callback, before reading the body).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_write_continue(
    response: *mut nhttps_server_response,
) -> nhttps_result {
    ffi_boundary! { with(response, |h| ok(h.response.write_continue())) }
}

/// Node's `end`: sends `len` bytes (may be 0; `data` may then be NULL) as
/// the last of the body and finishes the response; `data` is not kept.
/// When nothing was sent yet and no Content-Length was set, it is set to
/// `len`. **Frees `response`**, whatever the result: a later call on it
/// returns `NHTTPS_ERR_INVALID_STATE` (so does a second `end`, which sends
/// nothing). Its request stays valid until the `request` callback has
/// returned too (see `nhttps_request_callback`). An error means the client
/// did not get the whole response (its connection is then closed). For a
/// request taken from the queue, up to 16 KiB are sent by nhttps's threads
/// after `end` returns (see `nhttps_server_queue_requests`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_end(
    response: *mut nhttps_server_response,
    data: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        let handle = match take(response) {
            Ok(handle) => handle,
            Err(result) => return result,
        };
        // A bad `data` still ends the response (dropping it answers 500).
        ok(handle.response.end(try_slice!(data, len)))
    }
}

/// Node's `res.destroy()`: abandons the response — nothing more of it is
/// sent (a head set with `_write_head` but not yet sent is dropped) — and
/// closes the connection, so that the client sees the response cut short
/// (a body short of its length or without its last chunk), or no response
/// at all. For an application that fails after sending part of its
/// answer, where `nhttps_server_response_end` would make it look whole.
/// **Frees `response`**, like `_end`: a later call on it returns
/// `NHTTPS_ERR_INVALID_STATE`. Its request stays valid as after `_end`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_destroy(
    response: *mut nhttps_server_response,
) -> nhttps_result {
    ffi_boundary! {
        match take(response) {
            Ok(handle) => handle.response.destroy(),
            Err(result) => return result,
        }
        nhttps_result::NHTTPS_OK
    }
}
