//! The server's threads, reused. A thread serves a connection while it has
//! work — its handshake, a request — and takes the next job when the
//! connection ends or parks (see `parking`); a thread with no job waits a
//! little for the next one instead of exiting, so a busy server does not
//! pay for a new thread (and its stack mapping) per job.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use super::connection::Connection;
use super::registration::Registration;
use super::{Shared, connection};
use crate::error::{Error, Result};
use crate::net::Transport;

/// How long a thread without a job waits for one.
const IDLE_WAIT: Duration = Duration::from_secs(10);

/// What a thread is given to do.
enum Job {
    /// A new connection: its entry in the server's table and its socket.
    Open(Arc<Registration>, Transport),
    /// A parked connection whose next bytes came (or that was shut down).
    Resume(Box<Connection>),
}

pub(super) struct Workers {
    /// A rendezvous channel: a send succeeds only when an idle thread is
    /// waiting for it. `None` once the server has stopped accepting (a
    /// job then always gets a new thread).
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

    /// Serves a new connection on an idle thread, or on a new one if none waits.
    pub(super) fn dispatch(
        &self,
        shared: &Arc<Shared>,
        registration: Arc<Registration>,
        transport: Transport,
    ) -> Result<()> {
        self.run(shared, Job::Open(registration, transport))
            .map_err(|(_, e)| e)
    }

    /// Serves a parked connection again, on an idle thread or a new one.
    /// If no thread can be started, the connection is closed.
    pub(super) fn resume(&self, shared: &Arc<Shared>, connection: Connection) {
        if let Err((Job::Resume(connection), _)) =
            self.run(shared, Job::Resume(Box::new(connection)))
        {
            connection::abandon(shared, *connection);
        }
    }

    fn run(&self, shared: &Arc<Shared>, job: Job) -> std::result::Result<(), (Job, Error)> {
        let job = match self.sender() {
            Some(handoff) => match handoff.try_send(job) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
            },
            None => job,
        };
        *self.lock_alive() += 1;
        let for_thread = shared.clone();
        // The job comes back if the thread cannot be started.
        let slot = Arc::new(Mutex::new(Some(job)));
        let for_thread_slot = slot.clone();
        let spawned = thread::Builder::new()
            .name("nhttps-conn".into())
            .stack_size(self.stack_size)
            .spawn(move || match take(&for_thread_slot) {
                Some(job) => work(&for_thread, job),
                None => for_thread.workers.exited(),
            });
        if let Err(e) = spawned {
            self.exited();
            let job = take(&slot).expect("the job of a thread never started");
            return Err((job, Error::Io(e)));
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

fn take(slot: &Mutex<Option<Job>>) -> Option<Job> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// A worker thread: does its first job, then each one handed to it while
/// it waits, until none comes for `IDLE_WAIT` or the server stops
/// accepting.
fn work(shared: &Arc<Shared>, first: Job) {
    let mut job = first;
    loop {
        match job {
            Job::Open(registration, transport) => {
                connection::run(shared.clone(), registration, transport)
            }
            Job::Resume(connection) => connection::resume(shared.clone(), *connection),
        }
        job = match shared.workers.waiting.recv_timeout(IDLE_WAIT) {
            Ok(next) => next,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        };
    }
    if let Some(on_exit) = shared.handlers().thread_exit.clone() {
        let _ = catch_unwind(AssertUnwindSafe(|| on_exit()));
    }
    shared.workers.exited();
}
