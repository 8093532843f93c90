//! Node's `https.Agent`: pools of kept-alive connections, one pool per
//! server, protocol and set of TLS options, with `maxSockets` per pool, a
//! queue for the requests beyond it, and TLS sessions kept for resumption.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use openssl::ssl::SslConnector;

use super::connection::{ClientConnection, build_connector};
use super::options::{ClientTlsOptions, Protocol, RequestOptions};
use super::request_threads;
use crate::error::{Error, Result, check_timeout};
use crate::tls::ClientSession;

/// Which free connection is reused first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduling {
    /// The most recently used (Node's default): fewer connections stay warm.
    Lifo,
    /// The least recently used: load spreads over every connection.
    Fifo,
}

impl Scheduling {
    /// From Node's spelling, `"lifo"` or `"fifo"` (anything else is
    /// `InvalidArgument`, as Node's `validateOneOf` throws).
    pub fn from_node_name(name: &str) -> Result<Scheduling> {
        match name {
            "lifo" => Ok(Scheduling::Lifo),
            "fifo" => Ok(Scheduling::Fifo),
            other => Err(Error::invalid(format!(
                "scheduling {other:?} is neither \"lifo\" nor \"fifo\""
            ))),
        }
    }
}

/// Node's `new https.Agent(options)`.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// Connections per pool (Node's `maxSockets`; 5, as in the manual).
    pub max_sockets: usize,
    /// Connections over all pools (0 = no limit).
    pub max_total_sockets: usize,
    /// Idle connections kept per pool (Node's `maxFreeSockets`, 256).
    pub max_free_sockets: usize,
    /// Keep connections for later requests (Node's `keepAlive`; on).
    pub keep_alive: bool,
    /// How long an idle connection is kept (default 15 s).
    pub free_socket_timeout: Duration,
    pub scheduling: Scheduling,
}

impl Default for AgentOptions {
    fn default() -> AgentOptions {
        AgentOptions {
            max_sockets: 5,
            max_total_sockets: 0,
            max_free_sockets: 256,
            keep_alive: true,
            free_socket_timeout: Duration::from_secs(15),
            scheduling: Scheduling::Lifo,
        }
    }
}

/// The setters that check a value before taking it: each refuses a value
/// out of its range with `InvalidArgument` and leaves the option as it was;
/// none clamps.
impl AgentOptions {
    /// Node's `maxSockets`: at least 1 — with 0 no request could ever be
    /// sent. (Node's constructor takes a falsy 0 as its default, Infinity;
    /// nhttps refuses it rather than replace it.)
    pub fn set_max_sockets(&mut self, max: usize) -> Result<()> {
        if max == 0 {
            return Err(Error::invalid("maxSockets must be at least 1"));
        }
        self.max_sockets = max;
        Ok(())
    }

    /// How long an idle connection is kept; at least 1 ms (`check_timeout`).
    pub fn set_free_socket_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.free_socket_timeout = check_timeout("free socket timeout", timeout)?;
        Ok(())
    }
}

/// What identifies a pool: everything that changes the connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    protocol: Protocol,
    host: String,
    port: u16,
    socket_path: Option<std::path::PathBuf>,
    /// The TLS options; `None` for `http:` (they play no part there).
    tls: Option<ClientTlsOptions>,
}

impl PoolKey {
    pub fn new(options: &RequestOptions) -> PoolKey {
        PoolKey {
            protocol: options.protocol,
            host: options.target_host().to_ascii_lowercase(),
            port: options.port(),
            socket_path: options.socket_path.clone(),
            tls: options.protocol.is_tls().then(|| options.tls.clone()),
        }
    }

    /// "host:port" or the socket path, for stats.
    fn name(&self) -> String {
        match &self.socket_path {
            Some(path) => path.display().to_string(),
            None if self.host.contains(':') => format!("[{}]:{}", self.host, self.port),
            None => format!("{}:{}", self.host, self.port),
        }
    }
}

/// What a request ended with `end_async` does when its turn comes: it is
/// handed its lease (or the reason it gets none) on a thread of
/// `request_threads`.
pub(crate) type LeaseJob = Box<dyn FnOnce(Result<Lease>) + Send>;

/// A request waiting for a connection: a thread blocked in `acquire`
/// (`job` is `None`), or a request ended with `end_async`, which holds no
/// thread while it waits.
struct Waiter {
    ticket: u64,
    job: Option<LeaseJob>,
}

