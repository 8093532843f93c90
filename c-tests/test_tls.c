/* The TLS features of the server (issue 3), through the header only,
 * against real peers: curl, `openssl s_client` and Python's ssl module
 * (c-tests/peers/tls_client.py). A throwaway PKI — a test CA, server
 * certificates for SNI names, trusted, untrusted and self-signed client
 * certificates, an encrypted key and a PKCS#12 bundle — is made with the
 * openssl CLI in the scratch directory the first time a test needs it.
 *
 * Every server callback appends a line to one record (`rec`), which the
 * tests read after `nhttps_server_free` (which waits for every connection
 * thread), e.g. "secure#1 version=[TLSv1.3] ... reused=[0] ...".
 */
#include "harness.h"

/* ---- scratch files ------------------------------------------------------- */

/* The path of `name` in the scratch directory; stable for the whole run. */
static const char *file(const char *name) {
    static char names[96][64];
    static char paths[96][512];
    static int count;
    for (int i = 0; i < count; i++) {
        if (strcmp(names[i], name) == 0) {
            return paths[i];
        }
    }
    if (count == 96) {
        abort();
    }
    snprintf(names[count], sizeof names[0], "%s", name);
    snprintf(paths[count], sizeof paths[0], "%s/%s", h_dir(), name);
    return paths[count++];
}

static const char *cert_of(const char *who) {
    char name[64];
    snprintf(name, sizeof name, "%s.pem", who);
    return file(name);
}

static const char *key_of(const char *who) {
    char name[64];
    snprintf(name, sizeof name, "%s.key", who);
    return file(name);
}

/* A whole file, malloc'd and NUL-terminated (NULL if it cannot be read). */
static char *slurp(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, len = 0, n;
    char *data = malloc(cap + 1);
    while ((n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            data = realloc(data, cap + 1);
        }
    }
    fclose(f);
    data[len] = '\0';
    if (len_out) *len_out = len;
    return data;
}

/* Everything left to read from a pipe, malloc'd and NUL-terminated. */
static char *read_rest(FILE *pipe) {
    size_t cap = 4096, len = 0, n;
    char *out = malloc(cap + 1);
    while ((n = fread(out + len, 1, cap - len, pipe)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            out = realloc(out, cap + 1);
        }
    }
    out[len] = '\0';
    return out;
}

static int count_of(const char *haystack, const char *needle) {
    int n = 0;
    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* ---- a throwaway PKI ------------------------------------------------------ */

static char pki_error[4096];

/* Makes WHO.key and WHO.pem: an EC P-256 key and a certificate for
 * `subject`, signed by `issuer`'s (self-signed when NULL), with the
 * extra `openssl req` arguments `extra`; the key is encrypted under
 * `passphrase` when it is not NULL. */
static bool make_cert(const char *who, const char *subject, const char *issuer,
                      const char *extra, const char *passphrase) {
    char ca_args[1200] = "";
    if (issuer != NULL) {
        snprintf(ca_args, sizeof ca_args, "-CA %s -CAkey %s", cert_of(issuer), key_of(issuer));
    }
    char key_args[200] = "-nodes";
    if (passphrase != NULL) {
        snprintf(key_args, sizeof key_args, "-passout pass:%s", passphrase);
    }
    int status = 0;
    char *out = h_capture(&status,
                          "openssl req -config %s -x509 %s -newkey ec -pkeyopt "
                          "ec_paramgen_curve:P-256 %s -days 2 -subj '%s' %s -keyout %s -out %s 2>&1",
                          file("min.cnf"), ca_args, key_args, subject, extra, key_of(who),
                          cert_of(who));
    if (status != 0) {
        snprintf(pki_error, sizeof pki_error, "making %s failed: %s", who, out);
    }
    free(out);
    return status == 0;
}

#define LEAF "-addext basicConstraints=CA:FALSE "
#define LOCAL_SAN "-addext subjectAltName=DNS:localhost,IP:127.0.0.1"
#define CLIENT_AUTH "-addext extendedKeyUsage=clientAuth "

static bool make_pki(void) {
    const char *cnf = "[req]\ndistinguished_name=dn\n[dn]\n";
    h_write_file(file("min.cnf"), cnf, strlen(cnf));
    const char *ca = "-addext basicConstraints=critical,CA:TRUE "
                     "-addext keyUsage=critical,keyCertSign,cRLSign";
    if (!make_cert("ca", "/CN=Test CA", NULL, ca, NULL) ||
        !make_cert("other-ca", "/CN=Other CA", NULL, ca, NULL) ||
        !make_cert("server", "/CN=localhost/O=nhttps tests", "ca", LEAF LOCAL_SAN, NULL) ||
        !make_cert("a", "/CN=a.example.test", "ca",
                   LEAF "-addext subjectAltName=DNS:a.example.test", NULL) ||
        !make_cert("wild", "/CN=*.wild.test", "ca",
                   LEAF "-addext 'subjectAltName=DNS:*.wild.test'", NULL) ||
        !make_cert("cb", "/CN=cb.example.test", "ca",
                   LEAF "-addext subjectAltName=DNS:cb.example.test", NULL) ||
        !make_cert("after", "/CN=after.test", "ca", LEAF LOCAL_SAN, NULL) ||
        !make_cert("client", "/CN=trusted client/O=Example Org", "ca",
                   LEAF CLIENT_AUTH "-set_serial 0x1234ABCD "
                   "-addext subjectAltName=DNS:client.example.test,IP:10.0.0.1",
                   NULL) ||
        !make_cert("stranger", "/CN=stranger", "other-ca", LEAF CLIENT_AUTH, NULL) ||
        !make_cert("self", "/CN=self-signed client", NULL, "", NULL) ||
        !make_cert("encrypted", "/CN=encrypted.test", "ca", LEAF LOCAL_SAN, "s3cret") ||
        !make_cert("bundle", "/CN=bundle.test", "ca", LEAF LOCAL_SAN, NULL)) {
        return false;
    }
    int status = 0;
    char *out = h_capture(&status,
                          "openssl pkcs12 -export -inkey %s -in %s -certfile %s -name bundle "
                          "-passout pass:bundle-pass -out %s 2>&1",
                          key_of("bundle"), cert_of("bundle"), cert_of("ca"), file("bundle.p12"));
    if (status == 0) {
        free(out);
        out = h_capture(&status,
                        "openssl pkey -in %s -passin pass:s3cret -traditional -aes128 "
                        "-passout pass:tr4d -out %s 2>&1",
                        key_of("encrypted"), file("traditional.key"));
    }
    if (status != 0) {
        snprintf(pki_error, sizeof pki_error, "pkcs12/pkey failed: %s", out);
    }
    free(out);
    return status == 0;
}

static bool pki(void) {
    static int state; /* 0: not made yet, 1: made, -1: failed */
    if (state == 0) {
        state = make_pki() ? 1 : -1;
    }
    return state > 0;
}

#define REQUIRE_PKI()                                            \
    do {                                                         \
        REQUIRE_TOOL("openssl");                                 \
        CHECK_MSG(pki(), "test PKI: %s", pki_error);             \
    } while (0)

/* ---- the record of server callbacks --------------------------------------- */

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static char rec[1 << 17];
static size_t rec_len;
static char peer_pem[8192];
static atomic_int n_request, n_secure, n_tls_error, n_client_error, n_sni;

static void rec_reset(void) {
    pthread_mutex_lock(&rec_lock);
    rec_len = 0;
    rec[0] = '\0';
    peer_pem[0] = '\0';
    pthread_mutex_unlock(&rec_lock);
    atomic_store(&n_request, 0);
    atomic_store(&n_secure, 0);
    atomic_store(&n_tls_error, 0);
    atomic_store(&n_client_error, 0);
    atomic_store(&n_sni, 0);
}

static void rec_add(const char *fmt, ...) {
    pthread_mutex_lock(&rec_lock);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rec + rec_len, sizeof rec - rec_len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        rec_len += (size_t)n < sizeof rec - rec_len ? (size_t)n : sizeof rec - rec_len - 1;
    }
    pthread_mutex_unlock(&rec_lock);
}

/* The line of the record that starts with `prefix` (a copy in a static
 * buffer), or NULL. */
static const char *rec_line(const char *prefix) {
    static char line[4096];
    size_t plen = strlen(prefix);
    for (const char *p = rec; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        if (strncmp(p, prefix, plen) == 0) {
            const char *end = strchr(p, '\n');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len >= sizeof line) len = sizeof line - 1;
            memcpy(line, p, len);
            line[len] = '\0';
            return line;
        }
    }
    return NULL;
}

#define S(s) ((s) != NULL ? (s) : "-")

static void rec_info(const char *event, int n, const nhttps_socket_info *info) {
    rec_add("%s#%d version=[%s] cipher=[%s] sni=[%s] alpn=[%s] npn=[%s] reused=[%d] "
            "authorized=[%d] autherr=[%s] peer=[%s] cert=[%s]\n",
            event, n, S(nhttps_socket_info_tls_version(info)), S(nhttps_socket_info_cipher(info)),
            S(nhttps_socket_info_servername(info)), S(nhttps_socket_info_alpn_protocol(info)),
            S(nhttps_socket_info_npn_protocol(info)),
            (int)nhttps_socket_info_session_reused(info),
            (int)nhttps_socket_info_authorized(info),
            S(nhttps_socket_info_authorization_error(info)),
            S(nhttps_socket_info_peer_common_name(info)),
            nhttps_socket_info_peer_certificate(info) != NULL ? "yes" : "no");
}

/* `request`: records the connection and its client certificate, answers
 * "hello\n". */
static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    int n = atomic_fetch_add(&n_request, 1) + 1;
    const nhttps_socket_info *info = nhttps_incoming_message_socket(req);
    rec_info("request", n, info);
    const nhttps_certificate *cert = nhttps_socket_info_peer_certificate(info);
    if (cert != NULL) {
        rec_add("cert#%d subject=[%s]\ncert#%d issuer=[%s]\ncert#%d serial=[%s]\n"
                "cert#%d valid_from=[%s]\ncert#%d valid_to=[%s]\ncert#%d fingerprint256=[%s]\n"
                "cert#%d san=[%s]\n",
                n, S(nhttps_certificate_subject(cert)), n, S(nhttps_certificate_issuer(cert)), n,
                S(nhttps_certificate_serial_number(cert)), n,
                S(nhttps_certificate_valid_from(cert)), n, S(nhttps_certificate_valid_to(cert)),
                n, S(nhttps_certificate_fingerprint256(cert)), n,
                S(nhttps_certificate_subject_alt_names(cert)));
        pthread_mutex_lock(&rec_lock);
        snprintf(peer_pem, sizeof peer_pem, "%s", S(nhttps_certificate_pem(cert)));
        pthread_mutex_unlock(&rec_lock);
    }
    nhttps_server_response_set_header(res, "Content-Type", "text/plain");
    nhttps_server_response_end(res, (const uint8_t *)"hello\n", 6);
}

