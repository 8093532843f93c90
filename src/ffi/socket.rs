//! `nhttps_socket`: the connection handed over on `upgrade`.

use super::error::nhttps_result;
use super::handle::{box_castable, lend, take};
use super::macros::{ffi_boundary, try_core, try_out, try_ref, try_slice};
use super::message::nhttps_socket_info;
use crate::server::UpgradedSocket;

/// A connection after `upgrade`: TLS still runs, HTTP is over. Owned by
/// the caller, who frees it with `nhttps_socket_free`. Usable from any
/// thread and full duplex: a read waiting for input on one thread blocks
/// neither writes nor `nhttps_socket_close` on another (one reader and one
/// writer at a time).
pub struct nhttps_socket {
    _private: [u8; 0],
}
box_castable!(nhttps_socket => UpgradedSocket);

/// Reads up to `capacity` bytes into `buffer` (written, not kept), blocking
/// until some arrive; `*read_out` is 0 when the peer has closed.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_read(
    socket: *mut nhttps_socket,
    buffer: *mut u8,
    capacity: usize,
    read_out: *mut usize,
) -> nhttps_result {
    ffi_boundary! {
        let socket = try_ref!(socket);
        let read_out = try_out!(read_out);
        let buffer = try_slice!(mut buffer, capacity);
        *read_out = 0;
        if buffer.is_empty() {
            return nhttps_result::NHTTPS_OK;
        }
        *read_out = try_core!(socket.read(buffer));
        nhttps_result::NHTTPS_OK
    }
}

/// Writes all `len` bytes of `data` (not kept), blocking until done.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_write(
    socket: *mut nhttps_socket,
    data: *const u8,
    len: usize,
) -> nhttps_result {
    ffi_boundary! {
        try_core!(try_ref!(socket).write(try_slice!(data, len)));
        nhttps_result::NHTTPS_OK
    }
}

/// Sends TLS close_notify and closes the connection; the handle stays valid
/// (reads return 0, writes fail) until `nhttps_socket_free`. A read waiting
/// on another thread wakes up and returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_close(socket: *mut nhttps_socket) -> nhttps_result {
    ffi_boundary! {
        try_ref!(socket).close();
        nhttps_result::NHTTPS_OK
    }
}

/// Closes the connection if still open and frees the socket. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_free(socket: *mut nhttps_socket) {
    ffi_boundary! {
        if let Some(socket) = unsafe { take(socket) } {
            socket.close();
        }
    }
}

/// The connection's addresses and TLS details, borrowed from `socket`:
/// valid until `nhttps_socket_free`, after `nhttps_socket_close` too.
#[unsafe(no_mangle)]
pub extern "C" fn nhttps_socket_get_info(
    socket: *const nhttps_socket,
) -> *const nhttps_socket_info {
    ffi_boundary! { lend::<nhttps_socket_info>(try_ref!(socket).info()) }
}
