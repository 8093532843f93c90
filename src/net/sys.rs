//! The socket system calls std has no safe form for, each behind a safe
//! function: a read that does not wait, a send that raises no SIGPIPE, a
//! look at whether a socket is readable (poll, a peek), the shutdown of a
//! listening socket, and what a listener bound with `SO_REUSEPORT` or
//! adopted from an inherited descriptor needs (socket, options, bind,
//! listen, close-on-exec, taking ownership). With epoll (`poller.rs`), the
//! only `unsafe` of `net`: the crate denies it everywhere else.
//!
//! A descriptor is passed as a `RawFd`: every call here only reads or
//! writes the memory it is given (which Rust's borrows keep valid for the
//! call), so a descriptor that is closed or not a socket gets an error
//! (EBADF, ENOTSOCK), never undefined behaviour. `take_ownership` alone
//! makes a promise about a descriptor, and says whose it is.
#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;
use std::os::unix::io::{FromRawFd, OwnedFd, RawFd};

/// A call's result, with -1 turned into the error errno holds.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Makes a call again while a signal interrupts it; -1 becomes errno's error.
fn retrying(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A read that returns `WouldBlock` when no byte is there, whether or not
/// the socket is in non-blocking mode (which its other users share).
pub(super) fn recv_without_waiting(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its whole length for the call.
    retrying(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) })
}

/// A send that gets EPIPE, not SIGPIPE, when the peer has gone: a library
/// must not kill its host program for that. (std sends so on TCP sockets,
/// but writes to a unix socket with write(2).)
pub(super) fn send_without_sigpipe(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its whole length for the call.
    retrying(|| unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

/// Waits up to `timeout_ms` (-1: for ever) until reading `fd` would not
/// block: bytes are waiting, the peer closed, or the socket was shut down.
/// False when the time passed.
pub(super) fn poll_readable(fd: RawFd, timeout_ms: libc::c_int) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd we own, for the duration of the call.
    let n = retrying(|| unsafe { libc::poll(&mut poll, 1, timeout_ms) } as isize)?;
    Ok(n > 0)
}

/// Looks at the next byte without taking it or waiting for it: `Ok` when
/// reading would not block (a byte is there, or 0 for the peer's close),
/// `WouldBlock` when nothing is. Not retried when a signal interrupts it.
pub(super) fn peek_without_waiting(fd: RawFd) -> io::Result<usize> {
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer we own; MSG_PEEK leaves the data in the
    // socket and MSG_DONTWAIT keeps the call from blocking.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// shutdown(2) both ways; on a listening socket (Linux) it wakes every
/// thread blocked in `accept` and makes later `accept`s fail at once.
pub(super) fn shutdown(fd: RawFd) -> io::Result<()> {
    // SAFETY: no memory is passed.
    check(unsafe { libc::shutdown(fd, libc::SHUT_RDWR) }).map(drop)
}

/// A new stream socket of `family`, closed on exec.
pub(super) fn stream_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: no memory is passed.
    let fd = check(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    Ok(take_ownership(fd))
}

/// Owns `fd` from now on (closes it when dropped). The caller promises
/// that `fd` is open and that nothing else owns it: a descriptor a system
/// call has just made, or one the program inherited and hands over
/// (`listening::adopt`, whose callers make that promise in turn).
pub(super) fn take_ownership(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller's promise above: `fd` is open and owned by
    // nothing else, so it is closed once, by this `OwnedFd`.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Sets an int socket option.
pub(super) fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: an int option, passed by pointer with its size, for the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Reads an int socket option.
pub(super) fn int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int option read into `value`, whose size `len` says.
    check(unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// bind(2) to `addr`.
pub(super) fn bind(fd: RawFd, addr: SocketAddr) -> io::Result<()> {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sin` is a whole sockaddr_in, of the length given, for the call.
            check(unsafe {
                libc::bind(
                    fd,
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            })
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: `sin6` is a whole sockaddr_in6, of the length given, for the call.
            check(unsafe {
                libc::bind(
                    fd,
                    (&sin6 as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            })
        }
    }
    .map(drop)
}

/// listen(2) with `backlog`.
pub(super) fn listen(fd: RawFd, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: no memory is passed.
    check(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// Marks `fd` closed on exec (errors ignored: it is only hygiene).
pub(super) fn set_close_on_exec(fd: RawFd) {
    // SAFETY: no memory is passed.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}
