//! The C API: a thin skin over the core. Every `extern "C"` function checks
//! its arguments, converts handles, catches panics and maps errors; none
//! makes a decision about HTTP or TLS.
#![allow(non_camel_case_types)]
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod agent;
mod client;
mod error;
mod exit;
mod handle;
mod macros;
mod message;
mod options;
mod response;
mod server;
mod slots;
mod socket;
mod tls;
mod userdata;