#[derive(Default)]
struct Pool {
    free: VecDeque<ClientConnection>,
    active: usize,
    /// The requests waiting for a connection, in arrival order.
    waiting: VecDeque<Waiter>,
    session: Option<ClientSession>,
    /// The pool's TLS configuration, built at the first need (see
    /// `Agent::connector`). A lock of its own: it is built while holding
    /// this one, never the agent's.
    connector: Arc<Mutex<Option<SslConnector>>>,
}

impl Pool {
    /// The right to open a new connection, with the session to offer
    /// (`https:`). Not counted here.
    fn open_lease(&self) -> Lease {
        Lease::Open(self.session.clone())
    }
}

/// Requests whose turn has come, to start once the agent's lock is released.
type Starts = Vec<(LeaseJob, Result<Lease>)>;

fn start(starts: Starts) {
    for (job, lease) in starts {
        request_threads::run(Box::new(move || job(lease)));
    }
}

/// What requests waiting for a connection get when the agent is destroyed
/// (and what requests ended afterwards get).
fn destroyed() -> Error {
    Error::state("the agent was destroyed (nhttps_agent_free) before the request got a connection")
}

#[derive(Default)]
struct State {
    pools: HashMap<PoolKey, Pool>,
    next_ticket: u64,
    closed: bool,
}

/// Connections in use, idle and requests waiting, for one pool or in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// "host:port" (or the socket path); "" for the total.
    pub name: String,
    pub in_use: usize,
    pub free: usize,
    pub queued: usize,
}

/// A pool of connections, safe to use from many threads at once.
pub struct Agent {
    options: AgentOptions,
    state: Mutex<State>,
    changed: Condvar,
}

/// What `acquire` hands out: a pooled connection, or the right to open one
/// — with the session to offer for resumption, if the pool has one (its
/// TLS configuration comes from `Agent::connector`).
pub(crate) enum Lease {
    Reused(ClientConnection),
    Open(Option<ClientSession>),
}

