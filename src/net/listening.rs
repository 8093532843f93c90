//! Listening sockets that std cannot make: one bound with `SO_REUSEPORT`
//! (several processes share a port and the kernel spreads connections among
//! them), and one adopted from a descriptor the program inherited
//! (systemd's socket activation, or a previous process).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;

use super::sys;

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
    // Owned at once: closed on every error path.
    let socket = sys::stream_socket(family)?;
    let fd = socket.as_raw_fd();
    sys::set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    sys::set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    if let SocketAddr::V6(_) = addr {
        // As std does: an IPv6 socket takes IPv6 only, so that "::" and
        // "0.0.0.0" can be bound side by side.
        sys::set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    sys::bind(fd, addr)?;
    sys::listen(fd, BACKLOG)?;
    Ok(TcpListener::from(socket))
}

/// Takes `fd`, which must be a listening stream socket (TCP or unix), as a
/// listener; it is owned (closed) by the result from then on: the caller
/// gives it up. Fails, and leaves the descriptor alone, when it is not one.
pub fn adopt(fd: RawFd) -> io::Result<Inherited> {
    if fd < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a descriptor",
        ));
    }
    if sys::int_option(fd, libc::SOL_SOCKET, libc::SO_TYPE)? != libc::SOCK_STREAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a stream socket",
        ));
    }
    if sys::int_option(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not listening"));
    }
    let family = sys::int_option(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    if !matches!(family, libc::AF_INET | libc::AF_INET6 | libc::AF_UNIX) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a socket of family {family}, not TCP or unix"),
        ));
    }
    // Closed on exec like every socket of the server's own, and blocking
    // in accept (systemd may pass it non-blocking).
    sys::set_close_on_exec(fd);
    // The caller gives `fd` up (checked above to be a listening stream
    // socket); from here only the listener closes it.
    let socket = sys::take_ownership(fd);
    Ok(if family == libc::AF_UNIX {
        let listener = UnixListener::from(socket);
        let _ = listener.set_nonblocking(false);
        Inherited::Unix(listener)
    } else {
        let listener = TcpListener::from(socket);
        let _ = listener.set_nonblocking(false);
        Inherited::Tcp(listener)
    })
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
