//! Requests taken instead of handed out: when a server queues its requests,
//! its `request` event puts each one in a queue and the application's own
//! threads take them (`Server::take_request`). For runtimes where a call
//! from a foreign thread is dear — Ruby's ffi gem runs such a callback on a
//! dispatcher thread of its own, two thread switches a request — the
//! application's threads block in `take_request` instead, and the request
//! comes to them without a callback.
//!
//! A queued request is in flight: the connection waits for its response,
//! and `close` waits for the connection. Takers keep taking until
//! `take_request` says the server has closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError, select, unbounded};

use super::{IncomingMessage, RequestHandler, ServerResponse};

/// A request and its response, as the `request` listener gets them.
pub type Queued = (Arc<IncomingMessage>, ServerResponse);

/// What `take_request` got.
pub enum Taken {
    Request(Queued),
    /// Nothing came within the time given.
    TimedOut,
    /// The server has closed and every queued request was taken.
    Closed,
}

pub(super) struct RequestQueue {
    requests: Sender<Queued>,
    waiting: Receiver<Queued>,
    /// Dropped when the server has closed: takers then return `Closed`.
    open: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
}

impl RequestQueue {
    pub(super) fn new() -> RequestQueue {
        let (requests, waiting) = unbounded();
        let (open, closed) = unbounded();
        RequestQueue {
            requests,
            waiting,
            open: Mutex::new(Some(open)),
            closed,
        }
    }

    /// The `request` listener that queues.
    pub(super) fn listener(self: &Arc<RequestQueue>) -> RequestHandler {
        let queue = self.clone();
        Arc::new(move |request, response| {
            // The taker runs the application; the server's threads send.
            response.end_on_server_threads();
            // The receiver lives in `queue`: sending cannot fail.
            let _ = queue.requests.send((request, response));
        })
    }

    /// The next request, waiting up to `timeout` (`None`: until one comes
    /// or the server has closed).
    pub(super) fn take(&self, timeout: Option<Duration>) -> Taken {
        match self.waiting.try_recv() {
            Ok(queued) => return Taken::Request(queued),
            Err(TryRecvError::Disconnected) => return Taken::Closed,
            Err(TryRecvError::Empty) => {}
        }
        let never = crossbeam_channel::never();
        let deadline = match timeout {
            Some(timeout) => crossbeam_channel::after(timeout),
            None => never.clone(),
        };
        select! {
            recv(self.waiting) -> queued => match queued {
                Ok(queued) => Taken::Request(queued),
                Err(_) => Taken::Closed,
            },
            // The server has closed: what is still queued goes first.
            recv(self.closed) -> _ => match self.waiting.try_recv() {
                Ok(queued) => Taken::Request(queued),
                Err(_) => Taken::Closed,
            },
            recv(deadline) -> _ => Taken::TimedOut,
        }
    }

    /// The server has closed: takers stop waiting.
    pub(super) fn close(&self) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
