//! Node's `https.request`, `https.get`, `https.Agent` and `https.globalAgent`
//! — and plain `http://` too (Node's `protocol: "http:"`), for backends that
//! speak HTTP without TLS.

mod agent;
mod connection;
mod options;
mod request;
mod request_threads;

pub use agent::{Agent, AgentOptions, PoolStats, Scheduling, global_agent};
pub use options::{AgentChoice, ClientTlsOptions, Protocol, RequestOptions};
pub use request::ClientRequest;

use crate::error::Result;
use crate::message::IncomingMessage;

/// Node's `https.get(url)` (or `http.get` for an `http://` URL): a GET
/// through the global agent; returns once the response head has arrived.
pub fn get(url: &str) -> Result<IncomingMessage> {
    ClientRequest::new(RequestOptions::from_url(url)?)?.end()
}
