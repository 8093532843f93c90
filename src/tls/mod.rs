//! TLS over OpenSSL: Node's secure contexts, a server's TLS (SNI, client
//! certificates, hot swap), the policy (versions, ciphers, ALPN), the
//! development certificate, OCSP stapling, and Node's names for verification
//! errors.

mod certificate;
mod dev_certificate;
mod identity;
mod ocsp;
mod openssl_ext;
mod policy;
mod secure_context;
mod server_config;
mod verify;

pub use certificate::CertificateInfo;
pub use dev_certificate::DevCertificate;
pub(crate) use identity::{Identity, parse_certificates};
pub use ocsp::check_ocsp_response;
pub(crate) use openssl_ext::ClientSession;
pub use openssl_ext::{
    TICKET_KEYS_LEN, TicketKeys, can_free_buffers, free_buffers, has_pending, negotiated_npn,
};
pub use policy::{Policy, TlsVersion, alpn_wire_format};
pub use secure_context::{ContextOptions, SecureContext, read_file};
pub use server_config::{KeylogHandler, ServerTls, SniCallback, TlsOptions};
pub use verify::node_verify_error_name;
