//! Connections under HTTP, for the server and the client alike: the socket
//! (TCP or unix), what is known about a connection, a connection handed
//! over after an upgrade, a poller that watches many sockets at once, and
//! the PROXY protocol header a proxy in front of the server may send first.

#[doc(hidden)]
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_oracle;
pub(crate) mod listening;
mod poller;
pub(crate) mod proxy_protocol;
mod socket;
mod sys;
mod transport;

pub use poller::{Poller, Readiness};
pub use socket::{SocketInfo, UpgradedSocket};
pub use transport::{Traffic, Transport, stop_accepting};
