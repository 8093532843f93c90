//! Connections under HTTP, for the server and the client alike: the socket
//! (TCP or unix), what is known about a connection, a connection handed
//! over after an upgrade, and a poller that watches many sockets at once.

pub(crate) mod listening;
mod poller;
mod socket;
mod transport;

pub use poller::{Poller, Readiness};
pub use socket::{SocketInfo, UpgradedSocket};
pub use transport::{Traffic, Transport, stop_accepting};
