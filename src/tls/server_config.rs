//! A server's TLS: its default `SecureContext`, the contexts chosen by SNI,
//! and the settings only a server has (client certificates, session id
//! context, hooks for SNI and key logging). Each context a server presents
//! is built into an OpenSSL context of the server's own, with the server's
//! hooks installed, so that switching context during SNI keeps ALPN, key
//! logging and client verification.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex, RwLock};

use openssl::hash::{MessageDigest, hash};
use openssl::ssl::{
    NameType, SniError, Ssl, SslAcceptor, SslContext, SslMethod, SslMode, SslOptions, SslVerifyMode,
};

use super::openssl_ext::{
    TicketKeys, set_npn_protocols, set_session_timeout, set_ticket_keys, ticket_keys,
};
use super::policy::alpn_wire_format;
use super::secure_context::{ContextOptions, SecureContext};
use crate::error::{Error, Result};

/// Node's TLS options of `https.createServer`.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    /// The default identity, CAs and policy (Node's key, cert, pfx, ca, ciphers, ...).
    pub context: ContextOptions,
    /// Ask clients for a certificate (Node's `requestCert`, default false).
    pub request_cert: bool,
    /// Refuse clients whose certificate does not verify (Node's
    /// `rejectUnauthorized`). Only has an effect with `request_cert`.
    /// Default true, as in modern Node's `tls.createServer`.
    pub reject_unauthorized: bool,
    /// Node's `sessionIdContext`.
    pub session_id_context: Option<Vec<u8>>,
    /// Node's `NPNProtocols`: advertised by NPN, ALPN's obsolete predecessor.
    pub npn_protocols: Vec<String>,
    /// How many sessions the server remembers for resumption by session id
    /// (OpenSSL's default: 20,480).
    pub session_cache_size: Option<u32>,
    /// Node's `sessionTimeout`: how long a session stays resumable, seconds
    /// (default 300, as in Node).
    pub session_timeout: u32,
    /// Issue session tickets (default true); off, resumption uses the
    /// server's session cache only.
    pub tickets: bool,
    /// Node's `ticketKeys`, in OpenSSL's 80-byte layout; random at start when not given.
    pub ticket_keys: Option<TicketKeys>,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            context: ContextOptions::default(),
            request_cert: false,
            reject_unauthorized: true,
            session_id_context: None,
            npn_protocols: Vec::new(),
            session_cache_size: None,
            session_timeout: 300,
            tickets: true,
            ticket_keys: None,
        }
    }
}

/// Receives NSS key-log lines (Node's `keylog` event), one line without its newline.
pub type KeylogHandler = Arc<dyn Fn(&str) + Send + Sync>;
/// Node's `SNICallback`: the context for a server name, or `None` for the default.
pub type SniCallback = Arc<dyn Fn(&str) -> Option<Arc<SecureContext>> + Send + Sync>;

/// What the server's OpenSSL callbacks consult at handshake time.
#[derive(Default)]
struct Hooks {
    keylog: RwLock<Option<KeylogHandler>>,
    sni_callback: RwLock<Option<SniCallback>>,
    /// `addContext` entries: later ones win, as in Node.
    by_name: RwLock<Vec<(String, Arc<SecureContext>)>>,
    /// The OpenSSL contexts built for contexts an SNI callback returned,
    /// by the `SecureContext`'s address (the Arc keeps it alive).
    built: Mutex<HashMap<usize, (Arc<SecureContext>, SslContext)>>,
}

/// Client-certificate, session and NPN settings, applied to every context.
#[derive(Clone)]
struct Settings {
    request_cert: bool,
    reject_unauthorized: bool,
    session_id_context: Option<Vec<u8>>,
    npn_wire: Option<Vec<u8>>,
    session_cache_size: Option<u32>,
    session_timeout: u32,
    tickets: bool,
}

/// The built TLS side of a server.
pub struct ServerTls {
    settings: Settings,
    hooks: Arc<Hooks>,
    /// The default context, as built for this server; swapped by `set_secure_context`.
    current: RwLock<SslContext>,
    /// What `current` is built from; held while it is rebuilt.
    default: Mutex<DefaultContext>,
    initial_certificate_pem: CString,
}

/// What the default context is built from.
struct DefaultContext {
    source: Arc<SecureContext>,
    /// The keys of every default context this server builds, so that
    /// tickets survive a certificate swap.
    ticket_keys: TicketKeys,
}

impl ServerTls {
    pub fn new(options: &TlsOptions) -> Result<ServerTls> {
        let context = SecureContext::new(&options.context)?;
        let session_id_context = match &options.session_id_context {
            Some(id) => Some(id.clone()),
            None if options.request_cert => Some(command_line_digest()),
            None => None,
        };
        let npn_wire = match options.npn_protocols.as_slice() {
            [] => None,
            protocols => Some(alpn_wire_format(protocols)?),
        };
        let settings = Settings {
            request_cert: options.request_cert,
            reject_unauthorized: options.reject_unauthorized,
            session_id_context,
            npn_wire,
            session_cache_size: options.session_cache_size,
            session_timeout: options.session_timeout,
            tickets: options.tickets,
        };
        let hooks = Arc::new(Hooks::default());
        let current = build(&settings, &hooks, &context)?;
        let ticket_keys = match options.ticket_keys {
            Some(keys) => {
                set_ticket_keys(&current, &keys)?;
                keys
            }
            None => ticket_keys(&current)?,
        };
        Ok(ServerTls {
            settings,
            hooks,
            current: RwLock::new(current),
            initial_certificate_pem: context.certificate_pem().to_owned(),
            default: Mutex::new(DefaultContext {
                source: context,
                ticket_keys,
            }),
        })
    }