static void on_secure(void *userdata, const nhttps_socket_info *info) {
    (void)userdata;
    rec_info("secure", atomic_fetch_add(&n_secure, 1) + 1, info);
}

static void rec_error(const char *event, int n, const nhttps_error *error,
                      const nhttps_socket_info *info) {
    rec_add("%s#%d code=[%s] status=[%u] remote=[%s] msg=[%s]\n", event, n,
            nhttps_result_name((int)nhttps_error_code(error)),
            (unsigned)nhttps_error_http_status(error), S(nhttps_socket_info_remote_address(info)),
            S(nhttps_error_message(error)));
}

static void on_tls_error(void *userdata, const nhttps_error *error,
                         const nhttps_socket_info *info) {
    (void)userdata;
    rec_error("tlsClientError", atomic_fetch_add(&n_tls_error, 1) + 1, error, info);
}

static void on_client_error(void *userdata, const nhttps_error *error,
                            const nhttps_socket_info *info) {
    (void)userdata;
    rec_error("clientError", atomic_fetch_add(&n_client_error, 1) + 1, error, info);
}

static void on_keylog(void *userdata, const char *line) {
    (void)userdata;
    rec_add("keylog %s\n", line);
}

/* ---- servers -------------------------------------------------------------- */

enum { L_SECURE = 1, L_TLS_ERROR = 2, L_CLIENT_ERROR = 4, L_KEYLOG = 8 };

static char start_error[2048];

/* Builds a server from `options` (freed here) with `on_request` and the
 * recording listeners asked for, listening on 127.0.0.1 on an ephemeral
 * port (in h_port). NULL on failure, with the reason in start_error. */
static nhttps_server *start(nhttps_server_options *options, int listeners) {
    start_error[0] = '\0';
    if (options == NULL) {
        snprintf(start_error, sizeof start_error, "no options");
        return NULL;
    }
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    if (rc != NHTTPS_OK) {
        snprintf(start_error, sizeof start_error, "nhttps_server_new -> %s (%s)",
                 nhttps_result_name((int)rc), nhttps_last_error_message());
        nhttps_server_options_free(options);
        return NULL;
    }
    nhttps_server_options_free(options);
    nhttps_server_on_request(server, on_request, NULL);
    if (listeners & L_SECURE) nhttps_server_on_secure_connection(server, on_secure, NULL);
    if (listeners & L_TLS_ERROR) nhttps_server_on_tls_client_error(server, on_tls_error, NULL);
    if (listeners & L_CLIENT_ERROR) nhttps_server_on_client_error(server, on_client_error, NULL);
    if (listeners & L_KEYLOG) nhttps_server_on_keylog(server, on_keylog, NULL);
    rc = nhttps_server_listen(server, "127.0.0.1", 0);
    if (rc != NHTTPS_OK) {
        snprintf(start_error, sizeof start_error, "nhttps_server_listen -> %s (%s)",
                 nhttps_result_name((int)rc), nhttps_last_error_message());
        nhttps_server_free(server);
        return NULL;
    }
    h_port = nhttps_server_port(server);
    return server;
}

/* Frees `server` once `*count` (an error counter) is non-zero, or after
 * 10 s: a handshake failure is reported on the connection's thread a
 * moment after the peer saw it fail, and one still pending when the
 * server closes is not reported at all. */
static void free_after(nhttps_server *server, atomic_int *count) {
    h_wait_for(count, 10000);
    nhttps_server_free(server);
}

#define CHECK_SERVER(server) CHECK_MSG((server) != NULL, "%s", start_error)

/* Options with WHO's key and certificate files (NULL if they do not load). */
static nhttps_server_options *options_for(const char *who) {
    nhttps_server_options *options = nhttps_server_options_new();
    if (nhttps_server_options_set_key_file(options, key_of(who)) != NHTTPS_OK ||
        nhttps_server_options_set_cert_file(options, cert_of(who)) != NHTTPS_OK) {
        nhttps_server_options_free(options);
        return NULL;
    }
    return options;
}

/* Options for the CA-signed "localhost" server certificate. */
static nhttps_server_options *server_options(void) {
    return options_for("server");
}

/* A secure context with WHO's key and certificate (NULL on failure). */
static const nhttps_secure_context *context_for(const char *who) {
    nhttps_server_options *options = options_for(who);
    if (options == NULL) {
        return NULL;
    }
    const nhttps_secure_context *context = NULL;
    if (nhttps_secure_context_new(options, &context) != NHTTPS_OK) {
        context = NULL;
    }
    nhttps_server_options_free(options);
    return context;
}

/* ---- peers ---------------------------------------------------------------- */

#define VCURL "curl -sS --max-time 30 --cacert %s"
#define GET_REQUEST "GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n"

/* `openssl s_client` to 127.0.0.1:port with the extra arguments given,
 * sending one GET and reading until the server closes. Returns its
 * stdout and stderr (the caller frees them). */
static char *s_client(int *status, uint16_t port, const char *fmt, ...) {
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return h_capture(status,
                     "printf '" GET_REQUEST "' | timeout 30 openssl s_client -connect 127.0.0.1:%u "
                     "-ign_eof %s 2>&1",
                     (unsigned)port, args);
}

/* The subject of the certificate the server on `port` presents for
 * `servername` (no SNI when NULL), as `openssl x509 -subject` prints it. */
static char *presented(uint16_t port, const char *servername) {
    char sni[300] = "-noservername";
    if (servername != NULL) {
        snprintf(sni, sizeof sni, "-servername %s", servername);
    }
    return h_capture(NULL,
                     "timeout 30 openssl s_client -connect 127.0.0.1:%u %s </dev/null 2>/dev/null"
                     " | openssl x509 -noout -subject 2>&1",
                     (unsigned)port, sni);
}

/* A field of WHO's certificate as `openssl x509 -noout FLAG` prints it,
 * without its "name=" and newline (malloc'd). */
static char *x509_field(const char *who, const char *flag) {
    char *out = h_capture(NULL, "openssl x509 -in %s -noout %s", cert_of(who), flag);
    char *eq = strchr(out, '=');
    char *value = strdup(eq ? eq + 1 : out);
    free(out);
    value[strcspn(value, "\n")] = '\0';
    return value;
}

/* ---- ALPN ----------------------------------------------------------------- */

static void alpn_http11_is_agreed_with_curl_and_reported_in_the_request(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    const char *protocols[] = {"http/1.1"};
    CHECK_OK(nhttps_server_options_set_alpn_protocols(options, protocols, 1));
    nhttps_server *server = start(options, L_SECURE);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " --http1.1 https://localhost:%u/", cert_of("ca"), h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
    CHECK_CONTAINS(rec_line("request#1 "), "alpn=[http/1.1]");
    CHECK_CONTAINS(rec_line("secure#1 "), "alpn=[http/1.1]");
}

static void alpn_without_a_common_protocol_fails_the_handshake(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    const char *protocols[] = {"http/1.1"};
    CHECK_OK(nhttps_server_options_set_alpn_protocols(options, protocols, 1));
    nhttps_server *server = start(options, L_SECURE | L_TLS_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *out = s_client(&status, h_port, "-alpn not-http");
    free_after(server, &n_tls_error);
    CHECK_MSG(status != 0 && strstr(out, "hello") == NULL, "s_client got through: %.600s", out);
    free(out);
    CHECK_INT(atomic_load(&n_secure), 0);
    CHECK_INT(atomic_load(&n_request), 0);
    CHECK_CONTAINS(rec_line("tlsClientError#1 "), "code=[NHTTPS_ERR_TLS_HANDSHAKE]");
}

/* ---- events --------------------------------------------------------------- */

static void secure_connection_fires_with_the_tls_version(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE);
    CHECK_SERVER(server);
    char *tls13 = h_capture(NULL, VCURL " https://localhost:%u/", cert_of("ca"), h_port);
    char *tls12 = h_capture(NULL, VCURL " --tls-max 1.2 https://localhost:%u/", cert_of("ca"),
                            h_port);
    nhttps_server_free(server);
    CHECK_STR(tls13, "hello\n");
    CHECK_STR(tls12, "hello\n");
    free(tls13);
    free(tls12);
    CHECK_INT(atomic_load(&n_secure), 2);
    CHECK_CONTAINS(rec_line("secure#1 "), "version=[TLSv1.3]");
    CHECK_CONTAINS(rec_line("secure#1 "), "cipher=[TLS_");
    CHECK_CONTAINS(rec_line("secure#2 "), "version=[TLSv1.2]");
    CHECK_CONTAINS(rec_line("secure#2 "), "cipher=[ECDHE-ECDSA-");
    CHECK_CONTAINS(rec_line("secure#1 "), "sni=[localhost]");
}

/* The key-log listener may come and go while the server runs (the server
 * builds its contexts again): lines for the handshakes while it is
 * registered, none before or after, and every connection served. */
static void a_keylog_listener_added_while_serving_gets_lines_until_removed(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), 0);
    CHECK_SERVER(server);
    char *before = h_capture(NULL, VCURL " https://localhost:%u/", cert_of("ca"), h_port);
    bool none_before = strstr(rec, "keylog ") == NULL;
    nhttps_result added = nhttps_server_on_keylog(server, on_keylog, NULL);
    char *during = h_capture(NULL, VCURL " https://localhost:%u/", cert_of("ca"), h_port);
    bool logged = strstr(rec, "keylog CLIENT_TRAFFIC_SECRET_0 ") != NULL;
    nhttps_result removed = nhttps_server_on_keylog(server, NULL, NULL);
    rec_reset();
    char *after = h_capture(NULL, VCURL " https://localhost:%u/", cert_of("ca"), h_port);
    bool none_after = strstr(rec, "keylog ") == NULL;
    nhttps_server_free(server);
    bool served = before != NULL && during != NULL && after != NULL &&
                  strcmp(before, "hello\n") == 0 && strcmp(during, "hello\n") == 0 &&
                  strcmp(after, "hello\n") == 0;
    free(before);
    free(during);
    free(after);
    CHECK(added == NHTTPS_OK && removed == NHTTPS_OK);
    CHECK_MSG(served, "a request was not answered");
    CHECK_MSG(none_before, "key-log lines before the listener was registered");
    CHECK_MSG(logged, "no key-log line while the listener was registered");
    CHECK_MSG(none_after, "key-log lines after the listener was removed: %s", rec);
}

