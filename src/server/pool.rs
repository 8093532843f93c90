//! The server's threads and the connections waiting without one.
//!
//! A connection that waits for bytes — a new one for its TLS hello, a
//! kept-alive one for its next request — is parked: its socket is watched
//! by the server's poller and no thread holds it. A thread takes a ready
//! connection from the poller, serves it while it has work — blocking as
//! long as the work needs — then parks it and asks the poller, without
//! waiting, for the next ready one. On a busy server that one is there
//! already: a thread goes from connection to connection without a switch
//! to another thread, as an event loop would. When the poller has several
//! ready, the thread takes up to `READY_BATCH` in one call and leaves the
//! others in a queue for the next thread done with its connection.
//!
//! The poller reports each arrival of bytes once (edge-triggered), so that
//! parking costs no system call. An arrival on a connection that is busy
//! marks it readable; its thread, instead of parking it, looks at its
//! socket without waiting — the bytes may have been read already, with the
//! request before — and parks it again if nothing is there.
//!
//! A thread that finds nothing ready goes idle. Idle threads take places:
//! - the *waiter* blocks in the poller while fewer threads serve than there
//!   are cores, so a connection that becomes ready is taken at once;
//! - while every core has a thread serving, no one waits in the poller (it
//!   would be woken, and switched to, for every readiness the serving
//!   threads will take anyway). The *ticker* looks every `TICK` whether the
//!   serving threads finished anything since; if not, they are all blocked
//!   (a slow handler, a client that stalls), and idle threads wait in the
//!   poller again until one finishes. It ticks on through a busy server's
//!   short lulls, and stops after `QUIET_TICKS` without work;
//! - the others (*followers*) sleep until a place is wanted, and leave
//!   after `IDLE_WAIT` (not the last idle one).
//!
//! A thread that leaves the poller with a connection when no thread is left
//! idle starts a new one, so some thread always watches.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection::{self, Concluding, Connection};
use super::registration::Registration;
use super::{Shared, stack};
use crate::error::{Error, Result};
use crate::net::{Poller, Readiness, Transport};

/// How long a thread without work waits for some before it leaves.
const IDLE_WAIT: Duration = Duration::from_secs(10);

/// A connection without a thread: parked until its socket is readable, or
/// in the `ready` queue for the next thread.
pub(super) enum Parked {
    /// Accepted, not yet through its handshake.
    New(Arc<Registration>, Transport),
    /// Between two requests.
    Idle(Connection),
    /// Its response ended on another thread, with work left that may
    /// block (never parked: only queued in `ready`).
    Concluding(Box<Concluding>),
}

/// How often the ticker checks that the serving threads get work done.
const TICK: Duration = Duration::from_millis(1);

/// After how many ticks without work done the ticker stops ticking.
const QUIET_TICKS: u32 = 100;

/// How long a parked connection keeps its buffers (see
/// `release_buffers_parked_before`).
pub(super) const RELEASE_BUFFERS_AFTER: Duration = Duration::from_millis(10);

/// How many ready connections a serving thread takes from the poller at
/// once (one system call): the first it serves, the others wait in the
/// table's `ready` queue for the next thread done with its connection.
const READY_BATCH: usize = 8;

pub(super) struct Pool {
    poller: Poller,
    parked: Mutex<ParkedTable>,
    idle: Mutex<Idle>,
    /// Where idle threads without a place wait to be needed.
    followers: Condvar,
    /// Where the ticker waits between ticks (woken early only by `stop`).
    ticker_wake: Condvar,
    /// Threads serving a connection.
    serving: AtomicUsize,
    /// Bumped each time a thread is done with a connection (parked or ended).
    progress: AtomicU64,
    /// The serving threads got nothing done for a whole tick.
    stalled: AtomicBool,
    /// The threads started and not yet joined: `wait_all_exited` joins
    /// them, so that no thread of a closed server is still running (its
    /// code may be unloaded next); those that left on their own are
    /// dropped as more start.
    threads: Mutex<Vec<JoinHandle<()>>>,
    cores: usize,
    stack_size: usize,
}

/// Every connection by its registration's id (the poller's token): parked,
/// or busy on a thread; those the poller reported ready that no thread has
/// taken yet; and those that parked recently still holding their buffers.
#[derive(Default)]
struct ParkedTable {
    connections: HashMap<u64, Slot>,
    /// Ready connections taken from the poller in a batch. Taken before
    /// the poller is asked again; never left behind while the waiter
    /// sleeps (it looks here first, and no batch is taken while it sleeps).
    ready: VecDeque<Parked>,
    waiter_asleep: bool,
    /// `run_later` woke the sleeping waiter (once is enough).
    waiter_woken: bool,
    /// Connections that parked holding their buffers, and when, in the
    /// order they parked (one may be here several times: only the entry
    /// of its last park counts).
    holding_buffers: VecDeque<(u64, Instant)>,
}