    /// Node's `server.getTicketKeys()`.
    pub fn ticket_keys(&self) -> TicketKeys {
        lock(&self.default).ticket_keys
    }

    /// Node's `server.setTicketKeys(keys)`: tickets issued from now on are
    /// encrypted with `keys`, and only tickets under `keys` are accepted —
    /// share them between processes, rotate them across restarts.
    pub fn set_ticket_keys(&self, keys: &TicketKeys) -> Result<()> {
        let mut default = lock(&self.default);
        set_ticket_keys(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
            keys,
        )?;
        default.ticket_keys = *keys;
        Ok(())
    }

    /// A new OpenSSL session for an accepted connection, on the current default context.
    pub fn new_session(&self) -> Result<Ssl> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        Ssl::new(&current).map_err(|e| Error::Tls(e.to_string()))
    }

    /// Node's `server.setSecureContext`: new connections present `context`;
    /// connections already open keep theirs.
    pub fn set_secure_context(&self, context: &Arc<SecureContext>) -> Result<()> {
        let mut default = lock(&self.default);
        let built = build(&self.settings, &self.hooks, context)?;
        set_ticket_keys(&built, &default.ticket_keys)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = built;
        default.source = context.clone();
        Ok(())
    }

    /// Node's `server.addContext(hostname, context)`: `pattern` is a host
    /// name or `*.` followed by one, where `*` stands for exactly one label.
    pub fn add_context(&self, pattern: &str, context: &Arc<SecureContext>) -> Result<()> {
        let pattern = pattern.to_ascii_lowercase();
        let name = pattern.strip_prefix("*.").unwrap_or(&pattern);
        if name.is_empty()
            || name.contains('*')
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(Error::invalid(format!(
                "{pattern:?} is not a host name or *.host.name pattern"
            )));
        }
        // Build once now, to fail early on a context this server cannot use.
        let built = build(&self.settings, &self.hooks, context)?;
        let mut by_name = self
            .hooks
            .by_name
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let mut built_contexts = lock(&self.hooks.built);
        // The same pattern again replaces the earlier context (the last
        // added wins in any case, as in Node; this one lets it go).
        if let Some(at) = by_name.iter().position(|(p, _)| *p == pattern) {
            let (_, replaced) = by_name.remove(at);
            built_contexts.remove(&(Arc::as_ptr(&replaced) as usize));
        }
        built_contexts.insert(Arc::as_ptr(context) as usize, (context.clone(), built));
        by_name.push((pattern, context.clone()));
        Ok(())
    }

    /// Node's `SNICallback`; when set, it replaces the `addContext` table.
    pub fn set_sni_callback(&self, callback: Option<SniCallback>) {
        *self
            .hooks
            .sni_callback
            .write()
            .unwrap_or_else(|p| p.into_inner()) = callback;
    }

    /// Sets (or with `None` removes) the receiver of key-log lines.
    ///
    /// OpenSSL formats every key-log line (five per TLS 1.3 handshake, a
    /// tenth of its instructions) whenever a context has a key-log
    /// callback, listened to or not; so contexts carry one only while a
    /// handler is set. When that changes, the default context is built
    /// again (with the same certificate and ticket keys; the session-id
    /// cache starts empty) and the SNI contexts built so far are forgotten,
    /// to be built again at their next use. Connections already open keep
    /// their context.
    pub fn set_keylog_handler(&self, handler: Option<KeylogHandler>) {
        let has = handler.is_some();
        let had = std::mem::replace(
            &mut *self.hooks.keylog.write().unwrap_or_else(|p| p.into_inner()),
            handler,
        )
        .is_some();
        if has != had {
            self.rebuild();
        }
    }

    /// Builds the contexts again after a change of what they are built
    /// with. Should the default one fail to build (it built before), it
    /// stays as it is.
    fn rebuild(&self) {
        let default = lock(&self.default);
        if let Ok(built) = build(&self.settings, &self.hooks, &default.source)
            && set_ticket_keys(&built, &default.ticket_keys).is_ok()
        {
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = built;
        }
        lock(&self.hooks.built).clear();
    }

    /// The leaf certificate the server was created with, PEM.
    pub fn certificate_pem(&self) -> &std::ffi::CStr {
        &self.initial_certificate_pem
    }

    pub fn requests_client_certificate(&self) -> bool {
        self.settings.request_cert
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hooks {
    /// The OpenSSL context to switch to for `name`, if any.
    fn choose(self: &Arc<Hooks>, settings: &Settings, name: &str) -> Result<Option<SslContext>> {
        let callback = self
            .sni_callback
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let context = match callback {
            Some(callback) => callback(name),
            None => self
                .by_name
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .rev()
                .find(|(pattern, _)| host_matches(pattern, name))
                .map(|(_, context)| context.clone()),
        };
        let Some(context) = context else {
            return Ok(None);
        };
        let key = Arc::as_ptr(&context) as usize;
        if let Some((_, built)) = lock(&self.built).get(&key) {
            return Ok(Some(built.clone()));
        }
        let built = build(settings, self, &context)?;
        lock(&self.built).insert(key, (context, built.clone()));
        Ok(Some(built))
    }
}

/// Whether `name` matches `pattern` (both lower case): exactly, or for
/// `*.rest`, one non-empty label followed by `.rest`.
fn host_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .strip_suffix(rest)
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => pattern == name,
    }
}

