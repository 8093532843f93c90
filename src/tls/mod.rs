//! TLS over OpenSSL: a server configuration built from Node's options, the
//! development certificate, and Node's names for verification errors.

mod dev_certificate;
mod server_config;
mod verify;

pub use dev_certificate::DevCertificate;
pub use server_config::{ServerTls, TlsOptions, read_pem_file};
pub use verify::node_verify_error_name;