static void keylog_lines_are_nss_lines_that_match_the_clients(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_KEYLOG);
    CHECK_SERVER(server);
    const char *client_log = file("curl-keylog.txt");
    unlink(client_log);
    char *out = h_capture(NULL, "SSLKEYLOGFILE=%s " VCURL " https://localhost:%u/", client_log,
                          cert_of("ca"), h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
    CHECK_CONTAINS(rec, "keylog CLIENT_HANDSHAKE_TRAFFIC_SECRET ");
    CHECK_CONTAINS(rec, "keylog SERVER_HANDSHAKE_TRAFFIC_SECRET ");
    CHECK_CONTAINS(rec, "keylog CLIENT_TRAFFIC_SECRET_0 ");
    CHECK_CONTAINS(rec, "keylog SERVER_TRAFFIC_SECRET_0 ");
    /* The client's own key log (curl writes one) has the same secrets. */
    char *theirs = slurp(client_log, NULL);
    CHECK_MSG(theirs != NULL && strstr(theirs, "TRAFFIC_SECRET") != NULL,
              "curl wrote no key log to %s", client_log);
    int matched = 0;
    char *missing = NULL;
    for (char *line = strtok(theirs, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == '\0') continue;
        char want[1024];
        snprintf(want, sizeof want, "keylog %s\n", line);
        if (strstr(rec, want) != NULL) {
            matched++;
        } else if (missing == NULL) {
            missing = strdup(line);
        }
    }
    free(theirs);
    if (missing != NULL) {
        h_fail(__FILE__, __LINE__, "curl's key-log line is not among the server's: %s", missing);
        free(missing);
        return;
    }
    CHECK(matched >= 4);
}

static void plain_http_to_the_tls_port_fires_tls_client_error(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE | L_TLS_ERROR | L_CLIENT_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *out = h_capture(&status, "curl -sS --max-time 10 http://127.0.0.1:%u/ 2>&1", h_port);
    free_after(server, &n_tls_error);
    CHECK_MSG(status != 0, "curl succeeded over plain HTTP: %s", out);
    free(out);
    CHECK_INT(atomic_load(&n_tls_error), 1);
    CHECK_INT(atomic_load(&n_client_error), 0); /* tlsClientError replaces it */
    CHECK_INT(atomic_load(&n_secure), 0);
    CHECK_INT(atomic_load(&n_request), 0);
    const char *line = rec_line("tlsClientError#1 ");
    CHECK_CONTAINS(line, "code=[NHTTPS_ERR_TLS_HANDSHAKE]");
    CHECK_CONTAINS(line, "status=[0]");
    CHECK_CONTAINS(line, "remote=[127.0.0.1]");
}

static void plain_http_goes_to_client_error_without_a_tls_client_error_listener(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_CLIENT_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *out = h_capture(&status, "curl -sS --max-time 10 http://127.0.0.1:%u/ 2>&1", h_port);
    free_after(server, &n_client_error);
    CHECK_MSG(status != 0, "curl succeeded over plain HTTP: %s", out);
    free(out);
    CHECK_INT(atomic_load(&n_client_error), 1);
    CHECK_CONTAINS(rec_line("clientError#1 "), "code=[NHTTPS_ERR_TLS_HANDSHAKE]");
}

/* ---- SNI ------------------------------------------------------------------ */

/* A server with the "localhost" certificate by default, a.example.test's
 * for that name and wild's for *.wild.test; the caller's references to
 * the contexts are released at once (the server holds its own). */
static nhttps_server *sni_server(void) {
    nhttps_server *server = start(server_options(), L_SECURE);
    if (server == NULL) {
        return NULL;
    }
    const nhttps_secure_context *a = context_for("a"), *wild = context_for("wild");
    bool ok = a != NULL && wild != NULL &&
              nhttps_server_add_context(server, "a.example.test", a) == NHTTPS_OK &&
              nhttps_server_add_context(server, "*.wild.test", wild) == NHTTPS_OK;
    if (!ok) {
        snprintf(start_error, sizeof start_error, "contexts: %s", nhttps_last_error_message());
    }
    nhttps_secure_context_free(a);
    nhttps_secure_context_free(wild);
    if (!ok) {
        nhttps_server_free(server);
        return NULL;
    }
    return server;
}

static void sni_exact_name_gets_its_context(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = sni_server();
    CHECK_SERVER(server);
    char *subject = presented(h_port, "a.example.test");
    /* curl verifies the certificate against the name it asked for. */
    char *out = h_capture(NULL, VCURL " --resolve a.example.test:%u:127.0.0.1 https://a.example.test:%u/ 2>&1",
                          cert_of("ca"), h_port, h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(subject, "CN = a.example.test");
    free(subject);
    CHECK_STR(out, "hello\n");
    free(out);
    CHECK_CONTAINS(rec_line("secure#1 "), "sni=[a.example.test]");
    CHECK_CONTAINS(rec_line("request#1 "), "sni=[a.example.test]");
}

static void sni_wildcard_matches_exactly_one_label(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = sni_server();
    CHECK_SERVER(server);
    char *one = presented(h_port, "x.wild.test");
    char *two = presented(h_port, "deep.x.wild.test");
    char *bare = presented(h_port, "wild.test");
    char *out = h_capture(NULL, VCURL " --resolve api.wild.test:%u:127.0.0.1 https://api.wild.test:%u/ 2>&1",
                          cert_of("ca"), h_port, h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(one, "CN = *.wild.test");
    CHECK_CONTAINS(two, "CN = localhost");
    CHECK_CONTAINS(bare, "CN = localhost");
    CHECK_STR(out, "hello\n");
    free(one);
    free(two);
    free(bare);
    free(out);
    CHECK_CONTAINS(rec_line("request#1 "), "sni=[api.wild.test]");
}

static void sni_unknown_name_and_no_name_fall_back_to_the_default(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = sni_server();
    CHECK_SERVER(server);
    char *unknown = presented(h_port, "unknown.test");
    char *none = presented(h_port, NULL);
    char *out = h_capture(NULL, CURL " --resolve unknown.test:%u:127.0.0.1 https://unknown.test:%u/",
                          h_port, h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(unknown, "CN = localhost");
    CHECK_CONTAINS(none, "CN = localhost");
    CHECK_STR(out, "hello\n");
    free(unknown);
    free(none);
    free(out);
    CHECK_CONTAINS(rec_line("secure#1 "), "sni=[unknown.test]");
    CHECK_CONTAINS(rec_line("secure#2 "), "sni=[-]");
    CHECK_CONTAINS(rec_line("request#1 "), "sni=[unknown.test]");
}

static void sni_later_entries_win_and_names_match_in_any_case(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = sni_server();
    CHECK_SERVER(server);
    const nhttps_secure_context *cb = context_for("cb");
    CHECK(cb != NULL);
    CHECK_OK(nhttps_server_add_context(server, "*.example.test", cb));
    nhttps_secure_context_free(cb);
    char *a = presented(h_port, "a.example.test");
    char *upper = presented(h_port, "X.WILD.Test");
    nhttps_server_free(server);
    CHECK_CONTAINS(a, "CN = cb.example.test");
    CHECK_CONTAINS(upper, "CN = *.wild.test");
    free(a);
    free(upper);
}

static const nhttps_secure_context *choose_context(void *userdata, const char *servername) {
    int n = atomic_fetch_add(&n_sni, 1) + 1;
    rec_add("sni-callback#%d [%s]\n", n, S(servername));
    if (servername != NULL && strcmp(servername, "cb.example.test") == 0) {
        return userdata;
    }
    return NULL;
}

static void sni_callback_chooses_the_context(void) {
    REQUIRE_PKI();
    rec_reset();
    const nhttps_secure_context *cb = context_for("cb");
    CHECK(cb != NULL);
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_sni_callback(options, choose_context, (void *)cb));
    nhttps_server *server = start(options, L_SECURE);
    CHECK_SERVER(server);
    /* Not consulted while a callback is set. */
    const nhttps_secure_context *a = context_for("a");
    CHECK_OK(nhttps_server_add_context(server, "other.test", a));
    nhttps_secure_context_free(a);
    char *chosen = presented(h_port, "cb.example.test");
    char *other = presented(h_port, "other.test");
    nhttps_server_free(server);
    nhttps_secure_context_free(cb); /* ours: the server held its own */
    CHECK_CONTAINS(chosen, "CN = cb.example.test");
    CHECK_CONTAINS(other, "CN = localhost");
    free(chosen);
    free(other);
    CHECK_CONTAINS(rec, "sni-callback#1 [cb.example.test]\n");
    CHECK_CONTAINS(rec, "sni-callback#2 [other.test]\n");
    CHECK_CONTAINS(rec_line("secure#1 "), "sni=[cb.example.test]");
}

/* ---- certificate hot swap ------------------------------------------------- */

static void set_secure_context_swaps_the_certificate_for_new_connections_only(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE);
    CHECK_SERVER(server);
    const char *hold = file("hold-swap");
    unlink(hold);
    char command[2048];
    snprintf(command, sizeof command,
             "timeout 60 python3 c-tests/peers/tls_client.py --port %u --cafile %s --hold %s",
             (unsigned)h_port, cert_of("ca"), hold);
    FILE *peer = popen(command, "r");
    CHECK(peer != NULL);
    char before[4096] = "", line[1024];
    while (fgets(line, sizeof line, peer) != NULL) {
        strncat(before, line, sizeof before - strlen(before) - 1);
        if (strcmp(line, "HOLD\n") == 0) break;
    }
    const nhttps_secure_context *after = context_for("after");
    nhttps_result rc = nhttps_server_set_secure_context(server, after);
    nhttps_secure_context_free(after);
    char *fresh = presented(h_port, NULL);
    h_write_file(hold, "go", 2);
    char *rest = read_rest(peer);
    pclose(peer);
    nhttps_server_free(server);
    CHECK_MSG(rc == NHTTPS_OK, "set_secure_context -> %s", nhttps_result_name((int)rc));
    CHECK_CONTAINS(before, "SUBJECT localhost\n");
    CHECK_CONTAINS(fresh, "CN = after.test");
    CHECK_CONTAINS(rest, "HTTP/1.1 200");
    CHECK_CONTAINS(rest, "hello");
    free(fresh);
    free(rest);
}

static void one_context_serves_two_servers_after_the_caller_released_it(void) {
    REQUIRE_PKI();
    rec_reset();
    const nhttps_secure_context *after = context_for("after");
    CHECK(after != NULL);
    CHECK_CONTAINS(nhttps_secure_context_certificate_pem(after), "-----BEGIN CERTIFICATE-----");
    nhttps_server *first = start(server_options(), 0);
    CHECK_SERVER(first);
    uint16_t first_port = h_port;
    nhttps_server *second = start(server_options(), 0);
    CHECK_SERVER(second);
    CHECK_OK(nhttps_server_set_secure_context(first, after));
    CHECK_OK(nhttps_server_set_secure_context(second, after));
    nhttps_secure_context_free(after);
    char *one = presented(first_port, NULL);
    nhttps_server_free(first);
    char *two = presented(h_port, NULL);
    nhttps_server_free(second);
    CHECK_CONTAINS(one, "CN = after.test");
    CHECK_CONTAINS(two, "CN = after.test");
    free(one);
    free(two);
}

/* ---- client certificates ------------------------------------------------- */

static nhttps_server_options *client_cert_options(bool reject) {
    nhttps_server_options *options = server_options();
    if (options == NULL ||
        nhttps_server_options_add_ca_file(options, cert_of("ca")) != NHTTPS_OK ||
        nhttps_server_options_set_request_cert(options, true) != NHTTPS_OK ||
        nhttps_server_options_set_reject_unauthorized(options, reject) != NHTTPS_OK) {
        nhttps_server_options_free(options);
        return NULL;
    }
    return options;
}

static void trusted_client_certificate_is_authorized(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(true), L_SECURE | L_TLS_ERROR);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " --cert %s --key %s https://localhost:%u/ 2>&1",
                          cert_of("ca"), cert_of("client"), key_of("client"), h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
    const char *line = rec_line("request#1 ");
    CHECK_CONTAINS(line, "authorized=[1]");
    CHECK_CONTAINS(line, "autherr=[-]");
    CHECK_CONTAINS(line, "peer=[trusted client]");
    CHECK_CONTAINS(line, "cert=[yes]");
    CHECK_CONTAINS(rec_line("secure#1 "), "authorized=[1]");
    CHECK_INT(atomic_load(&n_tls_error), 0);
}

