//! TLS over OpenSSL: a server configuration built from Node's options, the
//! development certificate, and Node's names for verification errors.

mod dev_certificate;
mod policy;
mod server_config;
mod verify;

pub use dev_certificate::DevCertificate;
pub use policy::{Policy, TlsVersion, alpn_wire_format};
pub use server_config::{KeylogHandler, ServerTls, TlsOptions, read_pem_file};
pub use verify::node_verify_error_name;
