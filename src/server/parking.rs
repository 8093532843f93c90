//! Connections waiting for their next request, parked without a thread.
//! One poller per server watches their sockets; when a parked connection's
//! next bytes arrive — or its peer closes, or `close` or the watchdog (at
//! its deadline) shuts it down — the connection goes back to a worker
//! thread, not necessarily the one that served it before.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::Shared;
use super::connection::Connection;
use crate::net::{Poller, WAKE};

pub(super) struct Parking {
    poller: Poller,
    parked: Mutex<HashMap<u64, Connection>>,
    stopping: AtomicBool,
}

impl Parking {
    pub(super) fn new() -> io::Result<Parking> {
        Ok(Parking {
            poller: Poller::new()?,
            parked: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
        })
    }

    fn parked(&self) -> MutexGuard<'_, HashMap<u64, Connection>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `connection` until its socket becomes readable; gives it back
    /// when the poller cannot watch it.
    pub(super) fn park(&self, connection: Connection) -> Result<(), Connection> {
        let id = connection.id();
        let transport = connection.transport().clone();
        // In the table before it is watched: its bytes may come at once.
        self.parked().insert(id, connection);
        match self.poller.watch(&transport, id) {
            Ok(()) => Ok(()),
            Err(_) => Err(self.parked().remove(&id).expect("parked just now")),
        }
    }

    /// The poller's thread: hands each connection that becomes readable to
    /// a worker thread, until `stop`.
    pub(super) fn run(&self, shared: &Arc<Shared>) {
        let mut ready = Vec::new();
        while !self.stopping.load(Ordering::Acquire) {
            if self.poller.wait(&mut ready, None).is_err() {
                // Out of memory in the kernel: try again shortly.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            for &token in &ready {
                if token == WAKE {
                    continue;
                }
                let Some(connection) = self.parked().remove(&token) else {
                    continue;
                };
                let _ = self.poller.forget(connection.transport());
                shared.workers.resume(shared, connection);
            }
        }
    }

    /// Ends `run` (once no connection is left to park).
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.poller.wake();
    }
}
