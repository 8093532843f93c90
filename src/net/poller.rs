//! Readiness of many sockets at once (Linux epoll): a connection waiting
//! for its next bytes is watched here instead of by a thread of its own.
//! A watched socket is reported once each time bytes arrive, the peer
//! closes or the socket is shut down (edge-triggered: bytes left unread
//! are not reported again), to one of the threads waiting (the kernel
//! wakes the one that waited last). It stays watched until `forget` or its
//! last descriptor closes: watching costs no system call per wait. `stop`
//! makes every wait, now and later, return at once; `wake` ends one wait
//! (for work that came from elsewhere than a socket).
//!
//! With `sys.rs`, the only `unsafe` of `net` (the crate denies it
//! everywhere else): the epoll calls, each behind a safe method.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::Transport;

/// Each arrival of bytes (or the peer's close, or a shutdown).
const ARRIVALS: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// Tokens the poller keeps for itself: the `stop` and `wake` signals.
const STOP: u64 = u64::MAX;
const WAKE: u64 = u64::MAX - 1;

/// What `wait_one` saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    /// The socket watched with this token is ready.
    Ready(u64),
    /// The wait's timeout passed.
    TimedOut,
    /// `stop` was called.
    Stopped,
    /// `wake` was called.
    Woken,
}

/// An epoll instance and the eventfds that stop and wake it (all closed
/// when dropped).
#[derive(Debug)]
pub struct Poller {
    epoll: OwnedFd,
    stop: File,
    wake: File,
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// The descriptor a system call has just returned, owned from now on.
fn owned(result: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(result)?;
    // SAFETY: `fd` was just made by the call and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: no memory is passed.
        let epoll = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: no memory is passed.
        let stop = owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: no memory is passed.
        let wake = owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        let poller = Poller {
            epoll,
            stop: File::from(stop),
            wake: File::from(wake),
        };
        // Level-triggered and never read: once stopped, every wait sees it.
        let stop = poller.stop.as_raw_fd();
        poller.control(libc::EPOLL_CTL_ADD, stop, libc::EPOLLIN as u32, STOP)?;
        // Edge-triggered and read by the wait that reports it: one wake, one wait.
        let wake = poller.wake.as_raw_fd();
        poller.control(libc::EPOLL_CTL_ADD, wake, ARRIVALS, WAKE)?;
        Ok(poller)
    }