/// Where a connection is.
enum Slot {
    Parked(Parked),
    /// A thread serves it. `readable`: the poller reported an arrival
    /// meanwhile — its thread must look at the socket before parking it,
    /// as that arrival will not be reported again.
    Busy {
        readable: bool,
    },
}

impl ParkedTable {
    /// For a readiness the poller reported: the connection if it was
    /// parked (it is now busy); if it is busy, it is marked readable.
    fn take_ready(&mut self, id: u64) -> Option<Parked> {
        let slot = self.connections.get_mut(&id)?;
        match std::mem::replace(slot, Slot::Busy { readable: false }) {
            Slot::Parked(parked) => Some(parked),
            Slot::Busy { .. } => {
                *slot = Slot::Busy { readable: true };
                None
            }
        }
    }
}

/// What the waiter got.
enum Waited {
    Ready(Parked),
    /// A readiness for a connection that is busy.
    Nothing,
    TimedOut,
    Stopped,
}

#[derive(Default)]
struct Idle {
    /// Idle threads, in any place.
    count: usize,
    waiter: bool,
    ticker: bool,
    stopping: bool,
}

impl Pool {
    pub(super) fn new(stack_size: usize) -> io::Result<Pool> {
        Ok(Pool {
            poller: Poller::new()?,
            parked: Mutex::new(ParkedTable::default()),
            idle: Mutex::new(Idle::default()),
            followers: Condvar::new(),
            ticker_wake: Condvar::new(),
            serving: AtomicUsize::new(0),
            progress: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            cores: thread::available_parallelism().map_or(1, |n| n.get()),
            stack_size,
        })
    }

    fn parked(&self) -> MutexGuard<'_, ParkedTable> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_idle(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn threads(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the first thread (at `listen`).
    pub(super) fn start(&self, shared: &Arc<Shared>) -> Result<()> {
        self.spawn(shared)
    }

    /// Parks a connection just accepted until its first bytes arrive.
    pub(super) fn admit(
        &self,
        registration: Arc<Registration>,
        transport: Transport,
    ) -> Result<()> {
        let id = registration.id;
        let watched = transport.clone();
        // In the table before it is watched: its bytes may come at once.
        self.parked()
            .connections
            .insert(id, Slot::Parked(Parked::New(registration, transport)));
        self.poller.watch(&watched, id).map_err(|e| {
            self.parked().connections.remove(&id);
            Error::Io(e)
        })
    }

    /// Parks a connection between two requests until its next bytes (or
    /// its peer's close, or a shutdown by `close` or the watchdog) arrive.
    /// Gives it back when bytes arrived while it was busy (they may be
    /// unread: its thread looks before parking it again).
    pub(super) fn park(&self, connection: Connection) -> std::result::Result<(), Connection> {
        let id = connection.id();
        let mut parked = self.parked();
        if let Some(Slot::Busy { readable: true }) = parked.connections.get(&id) {
            parked
                .connections
                .insert(id, Slot::Busy { readable: false });
            return Err(connection);
        }
        if let Some(at) = connection.holding_buffers_since {
            parked.holding_buffers.push_back((id, at));
        }
        parked
            .connections
            .insert(id, Slot::Parked(Parked::Idle(connection)));
        Ok(())
    }

    /// Gives a thread of the pool work that came from another thread (a
    /// response ended there): the next thread done with its connection
    /// takes it, or the waiter, woken for it.
    pub(super) fn run_later(&self, work: Parked) {
        let mut parked = self.parked();
        parked.ready.push_back(work);
        if parked.waiter_asleep && !parked.waiter_woken {
            parked.waiter_woken = true;
            self.poller.wake();
        }
    }

    /// How many kept-alive connections wait for their next request (walks
    /// the table: for statistics, not for the request path).
    pub(super) fn idle_count(&self) -> usize {
        self.parked()
            .connections
            .values()
            .filter(|slot| matches!(slot, Slot::Parked(Parked::Idle(_))))
            .count()
    }

    /// Forgets an ended connection.
    pub(super) fn forget(&self, id: u64) {
        self.parked().connections.remove(&id);
    }

    /// Stops watching a socket handed over to the application (upgrade).
    pub(super) fn unwatch(&self, transport: &Transport) {
        let _ = self.poller.forget(transport);
    }

