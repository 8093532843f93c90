//! A connection's entry in its server's table, shared by the connection's
//! thread, `close` and the watchdog without a lock: whether it is serving a
//! request, and the deadline of what it awaits (its handshake or a request
//! head). The connection's thread changes these on every request, so they
//! are atomics: the request path takes no lock shared by all connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `deadline` when there is none.
const NO_DEADLINE: u64 = u64::MAX;

pub(super) struct Registration {
    pub(super) id: u64,
    /// Deadlines are kept as milliseconds after this instant.
    epoch: Instant,
    deadline: AtomicU64,
    busy: AtomicBool,
    timed_out: AtomicBool,
    /// Set by `close` for every connection: responses then say
    /// `Connection: close`. One per connection, so that each request's
    /// reference to it counts on a line no other connection touches.
    server_closing: Arc<AtomicBool>,
    /// No request has been read on it yet (its handshake, or the wait for
    /// its first request, may be under way).
    fresh: AtomicBool,
}

impl Registration {
    /// A new connection, idle, that must be through its handshake by `deadline`.
    pub(super) fn new(id: u64, deadline: Instant) -> Registration {
        let registration = Registration {
            id,
            epoch: Instant::now(),
            deadline: AtomicU64::new(NO_DEADLINE),
            busy: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            server_closing: Arc::new(AtomicBool::new(false)),
            fresh: AtomicBool::new(true),
        };
        registration.set_deadline(Some(deadline));
        registration
    }

    /// Sets (or, with `None`, lifts) the deadline of what the connection awaits.
    pub(super) fn set_deadline(&self, deadline: Option<Instant>) {
        let millis = deadline.map_or(NO_DEADLINE, |at| self.millis(at));
        self.deadline.store(millis, Ordering::Release);
    }

    /// Replaces a deadline that has not expired with `deadline`; false
    /// when the watchdog had already taken it (the connection is being cut
    /// off). For a connection coming back from a wait whose deadline it set.
    pub(super) fn renew_deadline(&self, deadline: Instant) -> bool {
        self.deadline.swap(self.millis(deadline), Ordering::AcqRel) != NO_DEADLINE
    }

    /// Brings the deadline forward to `at` if it is later (a lifted or
    /// taken deadline stays so).
    pub(super) fn shorten_deadline(&self, at: Instant) {
        let at = self.millis(at);
        let _ = self
            .deadline
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (current != NO_DEADLINE && current > at).then_some(at)
            });
    }

    /// Its first request has come.
    pub(super) fn set_served(&self) {
        self.fresh.store(false, Ordering::Relaxed);
    }

    /// No request has come on it yet.
    pub(super) fn is_fresh(&self) -> bool {
        self.fresh.load(Ordering::Relaxed)
    }

    /// Marks the connection as serving a request, or idle. Sequentially
    /// consistent, as is the server's closing flag: either `close` sees a
    /// connection idle, or the connection sees the server closing.
    pub(super) fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::SeqCst);
    }

    pub(super) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// The flag `close` sets (see `server_closing`), for a request to hold.
    pub(super) fn server_closing(&self) -> Arc<AtomicBool> {
        self.server_closing.clone()
    }

    pub(super) fn mark_server_closing(&self) {
        self.server_closing.store(true, Ordering::SeqCst);
    }

    /// Whether the watchdog cut the connection off at its deadline.
    pub(super) fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Acquire)
    }

    /// For the watchdog: when the deadline has passed, lifts it, marks the
    /// connection timed out and returns true (the caller then wakes it).
    pub(super) fn expire_if_due(&self, now: Instant) -> bool {
        let deadline = self.deadline.load(Ordering::Acquire);
        if deadline == NO_DEADLINE || deadline > self.millis(now) {
            return false;
        }
        // Only if the connection did not set a new deadline meanwhile.
        if self
            .deadline
            .compare_exchange(deadline, NO_DEADLINE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.timed_out.store(true, Ordering::Release);
        true
    }

    fn millis(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        // Rounded up: a deadline never fires early.
        (since + Duration::from_nanos(999_999)).as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_expires_once_when_it_has_passed() {
        let now = Instant::now();
        let registration = Registration::new(1, now + Duration::from_secs(1));
        assert!(!registration.expire_if_due(now));
        assert!(!registration.timed_out());
        assert!(registration.expire_if_due(now + Duration::from_secs(2)));
        assert!(registration.timed_out());
        assert!(!registration.expire_if_due(now + Duration::from_secs(3)));
    }

    #[test]
    fn a_deadline_renewed_in_time_does_not_expire_and_a_taken_one_is_not_renewed() {
        let now = Instant::now();
        let registration = Registration::new(1, now + Duration::from_secs(1));
        assert!(registration.renew_deadline(now + Duration::from_secs(10)));
        assert!(!registration.expire_if_due(now + Duration::from_secs(2)));
        assert!(registration.expire_if_due(now + Duration::from_secs(11)));
        assert!(!registration.renew_deadline(now + Duration::from_secs(20)));
    }

    #[test]
    fn a_shortened_deadline_expires_sooner_and_a_lifted_one_stays_lifted() {
        let now = Instant::now();
        let registration = Registration::new(1, now + Duration::from_secs(60));
        registration.shorten_deadline(now + Duration::from_secs(1));
        registration.shorten_deadline(now + Duration::from_secs(30));
        assert!(registration.expire_if_due(now + Duration::from_secs(2)));
        registration.set_deadline(None);
        registration.shorten_deadline(now);
        assert!(!registration.expire_if_due(now + Duration::from_secs(3600)));
    }

    #[test]
    fn a_lifted_deadline_never_expires() {
        let now = Instant::now();
        let registration = Registration::new(1, now);
        registration.set_deadline(None);
        assert!(!registration.expire_if_due(now + Duration::from_secs(3600)));
    }
}
