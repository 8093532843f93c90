//! A listening socket, TCP or unix-domain, that the accept thread blocks on
//! and that `close` can wake.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::net::listening::{self, Inherited};
use crate::net::{Transport, stop_accepting};

pub(crate) enum Listener {
    Tcp(TcpListener),
    /// The socket file's path when we made it (removed when closed); `None`
    /// for an inherited socket, whose file belongs to whoever bound it.
    Unix(UnixListener, Option<PathBuf>),
}

impl Listener {
    /// Binds `host:port`. No host means every address (IPv6 and IPv4 where
    /// the system allows both, else IPv4), as Node does. With `reuse_port`,
    /// other processes (and servers) that set it too may bind the same
    /// port, and the kernel spreads new connections among them.
    pub fn bind_tcp(host: Option<&str>, port: u16, reuse_port: bool) -> Result<Listener> {
        let candidates: Vec<SocketAddr> = match host {
            None | Some("") => vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            ],
            Some(host) => (host, port)
                .to_socket_addrs()
                .map_err(|e| Error::invalid(format!("cannot resolve host {host:?}: {e}")))?
                .collect(),
        };
        let mut last_error = None;
        for addr in candidates {
            let bound = if reuse_port {
                listening::bind_reusing_port(addr)
            } else {
                TcpListener::bind(addr)
            };
            match bound {
                Ok(listener) => return Ok(Listener::Tcp(listener)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error
            .map(Error::from)
            .unwrap_or_else(|| Error::invalid("the host resolved to no address")))
    }

    pub fn bind_unix(path: PathBuf) -> Result<Listener> {
        let listener = UnixListener::bind(&path).map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => Error::AddressInUse(format!("{}: {e}", path.display())),
            _ => Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        })?;
        Ok(Listener::Unix(listener, Some(path)))
    }

    /// Takes over the listening socket `fd` (TCP or unix), which it closes
    /// from then on; refuses anything else, leaving it open.
    pub fn adopt(fd: RawFd) -> Result<Listener> {
        match listening::adopt(fd) {
            Ok(Inherited::Tcp(listener)) => Ok(Listener::Tcp(listener)),
            Ok(Inherited::Unix(listener)) => Ok(Listener::Unix(listener, None)),
            Err(e) => Err(Error::invalid(format!(
                "cannot listen on descriptor {fd}: {e}"
            ))),
        }
    }

    pub fn accept(&self) -> io::Result<Transport> {
        match self {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept()?;
                stream.set_nodelay(true)?;
                Ok(Transport::from(stream))
            }
            Listener::Unix(l, _) => Ok(Transport::from(l.accept()?.0)),
        }
    }

    /// The bound port (0 for a unix socket).
    pub fn port(&self) -> u16 {
        match self {
            Listener::Tcp(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            Listener::Unix(..) => 0,
        }
    }

    /// Unblocks the thread waiting in `accept`.
    pub fn wake(&self) {
        if let Listener::Tcp(l) = self
            && stop_accepting(l.as_raw_fd()).is_ok()
        {
            return;
        }
        // A unix socket (or a system where a listening TCP socket cannot be
        // shut down): connect to ourselves, without waiting long behind a
        // full backlog where a timeout is possible.
        match self {
            Listener::Tcp(l) => {
                if let Ok(mut addr) = l.local_addr() {
                    if addr.ip().is_unspecified() {
                        addr.set_ip(match addr {
                            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                        });
                    }
                    let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
                }
            }
            Listener::Unix(l, _) => {
                if let Some(path) = l
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(PathBuf::from))
                {
                    let _ = UnixStream::connect(path);
                }
            }
        }
    }
}

impl Drop for Listener {
    /// A unix socket's file goes with it, as in Node.
    fn drop(&mut self) {
        if let Listener::Unix(_, Some(path)) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}
