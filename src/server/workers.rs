//! Connection threads, reused. Each connection still has a thread of its
//! own, but a thread whose connection has ended waits a little for the
//! next one instead of exiting, so a busy server does not pay for a new
//! thread (and its stack mapping) per connection.

use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use super::registration::Registration;
use super::{Shared, connection};
use crate::error::{Error, Result};
use crate::net::Transport;

/// How long a thread whose connection ended waits for another.
const IDLE_WAIT: Duration = Duration::from_secs(10);

/// A connection to serve: its entry in the server's table and its socket.
type Job = (Arc<Registration>, Transport);

pub(super) struct Workers {
    /// A rendezvous channel: a send succeeds only when an idle thread is
    /// waiting for it. `None` once the server has stopped accepting.
    handoff: Mutex<Option<Sender<Job>>>,
    waiting: Receiver<Job>,
    /// Threads alive, serving or waiting.
    alive: Mutex<usize>,
    alive_changed: Condvar,
    stack_size: usize,
}

impl Workers {
    pub(super) fn new(stack_size: usize) -> Workers {
        let (handoff, waiting) = bounded(0);
        Workers {
            handoff: Mutex::new(Some(handoff)),
            waiting,
            alive: Mutex::new(0),
            alive_changed: Condvar::new(),
            stack_size,
        }
    }

    /// Serves a connection on an idle thread, or on a new one if none waits.
    pub(super) fn dispatch(
        &self,
        shared: &Arc<Shared>,
        registration: Arc<Registration>,
        transport: Transport,
    ) -> Result<()> {
        let job = match self.sender() {
            Some(handoff) => match handoff.try_send((registration, transport)) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
            },
            None => (registration, transport),
        };
        *self.lock_alive() += 1;
        let for_thread = shared.clone();
        let spawned = thread::Builder::new()
            .name("nhttps-conn".into())
            .stack_size(self.stack_size)
            .spawn(move || work(&for_thread, job));
        if let Err(e) = spawned {
            self.exited();
            return Err(Error::Io(e));
        }
        Ok(())
    }

    /// No more connections come: idle threads exit now.
    pub(super) fn stop(&self) {
        self.handoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Waits until every thread has exited (after `stop`).
    pub(super) fn wait_all_exited(&self) {
        let mut alive = self.lock_alive();
        while *alive > 0 {
            alive = self
                .alive_changed
                .wait(alive)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    fn sender(&self) -> Option<Sender<Job>> {
        self.handoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock_alive(&self) -> std::sync::MutexGuard<'_, usize> {
        self.alive.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn exited(&self) {
        *self.lock_alive() -= 1;
        self.alive_changed.notify_all();
    }
}

/// A connection thread: serves its first connection, then each one handed
/// to it while it waits, until none comes for `IDLE_WAIT` or the server
/// stops accepting.
fn work(shared: &Arc<Shared>, first: Job) {
    let mut job = first;
    loop {
        let (registration, transport) = job;
        connection::run(shared.clone(), &registration, transport);
        job = match shared.workers.waiting.recv_timeout(IDLE_WAIT) {
            Ok(next) => next,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        };
    }
    shared.workers.exited();
}
