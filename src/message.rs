//! Node's `IncomingMessage`: a request as the server receives it, or a
//! response as the client receives it — a head, the connection's details,
//! and a body pulled with a blocking `read`.

use std::ffi::CStr;
use std::sync::{Arc, OnceLock};

use crate::error::Result;
use crate::http::{HeaderFields, RequestHead, StatusHead, Version};
use crate::net::{SocketInfo, UpgradedSocket};

/// Where a message's body comes from.
pub(crate) trait BodySource: Send + Sync {
    /// Reads body bytes into `out`; 0 at the end of the body.
    fn read(&self, out: &mut [u8]) -> Result<usize>;
    /// The trailer fields of a chunked body, once read to the end.
    fn trailers(&self) -> HeaderFields;
    /// Hands over the connection of a `101 Switching Protocols` response.
    fn upgrade(&self) -> Option<UpgradedSocket> {
        None
    }
}

/// A request line or a status line, with the headers after it.
pub enum Head {
    Request(RequestHead),
    Response(StatusHead),
}

/// Node's `IncomingMessage`.
pub struct IncomingMessage {
    head: Head,
    socket: Arc<SocketInfo>,
    body: Arc<dyn BodySource>,
    /// `cgi_variables`, made at the first call.
    cgi_variables: OnceLock<Vec<u8>>,
}

impl IncomingMessage {
    pub(crate) fn request(
        head: RequestHead,
        socket: Arc<SocketInfo>,
        body: Arc<dyn BodySource>,
    ) -> IncomingMessage {
        IncomingMessage {
            head: Head::Request(head),
            socket,
            body,
            cgi_variables: OnceLock::new(),
        }
    }

    pub(crate) fn response(
        head: StatusHead,
        socket: Arc<SocketInfo>,
        body: Arc<dyn BodySource>,
    ) -> IncomingMessage {
        IncomingMessage {
            head: Head::Response(head),
            socket,
            body,
            cgi_variables: OnceLock::new(),
        }
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The request method ("" for a response).
    pub fn method(&self) -> &str {
        match &self.head {
            Head::Request(h) => h.method(),
            Head::Response(_) => "",
        }
    }

    /// The request target ("" for a response).
    pub fn url(&self) -> &str {
        match &self.head {
            Head::Request(h) => h.url(),
            Head::Response(_) => "",
        }
    }

    /// `method()` as a NUL-terminated string.
    pub fn method_cstr(&self) -> &CStr {
        match &self.head {
            Head::Request(h) => h.method_cstr(),
            Head::Response(_) => c"",
        }
    }

    /// `url()` as a NUL-terminated string.
    pub fn url_cstr(&self) -> &CStr {
        match &self.head {
            Head::Request(h) => h.url_cstr(),
            Head::Response(_) => c"",
        }
    }

    /// The response's reason phrase, e.g. "Not Found" ("" for a request).
    pub fn status_message(&self) -> &CStr {
        match &self.head {
            Head::Request(_) => c"",
            Head::Response(h) => h.reason(),
        }
    }

    /// The response's status code (0 for a request).
    pub fn status(&self) -> u16 {
        match &self.head {
            Head::Request(_) => 0,
            Head::Response(h) => h.status(),
        }
    }

    pub fn version(&self) -> Version {
        match &self.head {
            Head::Request(h) => h.version(),
            Head::Response(h) => h.version(),
        }
    }

    /// Every header field in the order received, duplicates kept.
    pub fn headers(&self) -> &HeaderFields {
        match &self.head {
            Head::Request(h) => h.headers(),
            Head::Response(h) => h.headers(),
        }
    }

    /// The first value of header `name`, any case.
    pub fn header(&self, name: &str) -> Option<&CStr> {
        self.headers().first(name)
    }

    /// Not in Node: the request as CGI/1.1 and mod_ssl variables, each
    /// `NAME\0VALUE\0` (see `crate::cgi::variables`), made once.
    pub fn cgi_variables(&self) -> &[u8] {
        self.cgi_variables
            .get_or_init(|| crate::cgi::variables(self))
    }

    pub fn socket(&self) -> &SocketInfo {
        &self.socket
    }

    /// Reads body bytes into `out`; 0 at the end of the body.
    pub fn read(&self, out: &mut [u8]) -> Result<usize> {
        self.body.read(out)
    }

    /// The trailer fields of a chunked body, once it has been read to the end.
    pub fn trailers(&self) -> HeaderFields {
        self.body.trailers()
    }

    /// For a `101 Switching Protocols` response received by the client:
    /// takes over its connection, with the bytes already read past the head
    /// returned by the socket's first reads. `None` for any other message,
    /// or once taken.
    pub fn upgrade(&self) -> Option<UpgradedSocket> {
        if self.status() != 101 {
            return None;
        }
        self.body.upgrade()
    }
}

impl std::fmt::Debug for IncomingMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.head {
            Head::Request(h) => write!(f, "IncomingMessage({} {})", h.method(), h.url()),
            Head::Response(h) => write!(f, "IncomingMessage({})", h.status()),
        }
    }
}
