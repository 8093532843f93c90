//! The server's reading of a connection: request heads (httparse plus
//! nhttps's checks) and bodies (Content-Length, chunked with extensions and
//! trailers), pipelined, read whole and trickled; both readings must agree
//! and keep the parser's promises (see src/http/fuzz_oracle.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nhttps::http::fuzz_oracle::fuzz_request(data);
});