static void trusted_client_certificate_is_authorized_without_rejection_too(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(false), 0);
    CHECK_SERVER(server);
    int status = 0;
    char *out = s_client(&status, h_port, "-cert %s -key %s", cert_of("client"), key_of("client"));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "hello");
    free(out);
    const char *line = rec_line("request#1 ");
    CHECK_CONTAINS(line, "authorized=[1]");
    CHECK_CONTAINS(line, "autherr=[-]");
    CHECK_CONTAINS(line, "peer=[trusted client]");
}

static void no_client_certificate_fails_the_handshake_and_fires_tls_client_error(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(true), L_TLS_ERROR | L_CLIENT_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *out = h_capture(&status, VCURL " https://localhost:%u/ 2>&1", cert_of("ca"), h_port);
    free_after(server, &n_tls_error);
    CHECK_MSG(status != 0 && strstr(out, "hello") == NULL, "curl got through: %s", out);
    free(out);
    CHECK_INT(atomic_load(&n_request), 0);
    CHECK_INT(atomic_load(&n_tls_error), 1);
    CHECK_INT(atomic_load(&n_client_error), 0);
    CHECK_CONTAINS(rec_line("tlsClientError#1 "), "code=[NHTTPS_ERR_TLS_HANDSHAKE]");
}

static void no_client_certificate_goes_to_client_error_without_a_tls_listener(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(true), L_CLIENT_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *out = h_capture(&status, VCURL " https://localhost:%u/ 2>&1", cert_of("ca"), h_port);
    free_after(server, &n_client_error);
    CHECK_MSG(status != 0 && strstr(out, "hello") == NULL, "curl got through: %s", out);
    free(out);
    CHECK_INT(atomic_load(&n_request), 0);
    CHECK_INT(atomic_load(&n_client_error), 1);
    CHECK_CONTAINS(rec_line("clientError#1 "), "code=[NHTTPS_ERR_TLS_HANDSHAKE]");
}

static void untrusted_client_certificate_fails_the_handshake_when_rejecting(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(true), L_TLS_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *out = s_client(&status, h_port, "-cert %s -key %s", cert_of("stranger"),
                         key_of("stranger"));
    free_after(server, &n_tls_error);
    CHECK_MSG(strstr(out, "hello") == NULL, "s_client got through: %.600s", out);
    free(out);
    CHECK_INT(atomic_load(&n_request), 0);
    CHECK_INT(atomic_load(&n_tls_error), 1);
}

static void self_signed_client_certificate_arrives_unauthorized_when_not_rejecting(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(false), L_TLS_ERROR);
    CHECK_SERVER(server);
    char *out = h_capture(NULL,
                          "timeout 60 python3 c-tests/peers/tls_client.py --port %u --cert %s "
                          "--key %s 2>&1",
                          (unsigned)h_port, cert_of("self"), key_of("self"));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "hello");
    free(out);
    const char *line = rec_line("request#1 ");
    CHECK_CONTAINS(line, "authorized=[0]");
    CHECK_CONTAINS(line, "autherr=[DEPTH_ZERO_SELF_SIGNED_CERT]");
    CHECK_CONTAINS(line, "peer=[self-signed client]");
    CHECK_CONTAINS(rec_line("cert#1 subject="), "CN=self-signed client");
    CHECK_CONTAINS(rec_line("cert#1 issuer="), "CN=self-signed client");
    CHECK_STR(rec_line("cert#1 san="), "cert#1 san=[-]");
}

static void untrusted_client_certificate_arrives_with_its_error_when_not_rejecting(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(false), 0);
    CHECK_SERVER(server);
    int status = 0;
    char *out = s_client(&status, h_port, "-cert %s -key %s", cert_of("stranger"),
                         key_of("stranger"));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "hello");
    free(out);
    const char *line = rec_line("request#1 ");
    CHECK_CONTAINS(line, "authorized=[0]");
    CHECK_CONTAINS(line, "peer=[stranger]");
    /* Node's code for a leaf whose issuer is not trusted. */
    CHECK_MSG(strstr(line, "autherr=[UNABLE_TO_VERIFY_LEAF_SIGNATURE]") != NULL ||
                  strstr(line, "autherr=[UNABLE_TO_GET_ISSUER_CERT_LOCALLY]") != NULL,
              "unexpected authorization error: %s", line);
    CHECK_CONTAINS(rec_line("cert#1 issuer="), "CN=Other CA");
}

static void no_client_certificate_arrives_unauthorized_when_not_rejecting(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(false), L_TLS_ERROR);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " https://localhost:%u/ 2>&1", cert_of("ca"), h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
    const char *line = rec_line("request#1 ");
    CHECK_CONTAINS(line, "authorized=[0]");
    CHECK_CONTAINS(line, "autherr=[UNABLE_TO_GET_ISSUER_CERT]");
    CHECK_CONTAINS(line, "peer=[-]");
    CHECK_CONTAINS(line, "cert=[no]");
    CHECK_INT(atomic_load(&n_tls_error), 0);
}

static void peer_certificate_accessors_describe_the_client_certificate(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(true), 0);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " --cert %s --key %s https://localhost:%u/ 2>&1",
                          cert_of("ca"), cert_of("client"), key_of("client"), h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
    char want[1024];
    CHECK_CONTAINS(rec_line("cert#1 subject="), "CN=trusted client");
    CHECK_CONTAINS(rec_line("cert#1 subject="), "O=Example Org");
    CHECK_CONTAINS(rec_line("cert#1 issuer="), "CN=Test CA");
    CHECK_STR(rec_line("cert#1 serial="), "cert#1 serial=[1234ABCD]");
    CHECK_STR(rec_line("cert#1 san="), "cert#1 san=[DNS:client.example.test, IP Address:10.0.0.1]");
    char *from = x509_field("client", "-startdate");
    snprintf(want, sizeof want, "cert#1 valid_from=[%s]", from);
    free(from);
    CHECK_STR(rec_line("cert#1 valid_from="), want);
    char *to = x509_field("client", "-enddate");
    snprintf(want, sizeof want, "cert#1 valid_to=[%s]", to);
    free(to);
    CHECK_STR(rec_line("cert#1 valid_to="), want);
    char *fingerprint = x509_field("client", "-fingerprint -sha256");
    snprintf(want, sizeof want, "cert#1 fingerprint256=[%s]", fingerprint);
    free(fingerprint);
    CHECK_STR(rec_line("cert#1 fingerprint256="), want);
    char *pem = slurp(cert_of("client"), NULL);
    CHECK(pem != NULL);
    bool same = strcmp(peer_pem, pem) == 0;
    free(pem);
    CHECK_MSG(same, "the peer certificate's PEM differs from client.pem: %s", peer_pem);
}

static void client_certificate_sessions_resume_with_the_default_session_id_context(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(client_cert_options(true), L_SECURE | L_TLS_ERROR);
    CHECK_SERVER(server);
    const char *session = file("client-cert.session");
    unlink(session);
    char *first = s_client(NULL, h_port, "-tls1_2 -cert %s -key %s -sess_out %s",
                           cert_of("client"), key_of("client"), session);
    char *second = s_client(NULL, h_port, "-tls1_2 -cert %s -key %s -sess_in %s",
                            cert_of("client"), key_of("client"), session);
    nhttps_server_free(server);
    CHECK_CONTAINS(first, "hello");
    CHECK_CONTAINS(second, "hello");
    CHECK_CONTAINS(second, "Reused, TLSv1.2");
    free(first);
    free(second);
    CHECK_INT(atomic_load(&n_tls_error), 0);
    const char *line = rec_line("request#2 ");
    CHECK_CONTAINS(line, "reused=[1]");
    CHECK_CONTAINS(line, "authorized=[1]");
    CHECK_CONTAINS(line, "peer=[trusted client]");
}

