//! Listening sockets that std cannot make: one bound with `SO_REUSEPORT`
//! (several processes share a port and the kernel spreads connections among
//! them), and one adopted from a descriptor the program inherited
//! (systemd's socket activation, or a previous process).

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::io::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

/// The listen(2) backlog, as std's `TcpListener::bind` uses.
const BACKLOG: libc::c_int = 128;

/// A listening socket handed over by descriptor.
pub enum Inherited {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Binds `addr` with `SO_REUSEADDR` and `SO_REUSEPORT` set, and listens.
pub fn bind_reusing_port(addr: SocketAddr) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) with constant arguments; the descriptor it returns
    // is owned at once by `OwnedFd`, which closes it on every error path.
    let fd = check(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    set_flag(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    set_flag(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT)?;
    if let SocketAddr::V6(_) = addr {
        // As std does: an IPv6 socket takes IPv6 only, so that "::" and
        // "0.0.0.0" can be bound side by side.
        set_flag(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?;
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for the call.
    check(unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    // SAFETY: listen(2) on the socket we own.
    check(unsafe { libc::listen(fd, BACKLOG) })?;
    Ok(TcpListener::from(socket))
}

/// Takes `fd`, which must be a listening stream socket (TCP or unix), as a
/// listener; it is owned (closed) by the result from then on. Fails, and
/// leaves the descriptor alone, when it is not one.
pub fn adopt(fd: RawFd) -> io::Result<Inherited> {
    if fd < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a descriptor",
        ));
    }
    if get_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)? != libc::SOCK_STREAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a stream socket",
        ));
    }
    if get_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not listening"));
    }
    let family = get_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    if !matches!(family, libc::AF_INET | libc::AF_INET6 | libc::AF_UNIX) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a socket of family {family}, not TCP or unix"),
        ));
    }
    // SAFETY: fcntl(2) on the descriptor the caller hands over, with the
    // flags it returns: closed on exec like every socket of the server's
    // own, and blocking in accept (systemd may pass it non-blocking).
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    // SAFETY: the caller gives up `fd` (checked above to be a listening
    // stream socket); from here only the listener closes it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(if family == libc::AF_UNIX {
        Inherited::Unix(UnixListener::from(socket))
    } else {
        Inherited::Tcp(TcpListener::from(socket))
    })
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn set_flag(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: an int option, passed by pointer with its size.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
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

/// `addr` as a sockaddr for bind(2).
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
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
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::os::unix::io::{AsRawFd, IntoRawFd};

    #[test]
    fn two_listeners_share_a_port_with_reuse_port() {
        let first = bind_reusing_port("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let second = bind_reusing_port(addr).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
    }

    #[test]
    fn a_port_bound_without_reuse_port_is_not_shared() {
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = plain.local_addr().unwrap();
        assert!(bind_reusing_port(addr).is_err());
    }

    #[test]
    fn an_adopted_listening_socket_accepts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let Inherited::Tcp(adopted) = adopt(listener.into_raw_fd()).unwrap() else {
            panic!("a TCP socket adopted as unix");
        };
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"hi").unwrap();
        let (mut accepted, _) = adopted.accept().unwrap();
        let mut got = [0u8; 2];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
    }

    #[test]
    fn a_socket_that_is_not_listening_is_refused_and_left_open() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let fd = stream.as_raw_fd();
        let error = adopt(fd).err().unwrap();
        assert!(error.to_string().contains("not listening"), "{error}");
        assert!(stream.peer_addr().is_ok(), "the descriptor was closed");
    }

    #[test]
    fn a_file_is_not_a_socket() {
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(adopt(file.as_raw_fd()).is_err());
    }
}
