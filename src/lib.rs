//! nhttps: Node's `https` module as a library with a C ABI.
//!
//! The core (`server`, `http`, `tls`) is safe Rust, usable on its own; `ffi`
//! is the thin C skin over it, and the only place with `extern "C"`.

pub mod client;
pub mod error;
pub mod http;
pub mod message;
pub mod net;
pub mod server;
pub mod tls;

mod ffi;

pub use error::{Error, Result};