/* ---- keys: passphrase and PKCS#12 ----------------------------------------- */

static void encrypted_key_loads_with_the_right_passphrase(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = options_for("encrypted");
    CHECK(options != NULL);
    CHECK_OK(nhttps_server_options_set_passphrase(options, "s3cret"));
    nhttps_server *server = start(options, 0);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " https://localhost:%u/ 2>&1", cert_of("ca"), h_port);
    char *subject = presented(h_port, NULL);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    CHECK_CONTAINS(subject, "CN = encrypted.test");
    free(out);
    free(subject);
}

static void encrypted_key_is_refused_without_or_with_a_wrong_passphrase(void) {
    REQUIRE_PKI();
    nhttps_server_options *options = options_for("encrypted");
    CHECK(options != NULL);
    const nhttps_secure_context *context = NULL;
    nhttps_result none = nhttps_secure_context_new(options, &context);
    nhttps_server_options_set_passphrase(options, "wrong");
    nhttps_result wrong = nhttps_secure_context_new(options, &context);
    nhttps_server_options_set_passphrase(options, "s3cret");
    nhttps_result right = nhttps_secure_context_new(options, &context);
    nhttps_server_options_free(options);
    nhttps_secure_context_free(context);
    CHECK_RC(none, NHTTPS_ERR_PASSPHRASE);
    CHECK_RC(wrong, NHTTPS_ERR_PASSPHRASE);
    CHECK_OK(right);
}

static void traditional_encrypted_pem_key_loads_with_its_passphrase(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    nhttps_server_options *options = nhttps_server_options_new();
    CHECK_OK(nhttps_server_options_set_key_file(options, file("traditional.key")));
    CHECK_OK(nhttps_server_options_set_cert_file(options, cert_of("encrypted")));
    CHECK_OK(nhttps_server_options_set_passphrase(options, "tr4d"));
    nhttps_server *server = start(options, 0);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " https://localhost:%u/ 2>&1", cert_of("ca"), h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
}

static void pkcs12_file_serves_its_certificate_and_chain(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    nhttps_server_options *options = nhttps_server_options_new();
    CHECK_OK(nhttps_server_options_set_pfx_file(options, file("bundle.p12")));
    CHECK_OK(nhttps_server_options_set_passphrase(options, "bundle-pass"));
    nhttps_server *server = start(options, 0);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " https://localhost:%u/ 2>&1", cert_of("ca"), h_port);
    char *chain = h_capture(NULL,
                            "timeout 30 openssl s_client -connect 127.0.0.1:%u -showcerts "
                            "</dev/null 2>/dev/null",
                            (unsigned)h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
    CHECK_CONTAINS(chain, "0 s:CN = bundle.test");
    CHECK_CONTAINS(chain, "1 s:CN = Test CA");
    free(chain);
}

static void pkcs12_in_memory_needs_its_passphrase(void) {
    REQUIRE_PKI();
    size_t len = 0;
    char *der = slurp(file("bundle.p12"), &len);
    CHECK(der != NULL && len > 0);
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_result set = nhttps_server_options_set_pfx(options, (const uint8_t *)der, len);
    free(der); /* copied */
    CHECK_OK(set);
    nhttps_server *server = NULL;
    nhttps_server_options_set_passphrase(options, "wrong");
    nhttps_result wrong = nhttps_server_new(options, &server);
    nhttps_server_options_set_passphrase(options, "bundle-pass");
    const nhttps_secure_context *context = NULL;
    nhttps_result right = nhttps_secure_context_new(options, &context);
    nhttps_server_options_free(options);
    CHECK_RC(wrong, NHTTPS_ERR_PASSPHRASE);
    CHECK_OK(right);
    const char *pem = nhttps_secure_context_certificate_pem(context);
    char *expected = slurp(cert_of("bundle"), NULL);
    bool same = pem != NULL && expected != NULL && strcmp(pem, expected) == 0;
    free(expected);
    nhttps_secure_context_free(context);
    CHECK_MSG(same, "the context's certificate is not bundle.pem");
}

/* ---- versions and ciphers ------------------------------------------------- */

#define LEGACY_CLIENT "-cipher DEFAULT:@SECLEVEL=0"

static void tls_1_1_is_refused_by_default(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE | L_TLS_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *out = s_client(&status, h_port, "-tls1_1 " LEGACY_CLIENT);
    free_after(server, &n_tls_error);
    CHECK_MSG(status != 0 && strstr(out, "hello") == NULL, "TLS 1.1 got through: %.800s", out);
    free(out);
    CHECK_INT(atomic_load(&n_secure), 0);
    CHECK_INT(atomic_load(&n_tls_error), 1);
}

static void tls_1_2_is_accepted_by_default(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE);
    CHECK_SERVER(server);
    int status = 0;
    char *out = s_client(&status, h_port, "-tls1_2");
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "New, TLSv1.2");
    CHECK_CONTAINS(out, "hello");
    free(out);
    CHECK_CONTAINS(rec_line("secure#1 "), "version=[TLSv1.2]");
}

static void min_version_tls_1_1_lets_an_old_client_in(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_min_version(options, "TLSv1.1"));
    CHECK_OK(nhttps_server_options_set_ciphers(options, "DEFAULT:@SECLEVEL=0"));
    nhttps_server *server = start(options, L_SECURE | L_TLS_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *out = s_client(&status, h_port, "-tls1_1 " LEGACY_CLIENT);
    nhttps_server_free(server);
    /* So the refusal by default is the server's, not the client's. */
    bool got_through = strstr(out, "hello") != NULL;
    char head[400];
    snprintf(head, sizeof head, "%s", out);
    free(out);
    CHECK_MSG(got_through, "a TLS 1.1 client was refused with minVersion TLSv1.1: %s", head);
    CHECK_CONTAINS(rec_line("secure#1 "), "version=[TLSv1.1]");
}

static void min_version_tls_1_3_refuses_tls_1_2(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_min_version(options, "TLSv1.3"));
    nhttps_server *server = start(options, L_SECURE | L_TLS_ERROR);
    CHECK_SERVER(server);
    int status12 = 0, status13 = 0;
    char *old = s_client(&status12, h_port, "-tls1_2");
    char *new = s_client(&status13, h_port, "-tls1_3");
    free_after(server, &n_tls_error);
    CHECK_MSG(status12 != 0 && strstr(old, "hello") == NULL, "TLS 1.2 got through: %.600s", old);
    CHECK_CONTAINS(new, "hello");
    free(old);
    free(new);
    CHECK_INT(atomic_load(&n_tls_error), 1);
    CHECK_CONTAINS(rec_line("secure#1 "), "version=[TLSv1.3]");
}

static void max_version_tls_1_2_caps_the_version(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_max_version(options, "TLSv1.2"));
    nhttps_server *server = start(options, L_SECURE);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " https://localhost:%u/ 2>&1", cert_of("ca"), h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
    CHECK_CONTAINS(rec_line("secure#1 "), "version=[TLSv1.2]");
}

static void unknown_version_names_are_invalid_arguments(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_result ssl3 = nhttps_server_options_set_min_version(options, "SSLv3");
    nhttps_result v14 = nhttps_server_options_set_max_version(options, "TLSv1.4");
    nhttps_result tls1 = nhttps_server_options_set_min_version(options, "TLSv1");
    nhttps_server_options_free(options);
    CHECK_RC(ssl3, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(v14, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(tls1);
}

static void a_cbc_sha1_suite_is_refused_by_default_and_allowed_by_ciphers(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *strict = start(server_options(), L_SECURE);
    CHECK_SERVER(strict);
    int status = 0;
    char *refused = s_client(&status, h_port, "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA");
    nhttps_server_free(strict);
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_ciphers(options, "ECDHE-ECDSA-AES128-SHA"));
    nhttps_server *loose = start(options, L_SECURE);
    CHECK_SERVER(loose);
    char *allowed = s_client(NULL, h_port, "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA");
    nhttps_server_free(loose);
    CHECK_MSG(status != 0 && strstr(refused, "hello") == NULL,
              "the default list accepted ECDHE-ECDSA-AES128-SHA: %.600s", refused);
    CHECK_CONTAINS(allowed, "hello");
    free(refused);
    free(allowed);
    CHECK_CONTAINS(rec_line("secure#1 "), "cipher=[ECDHE-ECDSA-AES128-SHA]");
}

static void ciphersuites_choose_the_tls_1_3_suite(void) {
    REQUIRE_TOOL("curl");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_ciphersuites(options, "TLS_CHACHA20_POLY1305_SHA256"));
    nhttps_server *server = start(options, L_SECURE);
    CHECK_SERVER(server);
    char *out = h_capture(NULL, VCURL " https://localhost:%u/ 2>&1", cert_of("ca"), h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
    CHECK_CONTAINS(rec_line("secure#1 "), "cipher=[TLS_CHACHA20_POLY1305_SHA256]");
}

static void ecdh_curve_limits_the_key_exchange_groups(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_ecdh_curve(options, "P-384"));
    nhttps_server *server = start(options, L_SECURE | L_TLS_ERROR);
    CHECK_SERVER(server);
    int status = 0;
    char *p384 = s_client(NULL, h_port, "-tls1_3");
    char *x25519_only = s_client(&status, h_port, "-tls1_3 -groups X25519");
    free_after(server, &n_tls_error);
    CHECK_CONTAINS(p384, "hello");
    CHECK_MSG(strstr(p384, "secp384r1") != NULL || strstr(p384, "P-384") != NULL,
              "the key exchange did not use P-384: %.1500s", p384);
    CHECK_MSG(status != 0 && strstr(x25519_only, "hello") == NULL,
              "a client offering only X25519 got through: %.600s", x25519_only);
    free(p384);
    free(x25519_only);
}

static void honor_cipher_order_picks_the_servers_preference(void) {
    REQUIRE_PKI();
    rec_reset();
    const char *ours = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256";
    const char *theirs = "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384";
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_ciphers(options, ours));
    nhttps_server *clients_order = start(options, 0);
    CHECK_SERVER(clients_order);
    char *by_client = s_client(NULL, h_port, "%s", theirs);
    nhttps_server_free(clients_order);
    options = server_options();
    CHECK_OK(nhttps_server_options_set_ciphers(options, ours));
    CHECK_OK(nhttps_server_options_set_honor_cipher_order(options, true));
    nhttps_server *servers_order = start(options, 0);
    CHECK_SERVER(servers_order);
    char *by_server = s_client(NULL, h_port, "%s", theirs);
    nhttps_server_free(servers_order);
    CHECK_CONTAINS(by_client, "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256");
    CHECK_CONTAINS(by_server, "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384");
    free(by_client);
    free(by_server);
}