    fn control(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: `event` lives for the call; epoll copies it.
        check(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) }).map(drop)
    }

    /// epoll_wait(2) into `events`, for at most `timeout_ms` (-1: for
    /// ever): how many were written; 0 also when a signal interrupted it.
    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: libc::c_int) -> io::Result<usize> {
        let max = events.len().min(libc::c_int::MAX as usize) as libc::c_int;
        // SAFETY: `events` is writable for `max` entries for the call.
        let n = unsafe {
            libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms)
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(err)
        }
    }

    /// Watches `transport`: from now on a wait reports `token` once for
    /// each arrival of bytes (and for the peer's close, or a shutdown),
    /// including bytes there already. Once per socket.
    pub fn watch(&self, transport: &Transport, token: u64) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_ADD, transport.raw_fd(), ARRIVALS, token)
    }

    /// Stops watching `transport` (closing its last descriptor does too).
    pub fn forget(&self, transport: &Transport) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_DEL, transport.raw_fd(), 0, 0)
    }

    /// Makes every wait, the current ones and all later, return `Stopped`.
    pub fn stop(&self) {
        // Adds 1 to the eventfd's counter. A full counter (EAGAIN) means it
        // is stopped already.
        let _ = (&self.stop).write(&1u64.to_ne_bytes());
    }

    /// Ends one wait, the current one or the next (several wakes before a
    /// wait may end just one).
    pub fn wake(&self) {
        let _ = (&self.wake).write(&1u64.to_ne_bytes());
    }

    /// The tokens of up to `tokens.len()` sockets ready now, without
    /// waiting: how many were written (a `stop` is left out), and whether a
    /// `wake` was seen (and taken: no wait will see it).
    pub fn ready_now(&self, tokens: &mut [u64]) -> io::Result<(usize, bool)> {
        const MAX: usize = 16;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX];
        let max = tokens.len().min(MAX);
        let n = self.wait(&mut events[..max], 0)?;
        let (mut written, mut woken) = (0, false);
        for event in &events[..n] {
            match event.u64 {
                STOP => {}
                WAKE => {
                    let _ = (&self.wake).read(&mut [0u8; 8]);
                    woken = true;
                }
                token => {
                    tokens[written] = token;
                    written += 1;
                }
            }
        }
        Ok((written, woken))
    }

    /// Waits up to `timeout` (`None`: for ever) for one ready socket.
    pub fn wait_one(&self, timeout: Option<Duration>) -> io::Result<Readiness> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 1];
        let timeout_ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        // A wait a signal interrupts counts as timed out.
        let n = self.wait(&mut events, timeout_ms)?;
        Ok(match (n, events[0].u64) {
            (0, _) => Readiness::TimedOut,
            (_, STOP) => Readiness::Stopped,
            (_, WAKE) => {
                // Back to zero, so that the next wake is an edge again.
                let _ = (&self.wake).read(&mut [0u8; 8]);
                Readiness::Woken
            }
            (_, token) => Readiness::Ready(token),
        })
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

    const SHORT: Option<Duration> = Some(Duration::from_millis(20));
    const LONG: Option<Duration> = Some(Duration::from_secs(5));

    #[test]
    fn a_watched_socket_is_reported_once_per_arrival() {
        let poller = Poller::new().unwrap();
        let (server, mut client) = pair();
        poller.watch(&server, 7).unwrap();
        assert_eq!(poller.wait_one(SHORT).unwrap(), Readiness::TimedOut);
        client.write_all(b"x").unwrap();
        assert_eq!(poller.wait_one(LONG).unwrap(), Readiness::Ready(7));
        // Once only, though the byte is still unread.
        assert_eq!(poller.wait_one(SHORT).unwrap(), Readiness::TimedOut);
        client.write_all(b"y").unwrap();
        assert_eq!(poller.wait_one(LONG).unwrap(), Readiness::Ready(7));
        poller.forget(&server).unwrap();
        client.write_all(b"z").unwrap();
        assert_eq!(poller.wait_one(SHORT).unwrap(), Readiness::TimedOut);
    }

    #[test]
    fn bytes_already_there_are_reported_at_once() {
        let poller = Poller::new().unwrap();
        let (server, mut client) = pair();
        client.write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        poller.watch(&server, 1).unwrap();
        assert_eq!(poller.wait_one(LONG).unwrap(), Readiness::Ready(1));
    }

    #[test]
    fn a_shutdown_is_reported() {
        let poller = Poller::new().unwrap();
        let (server, _client) = pair();
        poller.watch(&server, 3).unwrap();
        server.shutdown(Shutdown::Read).unwrap();
        assert_eq!(poller.wait_one(LONG).unwrap(), Readiness::Ready(3));
    }

    #[test]
    fn ready_now_gives_every_ready_socket_up_to_its_room_without_waiting() {
        let poller = Poller::new().unwrap();
        let pairs: Vec<_> = (0..3).map(|_| pair()).collect();
        for (token, (server, _)) in pairs.iter().enumerate() {
            poller.watch(server, token as u64).unwrap();
        }
        let mut tokens = [0u64; 8];
        assert_eq!(poller.ready_now(&mut tokens).unwrap(), (0, false));
        for (_, client) in &pairs {
            (&*client).write_all(b"x").unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(poller.ready_now(&mut tokens[..2]).unwrap(), (2, false));
        assert_eq!(poller.ready_now(&mut tokens).unwrap(), (1, false));
        assert_eq!(poller.ready_now(&mut tokens).unwrap(), (0, false));
    }

    #[test]
    fn a_wake_ends_one_wait() {
        let poller = Poller::new().unwrap();
        poller.wake();
        assert_eq!(
            poller.wait_one(Some(Duration::from_secs(5))).unwrap(),
            Readiness::Woken
        );
        assert_eq!(
            poller.wait_one(Some(Duration::from_millis(10))).unwrap(),
            Readiness::TimedOut
        );
        poller.wake();
        assert_eq!(
            poller.wait_one(Some(Duration::from_secs(5))).unwrap(),
            Readiness::Woken
        );
    }

    #[test]
    fn a_stop_ends_every_wait_from_then_on() {
        let poller = std::sync::Arc::new(Poller::new().unwrap());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let poller = poller.clone();
                std::thread::spawn(move || poller.wait_one(None).unwrap())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        poller.stop();
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), Readiness::Stopped);
        }
        assert_eq!(poller.wait_one(None).unwrap(), Readiness::Stopped);
    }
}