    /// Connections parked since before `parked_before` give their buffers
    /// back. A connection that parks is usually back within microseconds
    /// on a busy server: freeing its buffers at every park and allocating
    /// them again at its next request would cost a third of the request.
    /// Called by a thread about to wait in the poller (the server has
    /// nothing else to do) and by the watchdog every `WATCH_INTERVAL` (for
    /// a server that never idles).
    pub(super) fn release_buffers_parked_before(&self, parked_before: Instant) {
        loop {
            let mut parked = self.parked();
            for _ in 0..64 {
                match parked.holding_buffers.front() {
                    Some(&(_, at)) if at <= parked_before => {}
                    _ => return,
                }
                let Some((id, at)) = parked.holding_buffers.pop_front() else {
                    return;
                };
                if let Some(Slot::Parked(Parked::Idle(connection))) =
                    parked.connections.get_mut(&id)
                    && connection.holding_buffers_since == Some(at)
                {
                    connection.release_buffers();
                }
            }
            // Lets other threads park and take connections between batches.
            drop(parked);
        }
    }

    /// No more connections come: every thread leaves once it is done with
    /// its work.
    pub(super) fn stop(&self) {
        self.lock_idle().stopping = true;
        self.followers.notify_all();
        self.ticker_wake.notify_all();
        self.poller.stop();
    }

    /// Waits until every thread has left (after `stop`). Not from one of
    /// the pool's threads.
    pub(super) fn wait_all_exited(&self) {
        loop {
            let threads = std::mem::take(&mut *self.threads());
            if threads.is_empty() {
                return;
            }
            for thread in threads {
                let _ = thread.join();
            }
        }
    }

    fn spawn(&self, shared: &Arc<Shared>) -> Result<()> {
        let for_thread = shared.clone();
        let thread = thread::Builder::new()
            .name("nhttps-conn".into())
            .stack_size(self.stack_size)
            .spawn(move || work(&for_thread))
            .map_err(Error::Io)?;
        let mut threads = self.threads();
        threads.retain(|t| !t.is_finished());
        threads.push(thread);
        Ok(())
    }

    /// For a thread done with a connection: the next ready one if there is
    /// one now (the thread goes on serving), else `None` (it goes idle).
    fn next_ready(&self) -> Option<Parked> {
        self.progress.fetch_add(1, Ordering::Relaxed);
        if self.stalled.load(Ordering::Relaxed) {
            self.stalled.store(false, Ordering::Relaxed);
        }
        {
            let mut parked = self.parked();
            if let Some(next) = parked.ready.pop_front() {
                return Some(next);
            }
            // Under the table's lock, so that the waiter cannot go to sleep
            // with a batch left behind.
            let room = if parked.waiter_asleep { 1 } else { READY_BATCH };
            let mut tokens = [0u64; READY_BATCH];
            let (count, woken) = self
                .poller
                .ready_now(&mut tokens[..room])
                .unwrap_or((0, false));
            if woken {
                // A wake for work `ready` no longer holds (it was empty
                // above): the waiter may be woken again.
                parked.waiter_woken = false;
            }
            let mut first = None;
            for &id in &tokens[..count] {
                if let Some(ready) = parked.take_ready(id) {
                    match first {
                        None => first = Some(ready),
                        Some(_) => parked.ready.push_back(ready),
                    }
                }
            }
            if first.is_some() {
                return first;
            }
        }
        self.serving.fetch_sub(1, Ordering::SeqCst);
        None
    }

    /// For the waiter: a ready connection left in the table's queue, or the
    /// next one the poller reports within `IDLE_WAIT`.
    fn wait_ready(&self) -> io::Result<Waited> {
        self.release_buffers_parked_before(Instant::now() - RELEASE_BUFFERS_AFTER);
        {
            let mut parked = self.parked();
            if let Some(ready) = parked.ready.pop_front() {
                return Ok(Waited::Ready(ready));
            }
            parked.waiter_asleep = true;
        }
        let readiness = self.poller.wait_one(Some(IDLE_WAIT));
        let mut parked = self.parked();
        parked.waiter_asleep = false;
        parked.waiter_woken = false;
        Ok(match readiness? {
            Readiness::Ready(id) => match parked.take_ready(id) {
                Some(ready) => Waited::Ready(ready),
                None => Waited::Nothing,
            },
            Readiness::TimedOut => Waited::TimedOut,
            Readiness::Stopped => Waited::Stopped,
            // `run_later` queued work: the waiter looks at `ready` again.
            Readiness::Woken => Waited::Nothing,
        })
    }