static void a_cipher_list_openssl_rejects_fails_server_new(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    CHECK_OK(nhttps_server_options_set_ciphers(options, "NO-SUCH-CIPHER"));
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    nhttps_server_free(server);
    CHECK_RC(rc, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(nhttps_last_error_message(), "NO-SUCH-CIPHER");
}

/* ---- sessions -------------------------------------------------------------- */

/* Two s_client connections with `args`, to `first_port` then to
 * `second_port`, the second offering the session the first saved in the
 * file `session`. Their outputs go to *first and *second. */
static void two_connections(uint16_t first_port, uint16_t second_port, const char *args,
                            const char *session, char **first, char **second) {
    unlink(session);
    *first = s_client(NULL, first_port, "%s -sess_out %s", args, session);
    *second = s_client(NULL, second_port, "%s -sess_in %s", args, session);
}

static void tls_1_2_resumes_by_session_id_without_tickets(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_tickets(options, false));
    nhttps_server *server = start(options, L_SECURE);
    CHECK_SERVER(server);
    char *first, *second;
    two_connections(h_port, h_port, "-tls1_2", file("id.session"), &first, &second);
    nhttps_server_free(server);
    CHECK_CONTAINS(first, "New, TLSv1.2");
    CHECK_MSG(strstr(first, "TLS session ticket:") == NULL, "a ticket was issued: %.2000s", first);
    CHECK_CONTAINS(second, "Reused, TLSv1.2");
    CHECK_CONTAINS(second, "hello");
    free(first);
    free(second);
    CHECK_CONTAINS(rec_line("secure#1 "), "reused=[0]");
    CHECK_CONTAINS(rec_line("secure#2 "), "reused=[1]");
    CHECK_CONTAINS(rec_line("request#2 "), "reused=[1]");
}

static void tls_1_2_resumes_by_ticket(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE);
    CHECK_SERVER(server);
    char *first, *second;
    two_connections(h_port, h_port, "-tls1_2", file("ticket12.session"), &first, &second);
    nhttps_server_free(server);
    CHECK_CONTAINS(first, "New, TLSv1.2");
    CHECK_CONTAINS(first, "TLS session ticket:");
    CHECK_CONTAINS(second, "Reused, TLSv1.2");
    free(first);
    free(second);
    CHECK_CONTAINS(rec_line("secure#1 "), "reused=[0]");
    CHECK_CONTAINS(rec_line("secure#2 "), "reused=[1]");
}

static void tls_1_3_resumes_by_ticket(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE);
    CHECK_SERVER(server);
    char *first, *second;
    two_connections(h_port, h_port, "-tls1_3", file("ticket13.session"), &first, &second);
    nhttps_server_free(server);
    CHECK_CONTAINS(first, "New, TLSv1.3");
    CHECK_CONTAINS(second, "Reused, TLSv1.3");
    CHECK_CONTAINS(second, "hello");
    free(first);
    free(second);
    CHECK_CONTAINS(rec_line("secure#1 "), "reused=[0]");
    CHECK_CONTAINS(rec_line("secure#2 "), "reused=[1]");
    CHECK_CONTAINS(rec_line("request#2 "), "reused=[1]");
}

static void openssl_reconnect_reports_reused(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE);
    CHECK_SERVER(server);
    char *out = h_capture(NULL,
                          "timeout 60 openssl s_client -connect 127.0.0.1:%u -tls1_2 -reconnect "
                          "</dev/null 2>&1",
                          (unsigned)h_port);
    nhttps_server_free(server);
    int reused = count_of(out, "Reused, TLSv1.2");
    CHECK_MSG(reused == 5, "%d of 5 reconnections reused: %.1500s", reused, out);
    free(out);
    CHECK_INT(atomic_load(&n_secure), 6);
    CHECK_CONTAINS(rec_line("secure#6 "), "reused=[1]");
}

static void an_expired_session_is_not_resumed(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_tickets(options, false));
    CHECK_OK(nhttps_server_options_set_session_timeout(options, 1));
    nhttps_server *server = start(options, L_SECURE);
    CHECK_SERVER(server);
    const char *session = file("expiring.session");
    char *first, *fresh;
    two_connections(h_port, h_port, "-tls1_2", session, &first, &fresh);
    h_sleep_ms(2500);
    char *stale = s_client(NULL, h_port, "-tls1_2 -sess_in %s", session);
    nhttps_server_free(server);
    CHECK_CONTAINS(first, "New, TLSv1.2");
    CHECK_CONTAINS(fresh, "Reused, TLSv1.2"); /* so the session file is good */
    CHECK_CONTAINS(stale, "New, TLSv1.2");
    CHECK_CONTAINS(stale, "hello");
    free(first);
    free(fresh);
    free(stale);
    CHECK_CONTAINS(rec_line("secure#3 "), "reused=[0]");
}

static void ticket_keys_round_trip(void) {
    uint8_t keys[NHTTPS_TICKET_KEYS_LEN], other[NHTTPS_TICKET_KEYS_LEN], got[NHTTPS_TICKET_KEYS_LEN];
    for (size_t i = 0; i < sizeof keys; i++) {
        keys[i] = (uint8_t)(i * 7 + 1);
        other[i] = (uint8_t)(255 - i);
    }
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    CHECK_RC(nhttps_server_options_set_ticket_keys(options, keys, 48), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_server_options_set_ticket_keys(options, keys, sizeof keys));
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    CHECK_OK(rc);
    nhttps_result small = nhttps_server_get_ticket_keys(server, got, 48);
    nhttps_result first = nhttps_server_get_ticket_keys(server, got, sizeof got);
    bool first_same = memcmp(got, keys, sizeof keys) == 0;
    nhttps_result short_set = nhttps_server_set_ticket_keys(server, other, 48);
    nhttps_result set = nhttps_server_set_ticket_keys(server, other, sizeof other);
    nhttps_result second = nhttps_server_get_ticket_keys(server, got, sizeof got);
    bool second_same = memcmp(got, other, sizeof other) == 0;
    nhttps_server_free(server);
    CHECK_MSG(small != NHTTPS_OK, "48 bytes of room were enough for the ticket keys");
    CHECK_OK(first);
    CHECK_MSG(first_same, "getTicketKeys does not give the keys set");
    CHECK_RC(short_set, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(set);
    CHECK_OK(second);
    CHECK_MSG(second_same, "getTicketKeys does not give the keys of setTicketKeys");
}

static void random_ticket_keys_differ_between_servers(void) {
    uint8_t a[NHTTPS_TICKET_KEYS_LEN], b[NHTTPS_TICKET_KEYS_LEN];
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *one = NULL, *two = NULL;
    nhttps_result rc1 = nhttps_server_new(options, &one);
    nhttps_result rc2 = nhttps_server_new(options, &two);
    nhttps_server_options_free(options);
    CHECK_OK(rc1);
    CHECK_OK(rc2);
    nhttps_result g1 = nhttps_server_get_ticket_keys(one, a, sizeof a);
    nhttps_result g2 = nhttps_server_get_ticket_keys(two, b, sizeof b);
    nhttps_server_free(one);
    nhttps_server_free(two);
    CHECK_OK(g1);
    CHECK_OK(g2);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

static void servers_sharing_ticket_keys_resume_each_others_sessions(void) {
    REQUIRE_PKI();
    rec_reset();
    uint8_t keys[NHTTPS_TICKET_KEYS_LEN];
    memset(keys, 7, sizeof keys);
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_ticket_keys(options, keys, sizeof keys));
    nhttps_server *a = start(options, 0);
    CHECK_SERVER(a);
    uint16_t a_port = h_port;
    options = server_options();
    CHECK_OK(nhttps_server_options_set_ticket_keys(options, keys, sizeof keys));
    nhttps_server *b = start(options, 0);
    CHECK_SERVER(b);
    uint16_t b_port = h_port;
    nhttps_server *stranger = start(server_options(), 0);
    CHECK_SERVER(stranger);
    uint16_t stranger_port = h_port;
    const char *session = file("shared.session");
    char *first, *on_b;
    two_connections(a_port, b_port, "-tls1_2", session, &first, &on_b);
    char *on_stranger = s_client(NULL, stranger_port, "-tls1_2 -sess_in %s", session);
    nhttps_result set = nhttps_server_set_ticket_keys(stranger, keys, sizeof keys);
    char *after_set = s_client(NULL, stranger_port, "-tls1_2 -sess_in %s", session);
    nhttps_server_free(a);
    nhttps_server_free(b);
    nhttps_server_free(stranger);
    CHECK_CONTAINS(first, "New, TLSv1.2");
    CHECK_CONTAINS(on_b, "Reused, TLSv1.2");
    CHECK_CONTAINS(on_stranger, "New, TLSv1.2");
    CHECK_OK(set);
    CHECK_CONTAINS(after_set, "Reused, TLSv1.2");
    free(first);
    free(on_b);
    free(on_stranger);
    free(after_set);
}

static void tls_1_3_tickets_resume_on_a_server_sharing_the_keys(void) {
    REQUIRE_PKI();
    rec_reset();
    uint8_t keys[NHTTPS_TICKET_KEYS_LEN];
    memset(keys, 0x3c, sizeof keys);
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_ticket_keys(options, keys, sizeof keys));
    nhttps_server *a = start(options, 0);
    CHECK_SERVER(a);
    uint16_t a_port = h_port;
    options = server_options();
    CHECK_OK(nhttps_server_options_set_ticket_keys(options, keys, sizeof keys));
    nhttps_server *b = start(options, L_SECURE);
    CHECK_SERVER(b);
    char *first, *second;
    two_connections(a_port, h_port, "-tls1_3", file("shared13.session"), &first, &second);
    nhttps_server_free(a);
    nhttps_server_free(b);
    CHECK_CONTAINS(first, "New, TLSv1.3");
    CHECK_CONTAINS(second, "Reused, TLSv1.3");
    free(first);
    free(second);
    CHECK_CONTAINS(rec_line("secure#1 "), "reused=[1]");
}

