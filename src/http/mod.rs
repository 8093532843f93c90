//! HTTP/1.1 on a byte stream: request heads (httparse, plus the checks httparse
//! leaves to us), body framing (Content-Length, chunked with trailers,
//! close-delimited) and response head encoding.

mod body;
mod buffered;
mod date;
mod fields;
#[doc(hidden)]
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_oracle;
mod head;
mod response_head;
mod status_head;
#[cfg(test)]
mod test_vectors;
#[cfg(any(test, feature = "fuzzing"))]
mod trickle;

pub use body::{BodyKind, BodyReader};
pub use buffered::BufferedStream;
pub use date::{http_date, http_date_now};
pub use fields::{HeaderField, HeaderFields, is_token, parse_content_length};
pub use head::{Limits, RequestHead, Version, read_request_head};
pub use response_head::{
    ResponseHead, is_valid_header_value, push_decimal, push_hex, reason_phrase,
};
pub use status_head::{StatusHead, read_status_head};