    /// For an idle thread: waits, in the place free (see the module's
    /// comment), for a connection with work; `None` when the thread should
    /// leave.
    fn next_idle(&self, shared: &Arc<Shared>) -> Option<Parked> {
        let mut idle = self.lock_idle();
        idle.count += 1;
        // This thread just gave up ticking for want of work: it waits as a
        // follower before ticking again.
        let mut quiet = false;
        loop {
            if idle.stopping {
                idle.count -= 1;
                return None;
            }
            let serving = self.serving.load(Ordering::SeqCst);
            let stalled = self.stalled.load(Ordering::Relaxed);
            if !idle.waiter && (serving < self.cores || stalled) {
                idle.waiter = true;
                drop(idle);
                let waited = self.wait_ready();
                idle = self.lock_idle();
                idle.waiter = false;
                match waited {
                    Ok(Waited::Ready(parked)) => {
                        let serving = self.serving.fetch_add(1, Ordering::SeqCst) + 1;
                        idle.count -= 1;
                        // Another thread must take the waiter's place if a
                        // core is still free (or the serving threads are
                        // stalled), and the ticker's if there is none.
                        let needed = serving < self.cores
                            || self.stalled.load(Ordering::Relaxed)
                            || !idle.ticker;
                        let start_one = needed && idle.count == 0;
                        drop(idle);
                        if start_one {
                            // If no thread can be started, the next one to be
                            // done with its connection watches.
                            let _ = self.spawn(shared);
                        } else if needed {
                            self.followers.notify_one();
                        }
                        return Some(parked);
                    }
                    Ok(Waited::Nothing) => {}
                    Ok(Waited::Stopped) => {
                        idle.count -= 1;
                        return None;
                    }
                    Ok(Waited::TimedOut) if idle.count > 1 => {
                        idle.count -= 1;
                        self.followers.notify_one();
                        return None;
                    }
                    Ok(Waited::TimedOut) => stack::release_unused_stack(),
                    // Out of memory in the kernel: try again shortly.
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            } else if !idle.ticker && serving > 0 && !quiet {
                (idle, quiet) = self.tick(idle);
            } else {
                quiet = false;
                let (guard, waited) = self
                    .followers
                    .wait_timeout(idle, IDLE_WAIT)
                    .unwrap_or_else(|p| p.into_inner());
                idle = guard;
                if waited.timed_out() && idle.count > 1 {
                    idle.count -= 1;
                    return None;
                }
            }
        }
    }

    /// The ticker: every `TICK`, marks the pool stalled when threads serve
    /// and none finished anything since the last tick. Ticks on through
    /// short lulls (a busy server's); gives the place up after
    /// `QUIET_TICKS` without anything served (then returns true), or to be
    /// the waiter.
    fn tick<'a>(&'a self, mut idle: MutexGuard<'a, Idle>) -> (MutexGuard<'a, Idle>, bool) {
        idle.ticker = true;
        let mut quiet = 0;
        let mut progress = self.progress.load(Ordering::Relaxed);
        loop {
            let started = Instant::now();
            idle = self
                .ticker_wake
                .wait_timeout(idle, TICK)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            if idle.stopping {
                break;
            }
            let serving = self.serving.load(Ordering::SeqCst);
            let now = self.progress.load(Ordering::Relaxed);
            if now != progress {
                quiet = 0;
            } else if started.elapsed() >= TICK {
                quiet += 1;
                if serving > 0 {
                    self.stalled.store(true, Ordering::Relaxed);
                }
            }
            progress = now;
            let stalled = self.stalled.load(Ordering::Relaxed);
            let waiter_wanted = !idle.waiter && (serving < self.cores || stalled);
            if waiter_wanted || quiet >= QUIET_TICKS {
                break;
            }
        }
        idle.ticker = false;
        (idle, quiet >= QUIET_TICKS)
    }
}

/// A thread of the pool: serves the connections the poller hands it until
/// it is no longer needed.
fn work(shared: &Arc<Shared>) {
    let pool = &shared.pool;
    super::mark_connection_thread(shared);
    while let Some(mut parked) = pool.next_idle(shared) {
        loop {
            match parked {
                Parked::New(registration, transport) => {
                    connection::run(shared, registration, transport)
                }
                Parked::Idle(connection) => connection::resume(shared, connection),
                Parked::Concluding(concluding) => connection::conclude_later(shared, *concluding),
            }
            match pool.next_ready() {
                Some(next) => parked = next,
                None => break,
            }
        }
    }
    if let Some(on_exit) = shared.handlers().thread_exit.clone() {
        let _ = catch_unwind(AssertUnwindSafe(|| on_exit()));
    }
}