static void rotated_ticket_keys_no_longer_accept_old_tickets(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server *server = start(server_options(), L_SECURE);
    CHECK_SERVER(server);
    const char *session = file("rotated.session");
    char *first, *before;
    two_connections(h_port, h_port, "-tls1_3", session, &first, &before);
    uint8_t fresh[NHTTPS_TICKET_KEYS_LEN];
    memset(fresh, 0xa5, sizeof fresh);
    nhttps_result set = nhttps_server_set_ticket_keys(server, fresh, sizeof fresh);
    char *after = s_client(NULL, h_port, "-tls1_3 -sess_in %s", session);
    nhttps_server_free(server);
    CHECK_OK(set);
    CHECK_CONTAINS(first, "New, TLSv1.3");
    CHECK_CONTAINS(before, "Reused, TLSv1.3"); /* so the ticket is good */
    CHECK_CONTAINS(after, "New, TLSv1.3");
    CHECK_CONTAINS(after, "hello");
    free(first);
    free(before);
    free(after);
    CHECK_CONTAINS(rec_line("secure#3 "), "reused=[0]");
}

static void session_id_context_must_be_1_to_32_bytes(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    uint8_t context[33];
    memset(context, 'x', sizeof context);
    nhttps_result empty = nhttps_server_options_set_session_id_context(options, context, 0);
    nhttps_result long_one = nhttps_server_options_set_session_id_context(options, context, 33);
    nhttps_result ok = nhttps_server_options_set_session_id_context(options, context, 32);
    nhttps_server_options_free(options);
    CHECK_RC(empty, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(long_one, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(ok);
}

/* ---- NPN ------------------------------------------------------------------ */

static void npn_is_advertised_and_reported(void) {
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    const char *protocols[] = {"spdy/1", "http/1.1"};
    nhttps_result rc = nhttps_server_options_set_npn_protocols(options, protocols, 2);
    if (rc == NHTTPS_ERR_UNSUPPORTED) {
        /* The linked OpenSSL has no NPN: the error must say so clearly. */
        CHECK(strlen(nhttps_last_error_message()) > 0);
        nhttps_server_options_free(options);
        return;
    }
    CHECK_OK(rc);
    nhttps_server *server = start(options, L_SECURE);
    CHECK_SERVER(server);
    char *help = h_capture(NULL, "openssl s_client -help 2>&1");
    bool client_has_npn = strstr(help, "-nextprotoneg") != NULL;
    free(help);
    if (!client_has_npn) {
        nhttps_server_free(server);
        return; /* the option was accepted; no local client can check more */
    }
    char *out = s_client(NULL, h_port, "-tls1_2 -nextprotoneg http/1.1");
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "Next protocol: (1) http/1.1");
    CHECK_CONTAINS(out, "hello");
    free(out);
    CHECK_CONTAINS(rec_line("secure#1 "), "npn=[http/1.1]");
    CHECK_CONTAINS(rec_line("request#1 "), "npn=[http/1.1]");
}

/* ---- handshake timeout ------------------------------------------------------ */

static void a_silent_peer_is_dropped_after_the_handshake_timeout(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_PKI();
    rec_reset();
    nhttps_server_options *options = server_options();
    CHECK(options != NULL);
    CHECK_OK(nhttps_server_options_set_handshake_timeout_ms(options, 300));
    CHECK_RC(nhttps_server_options_set_handshake_timeout_ms(options, 0), NHTTPS_ERR_INVALID_ARGUMENT);
    nhttps_server *server = start(options, L_TLS_ERROR);
    CHECK_SERVER(server);
    /* Connects, says nothing, and waits up to 20 s for the server to hang up. */
    int status = 0;
    char *out = h_capture(&status,
                          "python3 -c \"import socket,time; s=socket.create_connection(('127.0.0.1',%u)); "
                          "s.settimeout(20); t=time.time(); d=s.recv(1); "
                          "print('closed' if d==b'' else 'data', 'fast' if time.time()-t<15 else 'slow')\"",
                          h_port);
    free_after(server, &n_tls_error);
    CHECK_CONTAINS(out, "closed fast");
    free(out);
    CHECK_INT(atomic_load(&n_tls_error), 1);
    CHECK_CONTAINS(rec_line("tlsClientError#1 "), "code=[NHTTPS_ERR_TIMEOUT]");
}

/* ---- OCSP stapling ---------------------------------------------------------- */

/* WHO.ocsp.der: a successful OCSP response saying WHO's certificate is
 * good, made by `openssl ocsp` as the test CA's responder from an OpenSSL
 * CA index file (WHO.index) with WHO's one entry. Its path, or NULL with
 * the reason in pki_error. */
static const char *ocsp_for(const char *who) {
    char index[64], response[64];
    snprintf(index, sizeof index, "%s.index", who);
    snprintf(response, sizeof response, "%s.ocsp.der", who);
    if (access(file(response), R_OK) == 0) {
        return file(response);
    }
    int status = 0;
    /* An index line: status, expiry, revocation time, serial, file, subject. */
    char *out = h_capture(&status,
                          "serial=$(openssl x509 -in %s -noout -serial | cut -d= -f2) && "
                          "printf 'V\\t301231235959Z\\t\\t%%s\\tunknown\\t/CN=%s\\n' \"$serial\" > %s && "
                          "openssl ocsp -index %s -rsigner %s -rkey %s -CA %s -issuer %s -cert %s "
                          "-respout %s -ndays 1 -no_nonce 2>&1",
                          cert_of(who), who, file(index), file(index), cert_of("ca"), key_of("ca"),
                          cert_of("ca"), cert_of("ca"), cert_of(who), file(response));
    if (status != 0) {
        snprintf(pki_error, sizeof pki_error, "openssl ocsp for %s failed: %s", who, out);
    }
    free(out);
    return status == 0 ? file(response) : NULL;
}

#define REQUIRE_OCSP(who)                                                   \
    do {                                                                    \
        REQUIRE_PKI();                                                      \
        CHECK_MSG(ocsp_for(who) != NULL, "OCSP response: %s", pki_error); \
    } while (0)

/* What `openssl s_client -status` says of the staple, as one line:
 * "successful good SERIAL", "none" (no response sent) or "not asked". */
static char *staple_seen(uint16_t port, const char *args) {
    char *out = s_client(NULL, port, "%s", args);
    char *line = calloc(1, 256);
    const char *serial = strstr(out, "Serial Number: ");
    if (strstr(out, "OCSP response: no response sent") != NULL) {
        snprintf(line, 256, "none");
    } else if (strstr(out, "OCSP response:") == NULL) {
        snprintf(line, 256, "not asked");
    } else {
        snprintf(line, 256, "%s %s %.*s",
                 strstr(out, "OCSP Response Status: successful") ? "successful" : "unsuccessful",
                 strstr(out, "Cert Status: good") ? "good" : "not-good",
                 serial ? (int)strcspn(serial + 15, "\n") : 1, serial ? serial + 15 : "-");
    }
    if (strstr(out, "hello") == NULL) {
        strncat(line, " (no answer to the request)", 255 - strlen(line));
    }
    free(out);
    return line;
}

/* "successful good SERIAL" for WHO's certificate (malloc'd). */
static char *good_staple_of(const char *who) {
    char *serial = x509_field(who, "-serial");
    char *line = malloc(256);
    snprintf(line, 256, "successful good %s", serial);
    free(serial);
    return line;
}

static void bytes_that_are_not_an_ocsp_response_are_refused(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    const char *garbage = "not an OCSP response";
    nhttps_result rc = nhttps_server_options_set_ocsp_response(options, (const uint8_t *)garbage,
                                                               strlen(garbage));
    char message[1024];
    snprintf(message, sizeof message, "%s", nhttps_last_error_message());
    static const uint8_t try_later[] = {0x30, 0x03, 0x0a, 0x01, 0x03};
    nhttps_result later = nhttps_server_options_set_ocsp_response(options, try_later, sizeof try_later);
    char later_message[1024];
    snprintf(later_message, sizeof later_message, "%s", nhttps_last_error_message());
    const char *pem = "-----BEGIN OCSP RESPONSE-----\nMAMKAQM=\n-----END OCSP RESPONSE-----\n";
    nhttps_result pem_rc = nhttps_server_options_set_ocsp_response(options, (const uint8_t *)pem,
                                                                   strlen(pem));
    char pem_message[1024];
    snprintf(pem_message, sizeof pem_message, "%s", nhttps_last_error_message());
    nhttps_result missing =
        nhttps_server_options_set_ocsp_response_file(options, "/nonexistent/nhttps.ocsp.der");
    nhttps_result cleared = nhttps_server_options_set_ocsp_response(options, NULL, 0);
    nhttps_result no_bytes = nhttps_server_options_set_ocsp_response(options, NULL, 5);
    nhttps_server_options_free(options);
    CHECK_RC(rc, NHTTPS_ERR_CERTIFICATE);
    CHECK_CONTAINS(message, "OCSP response: not a DER-encoded OCSP response");
    CHECK_RC(later, NHTTPS_ERR_CERTIFICATE);
    CHECK_CONTAINS(later_message, "its status is tryLater, not successful");
    CHECK_RC(pem_rc, NHTTPS_ERR_CERTIFICATE);
    CHECK_CONTAINS(pem_message, "give the DER bytes");
    CHECK_RC(missing, NHTTPS_ERR_IO);
    CHECK_OK(cleared);
    CHECK_RC(no_bytes, NHTTPS_ERR_NULL_ARGUMENT);
}

static void the_ocsp_response_is_stapled_only_when_the_client_asks(void) {
    REQUIRE_OCSP("server");
    size_t len = 0;
    char *der = slurp(ocsp_for("server"), &len);
    CHECK(der != NULL && len > 0);
    nhttps_server_options *options = server_options();
    /* A refused response leaves the one set before. */
    nhttps_result set = nhttps_server_options_set_ocsp_response(options, (const uint8_t *)der, len);
    free(der); /* copied */
    nhttps_result refused = nhttps_server_options_set_ocsp_response(options, (const uint8_t *)"x", 1);
    nhttps_server *server = start(options, 0);
    CHECK_SERVER(server);
    char *tls13 = staple_seen(h_port, "-status");
    char *tls12 = staple_seen(h_port, "-status -tls1_2");
    char *not_asked = staple_seen(h_port, "");
    nhttps_server_free(server);
    CHECK_OK(set);
    CHECK_RC(refused, NHTTPS_ERR_CERTIFICATE);
    char *expected = good_staple_of("server");
    CHECK_STR(tls13, expected);
    CHECK_STR(tls12, expected);
    CHECK_STR(not_asked, "not asked");
    free(expected);
    free(tls13);
    free(tls12);
    free(not_asked);
}

static void a_cleared_ocsp_response_is_not_stapled(void) {
    REQUIRE_OCSP("server");
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_ocsp_response_file(options, ocsp_for("server")));
    CHECK_OK(nhttps_server_options_set_ocsp_response(options, (const uint8_t *)"ignored", 0));
    nhttps_server *server = start(options, 0);
    CHECK_SERVER(server);
    char *seen = staple_seen(h_port, "-status");
    nhttps_server_free(server);
    CHECK_STR(seen, "none");
    free(seen);
}

