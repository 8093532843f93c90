//! The byte stream under TLS: a TCP or a unix-domain socket.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::sys;

/// A connected socket of either family. Clones share one descriptor,
/// closed when the last clone is dropped: a server's table of connections
/// holds a clone of each (to shut it down from `close` or at a deadline)
/// without costing a second descriptor per connection.
#[derive(Debug, Clone)]
pub struct Transport(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    socket: Socket,
    /// The socket's read timeout as last set, in nanoseconds (0: none): a
    /// request sets it again and again to the same value, which then
    /// costs no system call.
    read_timeout_ns: AtomicU64,
    /// Reads return `WouldBlock` instead of waiting (see `read_without_waiting`).
    reads_without_waiting: AtomicBool,
    /// Where the bytes read and written are counted, if anywhere.
    traffic: OnceLock<Arc<Traffic>>,
}

/// Bytes read and written, at the socket (TLS records included), on every
/// transport that counts into it: a server's, for its statistics.
#[derive(Debug, Default)]
pub struct Traffic {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

#[derive(Debug)]
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl From<TcpStream> for Transport {
    fn from(stream: TcpStream) -> Transport {
        Transport::new(Socket::Tcp(stream))
    }
}

impl From<UnixStream> for Transport {
    fn from(stream: UnixStream) -> Transport {
        Transport::new(Socket::Unix(stream))
    }
}

fn nanos(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
    })
}

impl Transport {
    fn new(socket: Socket) -> Transport {
        Transport(Arc::new(Inner {
            socket,
            read_timeout_ns: AtomicU64::new(0),
            reads_without_waiting: AtomicBool::new(false),
            traffic: OnceLock::new(),
        }))
    }

    /// Counts this socket's bytes into `traffic` from now on (once: a
    /// second call changes nothing).
    pub fn count_traffic(&self, traffic: &Arc<Traffic>) {
        let _ = self.0.traffic.set(traffic.clone());
    }

    /// Another handle on the same socket (no new descriptor).
    pub fn try_clone(&self) -> io::Result<Transport> {
        Ok(self.clone())
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.0.socket {
            Socket::Tcp(s) => s.shutdown(how),
            Socket::Unix(s) => s.shutdown(how),
        }
    }

    /// While true, reads take what is there and return `WouldBlock` when
    /// nothing is, instead of waiting (for one look at a socket a poller
    /// reported: its bytes may have been read already).
    pub fn read_without_waiting(&self, without_waiting: bool) {
        self.0
            .reads_without_waiting
            .store(without_waiting, Ordering::Relaxed);
    }

    /// How long one read may wait for bytes (`None`: for ever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let ns = nanos(timeout);
        if self.0.read_timeout_ns.load(Ordering::Relaxed) == ns {
            return Ok(());
        }
        match &self.0.socket {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            Socket::Unix(s) => s.set_read_timeout(timeout),
        }?;
        self.0.read_timeout_ns.store(ns, Ordering::Relaxed);
        Ok(())
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match &self.0.socket {
            Socket::Tcp(s) => s.set_write_timeout(timeout),
            Socket::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// The peer's IP address (an IPv4-mapped IPv6 one as IPv4); `None` for
    /// a unix socket.
    pub fn remote_ip(&self) -> Option<IpAddr> {
        match &self.0.socket {
            Socket::Tcp(s) => s.peer_addr().ok().map(|a| a.ip().to_canonical()),
            Socket::Unix(_) => None,
        }
    }

    /// `(address, port)` of the peer; `None` for a unix socket.
    pub fn remote(&self) -> Option<(String, u16)> {
        match &self.0.socket {
            Socket::Tcp(s) => s.peer_addr().ok().map(|a| (a.ip().to_string(), a.port())),
            Socket::Unix(_) => None,
        }
    }

    /// `(address, port)` of our end; for a unix socket, its path and 0.
    pub fn local(&self) -> Option<(String, u16)> {
        match &self.0.socket {
            Socket::Tcp(s) => s.local_addr().ok().map(|a| (a.ip().to_string(), a.port())),
            Socket::Unix(s) => s
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| (p.display().to_string(), 0))),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = if self.0.reads_without_waiting.load(Ordering::Relaxed) {
            sys::recv_without_waiting(self.raw_fd(), buf)
        } else {
            match &self.0.socket {
                Socket::Tcp(s) => (&*s).read(buf),
                Socket::Unix(s) => (&*s).read(buf),
            }
        }?;
        if let Some(traffic) = self.0.traffic.get() {
            traffic.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &self.0.socket {
            // std sends with MSG_NOSIGNAL on TCP sockets.
            Socket::Tcp(s) => (&*s).write(buf),
            // std writes to a unix socket with write(2), which raises SIGPIPE.
            Socket::Unix(s) => sys::send_without_sigpipe(s.as_raw_fd(), buf),
        }?;
        if let Some(traffic) = self.0.traffic.get() {
            traffic.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Wakes every thread blocked in `accept` on the listening socket `fd` and
/// makes later `accept`s fail at once (Linux: `shutdown(2)` on a listening
/// socket). Unlike connecting to ourselves, this cannot wait behind a full
/// backlog.
pub fn stop_accepting(fd: std::os::unix::io::RawFd) -> io::Result<()> {
    sys::shutdown(fd)
}

impl Transport {
    pub(super) fn raw_fd(&self) -> std::os::unix::io::RawFd {
        match &self.0.socket {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Blocks until reading would not block: bytes are waiting, the peer
    /// closed, or the socket was shut down (also from another thread).
    pub fn wait_readable(&self) -> io::Result<()> {
        self.poll_readable(-1).map(|_| ())
    }

    /// As `wait_readable`, for at most `timeout`; false when it passed.
    pub fn wait_readable_for(&self, timeout: Duration) -> io::Result<bool> {
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        self.poll_readable(ms)
    }

    fn poll_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        sys::poll_readable(self.raw_fd(), timeout_ms)
    }

    /// Whether reading would not block: bytes are waiting or the peer has
    /// closed. An idle pooled connection for which this is true is stale.
    pub fn is_readable_now(&self) -> bool {
        match sys::peek_without_waiting(self.raw_fd()) {
            Ok(_) => true,
            Err(err) => !matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }
}
