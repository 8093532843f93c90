//! The client's reading of responses: status line, headers, interim 1xx,
//! body framing (length, chunked, until close) for GET and HEAD, whole and
//! trickled.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nhttps::http::fuzz_oracle::fuzz_response(data);
});