/* A context with WHO's key and certificate and, when `ocsp` is true, WHO's
 * OCSP response (NULL on failure). */
static const nhttps_secure_context *context_with_ocsp(const char *who, bool ocsp) {
    nhttps_server_options *options = options_for(who);
    const nhttps_secure_context *context = NULL;
    if (options != NULL &&
        (!ocsp || nhttps_server_options_set_ocsp_response_file(options, ocsp_for(who)) == NHTTPS_OK) &&
        nhttps_secure_context_new(options, &context) != NHTTPS_OK) {
        context = NULL;
    }
    nhttps_server_options_free(options);
    return context;
}

static void ocsp_responses_follow_their_secure_contexts(void) {
    REQUIRE_OCSP("server");
    REQUIRE_OCSP("a");
    REQUIRE_OCSP("cb");
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_ocsp_response_file(options, ocsp_for("server")));
    nhttps_server *server = start(options, 0);
    CHECK_SERVER(server);
    const nhttps_secure_context *a = context_with_ocsp("a", true);
    const nhttps_secure_context *wild = context_with_ocsp("wild", false);
    nhttps_result add_a = nhttps_server_add_context(server, "a.example.test", a);
    nhttps_result add_wild = nhttps_server_add_context(server, "*.wild.test", wild);
    nhttps_secure_context_free(a);
    nhttps_secure_context_free(wild);
    char *default_before = staple_seen(h_port, "-status -servername localhost");
    char *for_a = staple_seen(h_port, "-status -servername a.example.test");
    char *for_wild = staple_seen(h_port, "-status -servername x.wild.test");
    /* The replacement brings its own response: cb's, then none. */
    const nhttps_secure_context *cb = context_with_ocsp("cb", true);
    nhttps_result swap_cb = nhttps_server_set_secure_context(server, cb);
    nhttps_secure_context_free(cb);
    char *default_cb = staple_seen(h_port, "-status -servername localhost");
    const nhttps_secure_context *after = context_with_ocsp("after", false);
    nhttps_result swap_after = nhttps_server_set_secure_context(server, after);
    nhttps_secure_context_free(after);
    char *default_after = staple_seen(h_port, "-status -servername localhost");
    char *for_a_after = staple_seen(h_port, "-status -servername a.example.test");
    nhttps_server_free(server);
    CHECK_OK(add_a);
    CHECK_OK(add_wild);
    CHECK_OK(swap_cb);
    CHECK_OK(swap_after);
    char *server_staple = good_staple_of("server"), *a_staple = good_staple_of("a");
    char *cb_staple = good_staple_of("cb");
    CHECK_STR(default_before, server_staple);
    CHECK_STR(for_a, a_staple);
    CHECK_STR(for_wild, "none");
    CHECK_STR(default_cb, cb_staple);
    CHECK_STR(default_after, "none");
    CHECK_STR(for_a_after, a_staple);
    free(server_staple);
    free(a_staple);
    free(cb_staple);
    free(default_before);
    free(for_a);
    free(for_wild);
    free(default_cb);
    free(default_after);
    free(for_a_after);
}

static const nhttps_secure_context *choose_stapling_context(void *userdata, const char *servername) {
    return strcmp(servername, "a.example.test") == 0 ? userdata : NULL;
}

static void an_sni_callbacks_context_staples_its_own_ocsp_response(void) {
    REQUIRE_OCSP("a");
    const nhttps_secure_context *a = context_with_ocsp("a", true);
    CHECK(a != NULL);
    nhttps_server_options *options = server_options();
    CHECK_OK(nhttps_server_options_set_sni_callback(options, choose_stapling_context, (void *)a));
    nhttps_server *server = start(options, 0);
    CHECK_SERVER(server);
    char *for_a = staple_seen(h_port, "-status -servername a.example.test");
    char *other = staple_seen(h_port, "-status -servername other.test");
    nhttps_server_free(server);
    nhttps_secure_context_free(a);
    char *a_staple = good_staple_of("a");
    CHECK_STR(for_a, a_staple);
    CHECK_STR(other, "none");
    free(a_staple);
    free(for_a);
    free(other);
}

/* Runs a test; when it fails, shows what the server's callbacks recorded. */
#define RUN_TLS(name)                                                      \
    do {                                                                   \
        RUN(name);                                                         \
        if (h_current_failed) {                                            \
            pthread_mutex_lock(&rec_lock);                                 \
            printf("  recorded by the server's callbacks:\n%.3000s\n", rec); \
            pthread_mutex_unlock(&rec_lock);                               \
        }                                                                  \
    } while (0)

int main(void) {
    RUN_TLS(alpn_http11_is_agreed_with_curl_and_reported_in_the_request);
    RUN_TLS(alpn_without_a_common_protocol_fails_the_handshake);
    RUN_TLS(secure_connection_fires_with_the_tls_version);
    RUN_TLS(keylog_lines_are_nss_lines_that_match_the_clients);
    RUN_TLS(a_keylog_listener_added_while_serving_gets_lines_until_removed);
    RUN_TLS(plain_http_to_the_tls_port_fires_tls_client_error);
    RUN_TLS(plain_http_goes_to_client_error_without_a_tls_client_error_listener);
    RUN_TLS(sni_exact_name_gets_its_context);
    RUN_TLS(sni_wildcard_matches_exactly_one_label);
    RUN_TLS(sni_unknown_name_and_no_name_fall_back_to_the_default);
    RUN_TLS(sni_later_entries_win_and_names_match_in_any_case);
    RUN_TLS(sni_callback_chooses_the_context);
    RUN_TLS(set_secure_context_swaps_the_certificate_for_new_connections_only);
    RUN_TLS(one_context_serves_two_servers_after_the_caller_released_it);
    RUN_TLS(trusted_client_certificate_is_authorized);
    RUN_TLS(trusted_client_certificate_is_authorized_without_rejection_too);
    RUN_TLS(no_client_certificate_fails_the_handshake_and_fires_tls_client_error);
    RUN_TLS(no_client_certificate_goes_to_client_error_without_a_tls_listener);
    RUN_TLS(untrusted_client_certificate_fails_the_handshake_when_rejecting);
    RUN_TLS(self_signed_client_certificate_arrives_unauthorized_when_not_rejecting);
    RUN_TLS(untrusted_client_certificate_arrives_with_its_error_when_not_rejecting);
    RUN_TLS(no_client_certificate_arrives_unauthorized_when_not_rejecting);
    RUN_TLS(peer_certificate_accessors_describe_the_client_certificate);
    RUN_TLS(client_certificate_sessions_resume_with_the_default_session_id_context);
    RUN_TLS(encrypted_key_loads_with_the_right_passphrase);
    RUN_TLS(encrypted_key_is_refused_without_or_with_a_wrong_passphrase);
    RUN_TLS(traditional_encrypted_pem_key_loads_with_its_passphrase);
    RUN_TLS(pkcs12_file_serves_its_certificate_and_chain);
    RUN_TLS(pkcs12_in_memory_needs_its_passphrase);
    RUN_TLS(tls_1_1_is_refused_by_default);
    RUN_TLS(tls_1_2_is_accepted_by_default);
    RUN_TLS(min_version_tls_1_1_lets_an_old_client_in);
    RUN_TLS(min_version_tls_1_3_refuses_tls_1_2);
    RUN_TLS(max_version_tls_1_2_caps_the_version);
    RUN_TLS(unknown_version_names_are_invalid_arguments);
    RUN_TLS(a_cbc_sha1_suite_is_refused_by_default_and_allowed_by_ciphers);
    RUN_TLS(ciphersuites_choose_the_tls_1_3_suite);
    RUN_TLS(ecdh_curve_limits_the_key_exchange_groups);
    RUN_TLS(honor_cipher_order_picks_the_servers_preference);
    RUN_TLS(a_cipher_list_openssl_rejects_fails_server_new);
    RUN_TLS(tls_1_2_resumes_by_session_id_without_tickets);
    RUN_TLS(tls_1_2_resumes_by_ticket);
    RUN_TLS(tls_1_3_resumes_by_ticket);
    RUN_TLS(openssl_reconnect_reports_reused);
    RUN_TLS(an_expired_session_is_not_resumed);
    RUN_TLS(ticket_keys_round_trip);
    RUN_TLS(random_ticket_keys_differ_between_servers);
    RUN_TLS(servers_sharing_ticket_keys_resume_each_others_sessions);
    RUN_TLS(tls_1_3_tickets_resume_on_a_server_sharing_the_keys);
    RUN_TLS(rotated_ticket_keys_no_longer_accept_old_tickets);
    RUN_TLS(session_id_context_must_be_1_to_32_bytes);
    RUN_TLS(npn_is_advertised_and_reported);
    RUN_TLS(a_silent_peer_is_dropped_after_the_handshake_timeout);
    RUN_TLS(bytes_that_are_not_an_ocsp_response_are_refused);
    RUN_TLS(the_ocsp_response_is_stapled_only_when_the_client_asks);
    RUN_TLS(a_cleared_ocsp_response_is_not_stapled);
    RUN_TLS(ocsp_responses_follow_their_secure_contexts);
    RUN_TLS(an_sni_callbacks_context_staples_its_own_ocsp_response);
    int rc = h_finish();
    char command[600];
    snprintf(command, sizeof command, "rm -rf %s", h_dir());
    if (system(command) != 0) {
        fprintf(stderr, "could not remove %s\n", h_dir());
    }
    return rc;
}
