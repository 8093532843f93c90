//! nhttps: Node's `https` module as a library with a C ABI.
//!
//! The core (`server`, `http`, `tls`) is safe Rust, usable on its own; `ffi`
//! is the thin C skin over it, and the only place with `extern "C"`.
//!
//! `unsafe` is denied in the whole crate but in the few modules whose one
//! concern needs it, each allowing it at its top and giving every `unsafe`
//! block a SAFETY comment: `ffi` (the C ABI), `tls::openssl_ext` (OpenSSL
//! calls the `openssl` crate lacks or marks unsafe), `net::sys` (socket
//! system calls), `net::poller` (epoll) and `server::stack` (giving stack
//! pages back). A new `unsafe` anywhere else does not compile.
#![deny(unsafe_code)]

mod cgi;
pub mod client;
pub mod error;
pub mod http;
pub mod message;
pub mod net;
pub mod server;
pub mod tls;

#[allow(unsafe_code)]
mod ffi;

pub use error::{Error, Result};
