//! The PROXY protocol header (versions 1 and 2) the server reads before the
//! TLS handshake: every prefix of the bytes parsed, and read through
//! `read_header`; the answers must agree, and no answer may let the reader
//! go past the header's end (see src/net/fuzz_oracle.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nhttps::net::fuzz_oracle::fuzz_proxy_header(data);
});
