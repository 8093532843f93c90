//! Connections under HTTP, for the server and the client alike: the socket
//! (TCP or unix), what is known about a connection, and a connection
//! handed over after an upgrade.

mod socket;
mod transport;

pub use socket::{SocketInfo, UpgradedSocket};
pub use transport::{Transport, stop_accepting};
