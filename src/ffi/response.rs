//! `nhttps_server_response`: Node's `ServerResponse`.

use std::ffi::{CString, c_char};

use super::error::nhttps_result;
use super::handle::{castable, take};
use super::macros::{ffi_boundary, try_core, try_mut, try_ref, try_slice, try_str};
use crate::server::ServerResponse;

/// A response and the storage for the header value last asked for.
pub(crate) struct ResponseHandle {
    response: ServerResponse,
    header_value: Option<CString>,
}

impl ResponseHandle {
    pub(crate) fn new(response: ServerResponse) -> ResponseHandle {
        ResponseHandle {
            response,
            header_value: None,
        }
    }
}

/// A response (Node's `ServerResponse`), handed to a `request` or
/// `checkContinue` callback. Valid until `nhttps_server_response_end`,
/// which sends the rest and frees it; every response must be ended
/// exactly once, from any thread. Not for use from two threads at once.
pub struct nhttps_server_response {
    _private: [u8; 0],
}
castable!(nhttps_server_response => ResponseHandle);

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
    ffi_boundary! { ok(try_ref!(response).response.set_status(status)) }
}

/// Node's `statusMessage` (default: the standard phrase), copied.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_set_status_message(
    response: *mut nhttps_server_response,
    message: *const c_char,
) -> nhttps_result {
    ffi_boundary! { ok(try_ref!(response).response.set_status_message(try_str!(message))) }
}

/// Node's `setHeader`: sets header `name` to `value`, replacing earlier
/// values (both copied). A name that is not a token, or a value with CR, LF
/// or other control characters, is `NHTTPS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_set_header(
    response: *mut nhttps_server_response,
    name: *const c_char,
    value: *const c_char,
) -> nhttps_result {
    ffi_boundary! { ok(try_ref!(response).response.set_header(try_str!(name), try_str!(value))) }
}

/// Node's `appendHeader`: adds a value for `name`, keeping earlier ones
/// (e.g. several `Set-Cookie`).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_append_header(
    response: *mut nhttps_server_response,
    name: *const c_char,
    value: *const c_char,
) -> nhttps_result {
    ffi_boundary! { ok(try_ref!(response).response.append_header(try_str!(name), try_str!(value))) }
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
        let handle = try_mut!(response);
        let value = handle.response.header(try_str!(name)).and_then(|v| CString::new(v).ok());
        handle.header_value = value;
        handle.header_value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())
    }
}

/// Node's `removeHeader`. Removing a header that is not set is not an error.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_remove_header(
    response: *mut nhttps_server_response,
    name: *const c_char,
) -> nhttps_result {
    ffi_boundary! { ok(try_ref!(response).response.remove_header(try_str!(name)).map(drop)) }
}

/// Node's `headersSent`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_headers_sent(
    response: *const nhttps_server_response,
) -> bool {
    ffi_boundary! { try_ref!(response).response.headers_sent() }
}

/// Node's `writeHead`: sets the status (and, if `message` is not NULL, the
/// status message) and sends the head now. Headers set before are sent;
/// the body then follows with `write`/`end`.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_write_head(
    response: *mut nhttps_server_response,
    status: u16,
    message: *const c_char,
) -> nhttps_result {
    ffi_boundary! {
        let response = try_ref!(response);
        let message = if message.is_null() { None } else { Some(try_str!(message)) };
        ok(response.response.write_head(status, message))
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
    ffi_boundary! { ok(try_ref!(response).response.write(try_slice!(data, len))) }
}

/// Node's `writeContinue`: sends `100 Continue` (in a `checkContinue`
/// callback, before reading the body).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_write_continue(
    response: *mut nhttps_server_response,
) -> nhttps_result {
    ffi_boundary! { ok(try_ref!(response).response.write_continue()) }
}

/// Node's `end`: sends `len` bytes (may be 0; `data` may then be NULL) as
/// the last of the body and finishes the response. When nothing was sent
/// yet and no Content-Length was set, it is set to `len`. **Frees
/// `response`, and ends the life of its request**, whatever the result:
/// neither handle may be used afterwards. An error means the client did not
/// get the whole response (its connection is then closed).
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_server_response_end(
    response: *mut nhttps_server_response,
    data: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        let Some(handle) = (unsafe { take(response) }) else {
            return super::macros::null_argument("response");
        };
        let data = match unsafe { super::macros::slice_arg(data, len, "data") } {
            Ok(data) => data,
            Err(error) => {
                drop(handle);
                return super::error::fail(error);
            }
        };
        ok(handle.response.end(data))
    }
}