impl Agent {
    pub fn new(options: AgentOptions) -> Agent {
        Agent {
            options,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    pub fn options(&self) -> &AgentOptions {
        &self.options
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a request in the pool of `key`; its ticket.
    fn enqueue(state: &mut State, key: &PoolKey, job: Option<LeaseJob>) -> u64 {
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let pool = state.pools.entry(key.clone()).or_default();
        pool.waiting.push_back(Waiter { ticket, job });
        ticket
    }

    /// Waits for this request's turn in the pool of `key`, then lends a free
    /// connection or the right to open one (counted as in use).
    pub(crate) fn acquire(&self, key: &PoolKey) -> Result<Lease> {
        let mut state = self.state();
        if state.closed {
            return Err(destroyed());
        }
        let ticket = Self::enqueue(&mut state, key, None);
        loop {
            if state.closed {
                // `destroy` emptied the queues.
                return Err(destroyed());
            }
            let pool = state.pools.get_mut(key).expect("the pool we queued in");
            if pool.waiting.front().map(|w| w.ticket) == Some(ticket)
                && let Some(lease) = self.grant(&mut state, key)
            {
                if let Some(pool) = state.pools.get_mut(key) {
                    pool.waiting.pop_front();
                }
                let mut starts = Starts::new();
                self.serve_queue(&mut state, key, &mut starts);
                self.changed.notify_all();
                drop(state);
                start(starts);
                return Ok(lease);
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Queues a request in the pool of `key` now, without waiting: when its
    /// turn comes, `job` runs with its lease on a thread of
    /// `request_threads` (never the caller's) — at once if a connection is
    /// free. If the agent is destroyed first, `job` gets the error instead.
    pub(crate) fn acquire_async(&self, key: &PoolKey, job: LeaseJob) {
        let mut state = self.state();
        if state.closed {
            drop(state);
            return start(vec![(job, Err(destroyed()))]);
        }
        Self::enqueue(&mut state, key, Some(job));
        let mut starts = Starts::new();
        self.serve_queue(&mut state, key, &mut starts);
        drop(state);
        start(starts);
    }

    /// The lease for the first request waiting in the pool of `key`, when
    /// the limits allow one now: a free connection, or the right to open
    /// one. The caller removes that request from the queue.
    fn grant(&self, state: &mut State, key: &PoolKey) -> Option<Lease> {
        let total_active: usize = state.pools.values().map(|p| p.active).sum();
        let total_ok =
            self.options.max_total_sockets == 0 || total_active < self.options.max_total_sockets;
        let pool = state.pools.get_mut(key)?;
        if let Some(connection) = self.take_free(pool) {
            pool.active += 1;
            return Some(Lease::Reused(connection));
        }
        if pool.active >= self.options.max_sockets.max(1) || !total_ok {
            return None;
        }
        pool.active += 1;
        Some(pool.open_lease())
    }

    /// Gives leases to the `end_async` requests at the front of the queue
    /// of `key` while the limits allow, in order; stops at a thread blocked
    /// in `acquire` (it takes its own turn when woken).
    fn serve_queue(&self, state: &mut State, key: &PoolKey, starts: &mut Starts) {
        loop {
            let Some(pool) = state.pools.get(key) else {
                return;
            };
            let Some(Waiter { job: Some(_), .. }) = pool.waiting.front() else {
                return;
            };
            let Some(lease) = self.grant(state, key) else {
                return;
            };
            let pool = state.pools.get_mut(key).expect("the pool just served");
            if let Some(Waiter { job: Some(job), .. }) = pool.waiting.pop_front() {
                starts.push((job, Ok(lease)));
            }
        }
    }

    /// For a request whose pooled connection turned out closed: the right
    /// to open a fresh one in the place of that connection (still counted
    /// as in use), without queueing again.
    pub(crate) fn lease_again(&self, key: &PoolKey) -> Lease {
        self.state()
            .pools
            .entry(key.clone())
            .or_default()
            .open_lease()
    }

    /// The TLS configuration of the pool of `key` for a connection opened
    /// under an `Open` lease; `None` for `http:`. Built at the first need
    /// and kept: building is costly (it may read the system's CA bundle),
    /// so it is done without holding the agent's lock — requests to other
    /// pools, and connections given back, go on meanwhile; a request of
    /// the same pool waits for that one build instead of making its own.
    /// Not kept when it fails: the next request tries again.
    pub(crate) fn connector(&self, key: &PoolKey) -> Result<Option<SslConnector>> {
        self.connector_built_by(key, build_connector)
    }

    fn connector_built_by(
        &self,
        key: &PoolKey,
        build: impl FnOnce(&ClientTlsOptions) -> Result<SslConnector>,
    ) -> Result<Option<SslConnector>> {
        let Some(tls) = &key.tls else {
            return Ok(None);
        };
        let slot = self
            .state()
            .pools
            .entry(key.clone())
            .or_default()
            .connector
            .clone();
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(connector) = &*slot {
            return Ok(Some(connector.clone()));
        }
        let connector = build(tls)?;
        Ok(Some(slot.insert(connector).clone()))
    }

    /// A free connection that is still usable, dropping stale or expired ones.
    fn take_free(&self, pool: &mut Pool) -> Option<ClientConnection> {
        loop {
            let connection = match self.options.scheduling {
                Scheduling::Lifo => pool.free.pop_back(),
                Scheduling::Fifo => pool.free.pop_front(),
            }?;
            if connection.idle_since.elapsed() < self.options.free_socket_timeout
                && !connection.is_stale()
            {
                let mut connection = connection;
                connection.reused = true;
                return Some(connection);
            }
            connection.close();
        }
    }

    /// Gives back a connection lent by `acquire` (or opened under its lease):
    /// kept when `reusable`, closed otherwise. `None` when opening failed.
    pub(crate) fn release(
        &self,
        key: &PoolKey,
        connection: Option<ClientConnection>,
        reusable: bool,
    ) {
        let mut state = self.state();
        let closed = state.closed;
        let pool = state.pools.entry(key.clone()).or_default();
        pool.active = pool.active.saturating_sub(1);
        if let Some(mut connection) = connection {
            if let Some(session) = connection.session() {
                pool.session = Some(session);
            }
            if reusable
                && !closed
                && self.options.keep_alive
                && pool.free.len() < self.options.max_free_sockets
            {
                connection.idle_since = std::time::Instant::now();
                pool.free.push_back(connection);
            } else {
                connection.close();
            }
        }
        let mut starts = Starts::new();
        self.serve_queue(&mut state, key, &mut starts);
        if self.options.max_total_sockets > 0 {
            // A connection less in all: another pool's turn may have come.
            let others: Vec<PoolKey> = state
                .pools
                .iter()
                .filter(|(k, p)| *k != key && !p.waiting.is_empty())
                .map(|(k, _)| k.clone())
                .collect();
            for other in &others {
                self.serve_queue(&mut state, other, &mut starts);
            }
        }
        self.changed.notify_all();
        drop(state);
        start(starts);
    }

    /// Remembers the session of a new connection for the next one.
    pub(crate) fn remember_session(&self, key: &PoolKey, session: Option<ClientSession>) {
        if let Some(session) = session {
            self.state().pools.entry(key.clone()).or_default().session = Some(session);
        }
    }

    /// Node's `agent.sockets`, `freeSockets` and `requests`: one entry per
    /// pool, then the total (with an empty name).
    pub fn stats(&self) -> Vec<PoolStats> {
        let state = self.state();
        let mut all: Vec<PoolStats> = state
            .pools
            .iter()
            .filter(|(_, p)| p.active + p.free.len() + p.waiting.len() > 0)
            .map(|(key, p)| PoolStats {
                name: key.name(),
                in_use: p.active,
                free: p.free.len(),
                queued: p.waiting.len(),
            })
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let total = all.iter().fold(PoolStats::default(), |t, p| PoolStats {
            name: String::new(),
            in_use: t.in_use + p.in_use,
            free: t.free + p.free,
            queued: t.queued + p.queued,
        });
        all.push(total);
        all
    }

    /// Node's `agent.destroy()`: closes every idle connection now, and those
    /// in use when they are given back. Requests waiting for a connection
    /// fail (those ended with `end_async` get the error on a thread of
    /// `request_threads`, once), as do requests that ask for one later.
    pub fn destroy(&self) {
        let mut state = self.state();
        state.closed = true;
        let mut failed = Vec::new();
        for pool in state.pools.values_mut() {
            for connection in pool.free.drain(..) {
                connection.close();
            }
            failed.extend(pool.waiting.drain(..).filter_map(|w| w.job));
        }
        self.changed.notify_all();
        drop(state);
        if !failed.is_empty() {
            // One thread delivers them all, in order.
            request_threads::run(Box::new(move || {
                for job in failed {
                    job(Err(destroyed()));
                }
            }));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// Node's `https.globalAgent`: shared by every request that names no agent.
pub fn global_agent() -> Arc<Agent> {
    static GLOBAL: OnceLock<Arc<Agent>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| Arc::new(Agent::new(AgentOptions::default())))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::thread;

    fn key(url: &str) -> PoolKey {
        PoolKey::new(&RequestOptions::from_url(url).unwrap())
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_slow_tls_build_holds_up_no_other_pool() {
        let agent = Arc::new(Agent::new(AgentOptions::default()));
        let (started, building) = mpsc::channel();
        let (go, wait_for_go) = mpsc::channel::<()>();
        let slow = thread::spawn({
            let agent = agent.clone();
            move || {
                agent.connector_built_by(&key("https://slow.example/"), |tls| {
                    started.send(()).unwrap();
                    wait_for_go.recv().unwrap();
                    build_connector(tls)
                })
            }
        });
        building.recv_timeout(WAIT).unwrap();

        // While that build waits: a request to another host gets its lease
        // and its own TLS configuration, and gives the lease back.
        let (done, other_done) = mpsc::channel();
        thread::spawn({
            let agent = agent.clone();
            move || {
                let other = key("https://other.example/");
                let lease = agent.acquire(&other).map(|_| ());
                let connector = agent.connector(&other).map(|c| c.is_some());
                agent.release(&other, None, false);
                let _ = done.send((lease.is_ok(), connector.ok(), agent.stats().len()));
            }
        });
        let other = other_done.recv_timeout(WAIT);
        go.send(()).unwrap();
        assert_eq!(
            other.expect("a request to another host waited for the slow build"),
            (true, Some(true), 1)
        );
        assert!(slow.join().unwrap().unwrap().is_some());
    }

    #[test]
    fn a_pools_tls_configuration_is_built_once_and_a_failed_build_is_not_kept() {
        let agent = Agent::new(AgentOptions::default());
        let builds = AtomicUsize::new(0);
        let https = key("https://example.com/");
        let failing = |_: &ClientTlsOptions| -> Result<SslConnector> {
            builds.fetch_add(1, Ordering::Relaxed);
            Err(Error::Tls("no".into()))
        };
        assert!(agent.connector_built_by(&https, failing).is_err());
        assert!(agent.connector_built_by(&https, failing).is_err());
        let counting = |tls: &ClientTlsOptions| {
            builds.fetch_add(1, Ordering::Relaxed);
            build_connector(tls)
        };
        for _ in 0..3 {
            assert!(
                agent
                    .connector_built_by(&https, counting)
                    .unwrap()
                    .is_some()
            );
        }
        assert_eq!(builds.load(Ordering::Relaxed), 3);
        // Plain HTTP has none, and builds none.
        let http = key("http://example.com/");
        assert!(agent.connector_built_by(&http, counting).unwrap().is_none());
        assert_eq!(builds.load(Ordering::Relaxed), 3);
    }
}
