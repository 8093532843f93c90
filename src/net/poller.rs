//! Readiness of many sockets at once (Linux epoll): a connection waiting
//! for its next bytes is watched here instead of by a thread of its own.
//! Each socket is watched once (`watch`), and reported once when bytes
//! arrive, the peer closes or the socket is shut down; `wake` interrupts a
//! `wait` from another thread.

use std::io;
use std::os::unix::io::RawFd;
use std::time::Duration;

use super::Transport;

/// The token `wait` reports for a `wake`.
pub const WAKE: u64 = u64::MAX;

/// An epoll instance and the eventfd that wakes it.
#[derive(Debug)]
pub struct Poller {
    epoll: RawFd,
    wake: RawFd,
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain system calls creating descriptors this value owns.
        let epoll = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        let wake = match check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
        {
            Ok(fd) => fd,
            Err(e) => {
                // SAFETY: `epoll` is ours and not used again.
                unsafe { libc::close(epoll) };
                return Err(e);
            }
        };
        let poller = Poller { epoll, wake };
        poller.control(libc::EPOLL_CTL_ADD, wake, libc::EPOLLIN as u32, WAKE)?;
        Ok(poller)
    }

    fn control(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: `event` lives for the call; epoll copies it.
        check(unsafe { libc::epoll_ctl(self.epoll, op, fd, &mut event) }).map(drop)
    }

    /// Watches `transport` until it becomes readable (bytes, the peer's
    /// close, a shutdown); `wait` then reports `token` once. Call `forget`
    /// before watching it again.
    pub fn watch(&self, transport: &Transport, token: u64) -> io::Result<()> {
        let events = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;
        self.control(libc::EPOLL_CTL_ADD, transport.raw_fd(), events, token)
    }

    /// Stops watching `transport` (after it was reported).
    pub fn forget(&self, transport: &Transport) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_DEL, transport.raw_fd(), 0, 0)
    }

    /// Makes a `wait` (now or the next one) return `WAKE`.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local to our eventfd. A full
        // counter (EAGAIN) means a wake is pending already.
        unsafe { libc::write(self.wake, (&one as *const u64).cast(), 8) };
    }

    /// Waits up to `timeout` (`None`: for ever) and puts the tokens of the
    /// sockets that became readable into `ready` (cleared first); `WAKE`
    /// when woken.
    pub fn wait(&self, ready: &mut Vec<u64>, timeout: Option<Duration>) -> io::Result<()> {
        ready.clear();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 256];
        let timeout_ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        // SAFETY: `events` is writable for its whole length.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll,
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(err)
            };
        }
        for event in &events[..n as usize] {
            let token = event.u64;
            if token == WAKE {
                let mut count: u64 = 0;
                // SAFETY: reads 8 bytes into a local from our eventfd.
                unsafe { libc::read(self.wake, (&mut count as *mut u64).cast(), 8) };
            }
            ready.push(token);
        }
        Ok(())
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: both descriptors are ours and closed once.
        unsafe {
            libc::close(self.wake);
            libc::close(self.epoll);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{Shutdown, TcpListener, TcpStream};

    fn pair() -> (Transport, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (Transport::from(server), client)
    }

    #[test]
    fn a_watched_socket_is_reported_once_when_bytes_arrive() {
        let poller = Poller::new().unwrap();
        let (server, mut client) = pair();
        poller.watch(&server, 7).unwrap();
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(ready.is_empty());
        client.write_all(b"x").unwrap();
        poller
            .wait(&mut ready, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready, [7]);
        // Once only, though the byte is still unread.
        poller
            .wait(&mut ready, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(ready.is_empty());
        poller.forget(&server).unwrap();
        poller.watch(&server, 8).unwrap();
        poller
            .wait(&mut ready, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready, [8]);
    }

    #[test]
    fn bytes_already_there_are_reported_at_once() {
        let poller = Poller::new().unwrap();
        let (server, mut client) = pair();
        client.write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        poller.watch(&server, 1).unwrap();
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready, [1]);
    }

    #[test]
    fn a_shutdown_and_a_wake_are_reported() {
        let poller = Poller::new().unwrap();
        let (server, _client) = pair();
        poller.watch(&server, 3).unwrap();
        server.shutdown(Shutdown::Read).unwrap();
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready, [3]);
        poller.wake();
        poller
            .wait(&mut ready, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready, [WAKE]);
    }
}