/// Builds this server's OpenSSL context for `context`, with the server's
/// settings and hooks.
fn build(
    settings: &Settings,
    hooks: &Arc<Hooks>,
    context: &Arc<SecureContext>,
) -> Result<SslContext> {
    let tls = |e: openssl::error::ErrorStack| Error::Tls(e.to_string());
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(tls)?;
    context.install(&mut builder)?;
    if settings.request_cert {
        if !context.has_ca() {
            builder.set_default_verify_paths().map_err(tls)?;
        }
        if settings.reject_unauthorized {
            builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        } else {
            // Continue the handshake whatever the verdict; the verdict is
            // read afterwards and reported as `authorized`.
            builder.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        }
    }
    if let Some(id) = &settings.session_id_context {
        builder.set_session_id_context(id).map_err(tls)?;
    }
    if let Some(size) = settings.session_cache_size {
        builder.set_session_cache_size(i32::try_from(size).unwrap_or(i32::MAX));
    }
    set_session_timeout(&mut builder, settings.session_timeout);
    // An idle connection gives its two 16 KiB record buffers back until
    // its next request arrives: explicitly once it has been parked a
    // moment (`Pool::release_idle_buffers`), or — with an OpenSSL whose
    // SSL_free_buffers is unsafe — after every record.
    if !super::can_free_buffers() {
        builder.set_mode(SslMode::RELEASE_BUFFERS);
    }
    // One read(2) per record (or per several), not one for its 5-byte
    // header and one for the rest. Whoever waits for the socket must then
    // ask `has_pending` first: input may wait in OpenSSL's buffer.
    builder.set_read_ahead(true);
    if !settings.tickets {
        builder.set_options(SslOptions::NO_TICKET);
    }
    if let Some(wire) = &settings.npn_wire {
        set_npn_protocols(&mut builder, wire.clone())?;
    }
    // Only while a handler listens (see `set_keylog_handler`). Weak, like
    // the SNI callback's: `Hooks` holds the built contexts, so a strong
    // reference here would keep both alive for ever.
    if hooks.keylog.read().is_ok_and(|h| h.is_some()) {
        let keylog_hooks = Arc::downgrade(hooks);
        builder.set_keylog_callback(move |_, line| {
            let handler = keylog_hooks
                .upgrade()
                .and_then(|hooks| hooks.keylog.read().ok().and_then(|h| h.clone()));
            if let Some(handler) = handler {
                handler(line);
            }
        });
    }
    let sni_hooks = Arc::downgrade(hooks);
    let sni_settings = settings.clone();
    builder.set_servername_callback(move |ssl, _alert| {
        let (Some(hooks), Some(name)) = (sni_hooks.upgrade(), ssl.servername(NameType::HOST_NAME))
        else {
            return Ok(());
        };
        match hooks.choose(&sni_settings, &name.to_ascii_lowercase()) {
            Ok(Some(chosen)) => ssl
                .set_ssl_context(&chosen)
                .map_err(|_| SniError::ALERT_FATAL),
            Ok(None) => Ok(()),
            Err(_) => Err(SniError::ALERT_FATAL),
        }
    });
    Ok(builder.build().into_context())
}

/// Node's default `sessionIdContext` when `requestCert` is on: an MD5 of the
/// process's command line (SHA-256, cut to 16 bytes, where MD5 is unavailable).
fn command_line_digest() -> Vec<u8> {
    let line = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    hash(MessageDigest::md5(), line.as_bytes())
        .or_else(|_| hash(MessageDigest::sha256(), line.as_bytes()))
        .map(|d| d[..16].to_vec())
        .unwrap_or_else(|_| b"nhttps".to_vec())
}

#[cfg(test)]
mod tests {
    use super::host_matches;

    #[test]
    fn a_wildcard_stands_for_exactly_one_label() {
        assert!(host_matches("*.example.test", "a.example.test"));
        assert!(!host_matches("*.example.test", "example.test"));
        assert!(!host_matches("*.example.test", "a.b.example.test"));
        assert!(!host_matches("*.example.test", "aexample.test"));
        assert!(host_matches("www.example.test", "www.example.test"));
        assert!(!host_matches("www.example.test", "x.www.example.test"));
    }
}
