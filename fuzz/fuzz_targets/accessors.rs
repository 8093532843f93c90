//! Header and URL accessors: response headers set, replaced, removed and
//! encoded must read back unchanged (no injection); request-head lookups by
//! any name; the client's URL parsing (`https.get(url)`) must not panic and
//! must not produce a request target that could split a request.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nhttps::http::fuzz_oracle::fuzz_accessors(data);
    if let Ok(url) = std::str::from_utf8(data)
        && let Ok(options) = nhttps::client::RequestOptions::from_url(url)
        && options.validate().is_ok()
    {
        let path = options.path.as_bytes();
        assert!(!path.is_empty() && path.iter().all(|&b| b > b' ' && b != 0x7f));
        let _ = (options.target_host(), options.port, options.auth.as_deref());
    }
});
