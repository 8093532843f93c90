/* The client — Node's https.request, https.get, https.Agent — through the
 * header, against real servers the tests start: nhttps's own server, Node's
 * https server (c-tests/peers/node_https_server.js), a Python ssl server
 * with canned responses (c-tests/peers/tls_canned_server.py) and nginx.
 * Certificates of a test CA are made with the openssl command line. */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

/* ---- certificates ------------------------------------------------------- */

/* Paths in the scratch directory: a test CA; a server certificate for
 * localhost and 127.0.0.1 signed by it; a client certificate it signed
 * (CN=client); a self-signed client certificate it did not (CN=rogue); and
 * an expired server certificate it signed. */
static char ca_pem[768], server_pem[768], server_key[768], client_pem[768], client_key[768],
    rogue_pem[768], rogue_key[768], expired_pem[768], expired_key[768];
static int certs_state; /* 0: not made yet, 1: made, -1: openssl failed */

static bool make_certs(void) {
    if (certs_state != 0) {
        return certs_state > 0;
    }
    /* Absolute paths: nginx reads them relative to its own prefix otherwise. */
    char cwd[256] = ".", dir[600];
    if (getcwd(cwd, sizeof cwd) == NULL) return false;
    snprintf(dir, sizeof dir, "%s%s%s", h_dir()[0] == '/' ? "" : cwd, h_dir()[0] == '/' ? "" : "/",
             h_dir());
    int status = 0;
    char *out = h_capture(
        &status,
        "cd %s && ( ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
        "openssl req -x509 $ec -days 2 -subj /CN=nhttps-test-ca "
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign "
        " -keyout ca.key -out ca.pem && "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext && "
        "openssl req $ec -subj /CN=localhost -keyout server.key -out server.csr && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        " -extfile server.ext -out server.pem && "
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
        "openssl req $ec -subj /CN=client -keyout client.key -out client.csr && "
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        " -extfile client.ext -out client.pem && "
        "openssl req -x509 $ec -days 2 -subj /CN=rogue -keyout rogue.key -out rogue.pem && "
        "openssl req $ec -subj /CN=localhost "
        " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout expired.key -out expired.csr && "
        "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\nnew_certs_dir=.\\nserial=ca.serial\\n"
        "default_md=sha256\\npolicy=p\\ncopy_extensions=copy\\n[p]\\ncommonName=supplied\\n' > ca.cnf && "
        ": > index.txt && echo 1000 > ca.serial && "
        "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr "
        " -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z -notext "
        ") > openssl.log 2>&1 || { tail -n 5 openssl.log; exit 1; }",
        dir);
    if (status != 0) {
        fprintf(stderr, "openssl failed: %s\n", out);
    }
    free(out);
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
    snprintf(server_pem, sizeof server_pem, "%s/server.pem", dir);
    snprintf(server_key, sizeof server_key, "%s/server.key", dir);
    snprintf(client_pem, sizeof client_pem, "%s/client.pem", dir);
    snprintf(client_key, sizeof client_key, "%s/client.key", dir);
    snprintf(rogue_pem, sizeof rogue_pem, "%s/rogue.pem", dir);
    snprintf(rogue_key, sizeof rogue_key, "%s/rogue.key", dir);
    snprintf(expired_pem, sizeof expired_pem, "%s/expired.pem", dir);
    snprintf(expired_key, sizeof expired_key, "%s/expired.key", dir);
    certs_state = status == 0 ? 1 : -1;
    return certs_state > 0;
}

#define REQUIRE_CERTS()                                                              \
    do {                                                                             \
        REQUIRE_TOOL("openssl");                                                     \
        CHECK_MSG(make_certs(), "openssl could not make the test certificates");     \
    } while (0)

/* ---- peers: programs in the background ---------------------------------- */

struct peer {
    int pid;
    unsigned port;
    char log[1024];
};

/* Every peer still running, stopped at the end whatever happened. */
static int running[64];

static void remember_pid(int pid, bool alive) {
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++) {
        if (alive ? running[i] == 0 : running[i] == pid) {
            running[i] = alive ? pid : 0;
            return;
        }
    }
}

static void stop_every_peer(void) {
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++) {
        if (running[i] > 0) {
            kill(running[i], SIGTERM);
            running[i] = 0;
        }
    }
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return strdup("");
    }
    size_t cap = 4096, len = 0, n;
    char *text = malloc(cap);
    while ((n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            text = realloc(text, cap);
        }
    }
    text[len] = '\0';
    fclose(f);
    return text;
}

/* Starts a shell command in the background, its output going to a log in
 * the scratch directory, and waits (15 s at most) for its first line,
 * `listening PORT`. */
static bool peer_start(struct peer *p, const char *name, const char *fmt, ...) {
    char command[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(command, sizeof command, fmt, ap);
    va_end(ap);
    memset(p, 0, sizeof *p);
    snprintf(p->log, sizeof p->log, "%s", h_path(name));
    char *out = h_capture(NULL, "%s > %s 2>&1 & echo $!", command, p->log);
    p->pid = atoi(out);
    free(out);
    if (p->pid <= 0) {
        return false;
    }
    remember_pid(p->pid, true);
    for (long waited = 0; waited < 15000; waited += 20) {
        char *log = read_file(p->log);
        unsigned port = 0;
        bool ready = sscanf(log, "listening %u", &port) == 1;
        free(log);
        if (ready) {
            p->port = port;
            return true;
        }
        h_sleep_ms(20);
    }
    return false;
}

static void peer_stop(struct peer *p) {
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        remember_pid(p->pid, false);
        p->pid = 0;
    }
}

/* How many lines of the peer's log start with `prefix`. */
static int peer_count(const struct peer *p, const char *prefix) {
    char *log = read_file(p->log);
    int n = 0;
    size_t plen = strlen(prefix);
    for (char *line = log; line != NULL && *line != '\0';) {
        if (strncmp(line, prefix, plen) == 0) {
            n++;
        }
        char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    free(log);
    return n;
}

/* Waits (at most `ms`) until `n` lines of the log start with `prefix`;
 * returns how many do. */
static int peer_wait_count(const struct peer *p, const char *prefix, int n, long ms) {
    int now = peer_count(p, prefix);
    for (long waited = 0; now < n && waited < ms; waited += 20) {
        h_sleep_ms(20);
        now = peer_count(p, prefix);
    }
    return now;
}

/* The largest N of `KEY=N` in the peer's log. */
static int peer_max(const struct peer *p, const char *key) {
    char *log = read_file(p->log);
    int max = 0;
    size_t klen = strlen(key);
    for (const char *at = strstr(log, key); at != NULL; at = strstr(at + klen, key)) {
        if (at[klen] == '=') {
            int v = atoi(at + klen + 1);
            if (v > max) max = v;
        }
    }
    free(log);
    return max;
}

/* Node's https server with the test CA's server certificate; `mtls`: it
 * asks for client certificates and refuses those the test CA did not sign. */
static bool node_start(struct peer *p, const char *name, bool mtls) {
    char extra[1024] = "";
    if (mtls) {
        snprintf(extra, sizeof extra, "--ca %s --request-cert", ca_pem);
    }
    return peer_start(p, name, "node c-tests/peers/node_https_server.js --cert %s --key %s %s",
                      server_pem, server_key, extra);
}

#define START_NODE(peer, name, mtls)                                                      \
    do {                                                                                  \
        REQUIRE_TOOL("node");                                                             \
        REQUIRE_CERTS();                                                                  \
        CHECK_MSG(node_start((peer), name, mtls), "the node server did not start: see %s", \
                  (peer)->log);                                                           \
    } while (0)

/* The canned-response Python server, answering with `response`; `flag`
 * is one of its options ("--keep-open", "--stall") or "". */
static bool start_canned_with(struct peer *p, const char *name, const char *response,
                              const char *flag) {
    const char *file = h_path("canned.http");
    char path[512];
    snprintf(path, sizeof path, "%s-%s", file, name);
    h_write_file(path, response, strlen(response));
    return peer_start(p, name,
                      "python3 c-tests/peers/tls_canned_server.py --cert %s --key %s "
                      "--response %s %s",
                      server_pem, server_key, path, flag);
}

static bool start_canned(struct peer *p, const char *name, const char *response, bool keep_open) {
    return start_canned_with(p, name, response, keep_open ? "--keep-open" : "");
}

/* A TCP port nothing listens on (bound, then closed). */
static unsigned free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

/* Waits until something accepts TCP connections on 127.0.0.1:port. */
static bool wait_port(unsigned port, long ms) {
    for (long waited = 0; waited < ms; waited += 20) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
        close(fd);
        if (ok) {
            return true;
        }
        h_sleep_ms(20);
    }
    return false;
}

/* ---- nhttps's own server ------------------------------------------------ */

/* A server that counts connections and answers every request with
 * `METHOD URL ` and the request body, plus headers telling what it saw. */
struct own {
    nhttps_server *server;
    uint16_t port;
    atomic_int connections, open, max_open, requests, continues;
    pthread_mutex_t lock;
    char urls[4096]; /* every URL seen, in order, each followed by a space */
};

static const char *or_dash(const char *s) { return (s != NULL && *s != '\0') ? s : "-"; }

static void own_echo(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    struct own *o = userdata;
    int now = atomic_fetch_add(&o->open, 1) + 1;
    int max = atomic_load(&o->max_open);
    while (now > max && !atomic_compare_exchange_weak(&o->max_open, &max, now)) {
    }
    atomic_fetch_add(&o->requests, 1);
    const char *url = nhttps_incoming_message_url(req);
    const char *method = nhttps_incoming_message_method(req);
    pthread_mutex_lock(&o->lock);
    size_t used = strlen(o->urls);
    snprintf(o->urls + used, sizeof o->urls - used, "%s ", url);
    pthread_mutex_unlock(&o->lock);

    if (strcmp(url, "/refuse") == 0) { /* checkContinue said no: the body is not read */
        atomic_fetch_sub(&o->open, 1);
        nhttps_server_response_set_status(res, 417);
        nhttps_server_response_end(res, NULL, 0);
        return;
    }
    if (atomic_load(&o->continues) > 0 && nhttps_incoming_message_header(req, "expect") != NULL) {
        nhttps_server_response_write_continue(res);
    }
    size_t len = 0;
    char *body = h_read_body(req, &len);
    if (strncmp(url, "/slow", 5) == 0) {
        h_sleep_ms(20);
    }
    const nhttps_socket_info *info = nhttps_incoming_message_socket(req);
    const char *framing = nhttps_incoming_message_header(req, "transfer-encoding") ? "chunked"
                          : nhttps_incoming_message_header(req, "content-length") ? "length"
                                                                                   : "none";
    nhttps_server_response_set_header(res, "X-Framing", framing);
    nhttps_server_response_set_header(res, "X-Servername",
                                      or_dash(nhttps_socket_info_servername(info)));
    nhttps_server_response_set_header(res, "X-Session-Reused",
                                      nhttps_socket_info_session_reused(info) ? "yes" : "no");
    nhttps_server_response_set_header(res, "X-TLS", or_dash(nhttps_socket_info_tls_version(info)));
    nhttps_server_response_set_header(res, "X-Peer-CN",
                                      or_dash(nhttps_socket_info_peer_common_name(info)));
    nhttps_server_response_set_header(
        res, "X-Authorization", or_dash(nhttps_incoming_message_header(req, "authorization")));
    nhttps_server_response_set_header(res, "X-Host",
                                      or_dash(nhttps_incoming_message_header(req, "host")));
    nhttps_server_response_set_header(res, "X-Connection",
                                      or_dash(nhttps_incoming_message_header(req, "connection")));
    size_t head = strlen(method) + strlen(url) + 2;
    char *answer = malloc(head + len + 1);
    snprintf(answer, head + 1, "%s %s ", method, url);
    memcpy(answer + head, body, len);
    free(body);
    atomic_fetch_sub(&o->open, 1);
    nhttps_server_response_end(res, (const uint8_t *)answer, head + len);
    free(answer);
}

static void own_check_continue(void *userdata, nhttps_incoming_message *req,
                               nhttps_server_response *res) {
    struct own *o = userdata;
    atomic_fetch_add(&o->continues, 1);
    own_echo(userdata, req, res);
}

static bool own_connected(void *userdata, const nhttps_socket_info *info) {
    (void)info;
    struct own *o = userdata;
    atomic_fetch_add(&o->connections, 1);
    return true;
}

/* Starts `o` with `options` (freed here; NULL: the development
 * certificate), on 127.0.0.1 or on the unix socket `unix_path`. */
static bool own_start(struct own *o, nhttps_server_options *options, const char *unix_path) {
    o->server = NULL;
    o->port = 0;
    atomic_store(&o->connections, 0);
    atomic_store(&o->open, 0);
    atomic_store(&o->max_open, 0);
    atomic_store(&o->requests, 0);
    atomic_store(&o->continues, 0);
    o->urls[0] = '\0';
    pthread_mutex_init(&o->lock, NULL);
    if (options == NULL) {
        options = nhttps_server_options_new();
        nhttps_server_options_use_dev_certificate(options);
    }
    nhttps_result rc = nhttps_server_new(options, &o->server);
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) {
        fprintf(stderr, "server: %s\n", nhttps_last_error_message());
        return false;
    }
    nhttps_server_on_request(o->server, own_echo, o);
    nhttps_server_on_connection(o->server, own_connected, o);
    rc = unix_path ? nhttps_server_listen_unix(o->server, unix_path)
                   : nhttps_server_listen(o->server, "127.0.0.1", 0);
    if (rc != NHTTPS_OK) {
        fprintf(stderr, "listen: %s\n", nhttps_last_error_message());
        nhttps_server_free(o->server);
        o->server = NULL;
        return false;
    }
    o->port = nhttps_server_port(o->server);
    return true;
}

static void own_stop(struct own *o) {
    nhttps_server_free(o->server);
    o->server = NULL;
    pthread_mutex_destroy(&o->lock);
}

/* Server options with the test CA's server certificate. */
static nhttps_server_options *ca_server_options(const char *cert, const char *key) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_set_cert_file(options, cert);
    nhttps_server_options_set_key_file(options, key);
    return options;
}

/* ---- requests ----------------------------------------------------------- */

/* Options from a printf-style URL (NULL if it does not parse). */
static nhttps_request_options *opts_url(const char *fmt, ...) {
    char url[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(url, sizeof url, fmt, ap);
    va_end(ap);
    nhttps_request_options *o = NULL;
    if (nhttps_request_options_from_url(url, &o) != NHTTPS_OK) {
        fprintf(stderr, "from_url(%s): %s\n", url, nhttps_last_error_message());
        return NULL;
    }
    return o;
}

/* Trusts the own server's development certificate. */
static void trust_own(nhttps_request_options *o, const struct own *s) {
    const char *pem = nhttps_server_certificate_pem(s->server);
    nhttps_request_options_add_ca_pem(o, (const uint8_t *)pem, strlen(pem));
}

/* What a request came to. */
struct reply {
    nhttps_result rc;
    char message[1024];
    unsigned status;
    bool reused, session_reused;
    char *body;
    size_t len;
    char *headers; /* "name: value\n" each, names in lower case */
};

static void reply_free(struct reply *r) {
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

static void reply_fail(struct reply *r, nhttps_result rc) {
    r->rc = rc;
    snprintf(r->message, sizeof r->message, "%s", nhttps_last_error_message());
}

/* Reads the response's facts, headers and whole body into `r`, and frees it. */
static void take_response(nhttps_incoming_message *response, struct reply *r) {
    r->status = nhttps_incoming_message_status_code(response);
    const nhttps_socket_info *info = nhttps_incoming_message_socket(response);
    r->reused = nhttps_socket_info_reused_connection(info);
    r->session_reused = nhttps_socket_info_session_reused(info);
    size_t cap = 256, used = 0;
    r->headers = malloc(cap);
    r->headers[0] = '\0';
    size_t count = nhttps_incoming_message_header_count(response);
    for (size_t i = 0; i < count; i++) {
        const char *name = NULL, *value = NULL;
        if (nhttps_incoming_message_header_at(response, i, &name, &value) != NHTTPS_OK) {
            continue;
        }
        size_t need = strlen(name) + strlen(value) + 4;
        if (used + need >= cap) {
            cap = (used + need) * 2;
            r->headers = realloc(r->headers, cap);
        }
        for (const char *c = name; *c; c++) {
            r->headers[used++] = (char)tolower((unsigned char)*c);
        }
        used += (size_t)sprintf(r->headers + used, ": %s\n", value);
    }
    size_t bcap = 4096;
    r->body = malloc(bcap + 1);
    r->len = 0;
    for (;;) {
        size_t n = 0;
        nhttps_result rc =
            nhttps_incoming_message_read(response, (uint8_t *)r->body + r->len, bcap - r->len, &n);
        if (rc != NHTTPS_OK) {
            reply_fail(r, rc);
            break;
        }
        if (n == 0) {
            break;
        }
        r->len += n;
        if (r->len == bcap) {
            bcap *= 2;
            r->body = realloc(r->body, bcap + 1);
        }
    }
    r->body[r->len] = '\0';
    nhttps_incoming_message_free(response);
}

/* Sends a request with `len` bytes of body (written `piece` bytes at a
 * time; 0: at once) and reads the whole response into `r`. `options` is
 * freed. Returns r->rc. */
static nhttps_result exchange(nhttps_request_options *options, const void *body, size_t len,
                              size_t piece, struct reply *r) {
    memset(r, 0, sizeof *r);
    nhttps_client_request *request = NULL;
    nhttps_result rc = nhttps_client_request_new(options, &request);
    nhttps_request_options_free(options);
    if (rc != NHTTPS_OK) {
        reply_fail(r, rc);
        return rc;
    }
    const uint8_t *bytes = body;
    for (size_t at = 0; at < len;) {
        size_t n = piece == 0 || len - at < piece ? len - at : piece;
        rc = nhttps_client_request_write(request, bytes + at, n);
        if (rc != NHTTPS_OK) {
            reply_fail(r, rc);
            nhttps_client_request_free(request);
            return rc;
        }
        at += n;
    }
    nhttps_incoming_message *response = NULL;
    rc = nhttps_client_request_end(request, &response);
    if (rc != NHTTPS_OK) {
        reply_fail(r, rc);
        return rc;
    }
    take_response(response, r);
    return r->rc;
}

static nhttps_result get(nhttps_request_options *options, struct reply *r) {
    return exchange(options, NULL, 0, 0, r);
}

static const nhttps_agent *new_agent(uint32_t max_sockets, bool keep_alive) {
    nhttps_agent_options *options = nhttps_agent_options_new();
    nhttps_agent_options_set_max_sockets(options, max_sockets);
    nhttps_agent_options_set_keep_alive(options, keep_alive);
    const nhttps_agent *agent = NULL;
    nhttps_agent_new(options, &agent);
    nhttps_agent_options_free(options);
    return agent;
}

#define CHECK_REPLY_OK(r)                                                                \
    CHECK_MSG((r).rc == NHTTPS_OK, "%s: %s: %s", #r, nhttps_result_name((int)(r).rc),    \
              (r).message)

/* ---- keep-alive, no agent, maxSockets ---------------------------------- */

static struct own srv; /* the own server of the test running */

static void keep_alive_reuses_one_connection_for_three_requests(void) {
    CHECK(own_start(&srv, NULL, NULL));
    const nhttps_agent *agent = new_agent(5, true);
    struct reply r[3];
    for (int i = 0; i < 3; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/%d", srv.port, i);
        trust_own(o, &srv);
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
    }
    nhttps_agent_free(agent);
    int connections = atomic_load(&srv.connections);
    own_stop(&srv);
    for (int i = 0; i < 3; i++) {
        char expected[32];
        snprintf(expected, sizeof expected, "GET /%d ", i);
        CHECK_REPLY_OK(r[i]);
        CHECK_INT(r[i].status, 200);
        CHECK_STR(r[i].body, expected);
        CHECK_INT(r[i].reused, i > 0);
        CHECK_CONTAINS(r[i].headers, "x-connection: keep-alive\n");
    }
    CHECK_INT(connections, 1);
    for (int i = 0; i < 3; i++) reply_free(&r[i]);
}

static void keep_alive_to_node_is_one_connection_for_three_requests(void) {
    static struct peer node;
    START_NODE(&node, "node-keepalive.log", false);
    const nhttps_agent *agent = new_agent(5, true);
    struct reply r[3];
    for (int i = 0; i < 3; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/n%d", node.port, i);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
    }
    nhttps_agent_free(agent);
    int connections = peer_count(&node, "connection ");
    peer_stop(&node);
    for (int i = 0; i < 3; i++) {
        char expected[32];
        snprintf(expected, sizeof expected, "GET /n%d ", i);
        CHECK_REPLY_OK(r[i]);
        CHECK_STR(r[i].body, expected);
        CHECK_INT(r[i].reused, i > 0);
        CHECK_CONTAINS(r[i].headers, "x-connection-id: 1\n");
    }
    CHECK_INT(connections, 1);
    for (int i = 0; i < 3; i++) reply_free(&r[i]);
}

static void no_agent_opens_a_connection_per_request(void) {
    CHECK(own_start(&srv, NULL, NULL));
    struct reply r[3];
    for (int i = 0; i < 3; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/", srv.port);
        trust_own(o, &srv);
        nhttps_request_options_set_no_agent(o);
        get(o, &r[i]);
    }
    int connections = atomic_load(&srv.connections);
    own_stop(&srv);
    for (int i = 0; i < 3; i++) {
        CHECK_REPLY_OK(r[i]);
        CHECK_STR(r[i].body, "GET / ");
        CHECK_INT(r[i].reused, 0);
        CHECK_CONTAINS(r[i].headers, "x-connection: close\n");
    }
    CHECK_INT(connections, 3);
    for (int i = 0; i < 3; i++) reply_free(&r[i]);
}

/* 50 requests ended with end_async through an agent of maxSockets 3. */
#define ASYNC_COUNT 50
struct async_state {
    atomic_int done, errors, wrong;
    char first_error[256];
    pthread_mutex_t lock;
};
struct async_call {
    struct async_state *state;
    char expected[64];
};

static void on_async_response(void *userdata, nhttps_incoming_message *response,
                              const nhttps_error *error) {
    struct async_call *call = userdata;
    struct async_state *st = call->state;
    if (response == NULL) {
        pthread_mutex_lock(&st->lock);
        if (atomic_fetch_add(&st->errors, 1) == 0) {
            snprintf(st->first_error, sizeof st->first_error, "%s: %s",
                     nhttps_result_name((int)nhttps_error_code(error)),
                     nhttps_error_message(error));
        }
        pthread_mutex_unlock(&st->lock);
    } else {
        struct reply r;
        memset(&r, 0, sizeof r);
        take_response(response, &r); /* frees the response: the connection goes back */
        if (r.rc != NHTTPS_OK || r.status != 200 || strcmp(r.body, call->expected) != 0) {
            atomic_fetch_add(&st->wrong, 1);
        }
        reply_free(&r);
    }
    atomic_fetch_add(&st->done, 1);
}

static void async_state_init(struct async_state *st) {
    atomic_store(&st->done, 0);
    atomic_store(&st->errors, 0);
    atomic_store(&st->wrong, 0);
    st->first_error[0] = '\0';
    pthread_mutex_init(&st->lock, NULL);
}

static void max_sockets_3_bounds_50_concurrent_async_requests(void) {
    CHECK(own_start(&srv, NULL, NULL));
    const nhttps_agent *agent = new_agent(3, true);
    static struct async_state st;
    static struct async_call calls[ASYNC_COUNT];
    async_state_init(&st);
    int refused = 0;
    for (int i = 0; i < ASYNC_COUNT; i++) {
        calls[i].state = &st;
        snprintf(calls[i].expected, sizeof calls[i].expected, "GET /slow/%d ", i);
        nhttps_request_options *o = opts_url("https://localhost:%u/slow/%d", srv.port, i);
        trust_own(o, &srv);
        nhttps_request_options_set_agent(o, agent);
        nhttps_client_request *request = NULL;
        nhttps_client_request_new(o, &request);
        nhttps_request_options_free(o);
        if (nhttps_client_request_end_async(request, on_async_response, &calls[i]) != NHTTPS_OK) {
            refused++;
            atomic_fetch_add(&st.done, 1);
        }
    }
    /* Meanwhile, the agent never has more than 3 connections in use. */
    size_t most_in_use = 0, most_queued = 0;
    for (long long start = h_now_ms(); atomic_load(&st.done) < ASYNC_COUNT && h_now_ms() - start < 90000;) {
        size_t in_use = 0, queued = 0;
        nhttps_agent_stats(agent, NULL, &in_use, NULL, &queued);
        if (in_use > most_in_use) most_in_use = in_use;
        if (queued > most_queued) most_queued = queued;
        h_sleep_ms(5);
    }
    int done = atomic_load(&st.done);
    size_t free_after = 0;
    nhttps_agent_stats(agent, NULL, NULL, &free_after, NULL);
    nhttps_agent_free(agent);
    int connections = atomic_load(&srv.connections), max_open = atomic_load(&srv.max_open);
    own_stop(&srv);
    pthread_mutex_destroy(&st.lock);
    CHECK_INT(refused, 0);
    CHECK_INT(done, ASYNC_COUNT);
    CHECK_MSG(atomic_load(&st.errors) == 0, "%d errors, the first: %s", atomic_load(&st.errors),
              st.first_error);
    CHECK_INT(atomic_load(&st.wrong), 0);
    CHECK_MSG(connections <= 3, "the server saw %d connections", connections);
    CHECK_MSG(max_open <= 3, "%d requests at once on the server", max_open);
    CHECK_MSG(most_in_use <= 3, "the agent had %zu connections in use", most_in_use);
    CHECK_MSG(most_queued > 0, "no request ever queued");
    CHECK_MSG(free_after >= 1 && free_after <= 3, "%zu free connections after", free_after);
}

/* Threads that each end 5 requests asynchronously through one agent. */
struct thread_job {
    const nhttps_agent *agent;
    unsigned port;
    int first;
    struct async_call *calls;
};

static void *issue_five(void *arg) {
    struct thread_job *job = arg;
    for (int i = 0; i < 5; i++) {
        int n = job->first + i;
        nhttps_request_options *o = opts_url("https://localhost:%u/slow?ms=10&n=%d", job->port, n);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_agent(o, job->agent);
        nhttps_client_request *request = NULL;
        nhttps_client_request_new(o, &request);
        nhttps_request_options_free(o);
        if (nhttps_client_request_end_async(request, on_async_response, &job->calls[n]) !=
            NHTTPS_OK) {
            atomic_fetch_add(&job->calls[n].state->errors, 1);
            atomic_fetch_add(&job->calls[n].state->done, 1);
        }
    }
    return NULL;
}

static void async_ends_from_many_threads_share_max_sockets_on_node(void) {
    static struct peer node;
    START_NODE(&node, "node-threads.log", false);
    const nhttps_agent *agent = new_agent(3, true);
    static struct async_state st;
    static struct async_call calls[40];
    static struct thread_job jobs[8];
    async_state_init(&st);
    for (int i = 0; i < 40; i++) {
        calls[i].state = &st;
        snprintf(calls[i].expected, sizeof calls[i].expected, "GET /slow?ms=10&n=%d ", i);
    }
    pthread_t threads[8];
    for (int t = 0; t < 8; t++) {
        jobs[t] = (struct thread_job){agent, node.port, t * 5, calls};
        pthread_create(&threads[t], NULL, issue_five, &jobs[t]);
    }
    for (int t = 0; t < 8; t++) pthread_join(threads[t], NULL);
    for (long long start = h_now_ms(); atomic_load(&st.done) < 40 && h_now_ms() - start < 90000;) {
        h_sleep_ms(10);
    }
    int done = atomic_load(&st.done);
    nhttps_agent_free(agent);
    int connections = peer_count(&node, "connection "), max_open = peer_max(&node, "open");
    int requests = peer_count(&node, "request ");
    peer_stop(&node);
    pthread_mutex_destroy(&st.lock);
    CHECK_INT(done, 40);
    CHECK_MSG(atomic_load(&st.errors) == 0, "%d errors, the first: %s", atomic_load(&st.errors),
              st.first_error);
    CHECK_INT(atomic_load(&st.wrong), 0);
    CHECK_INT(requests, 40);
    CHECK_MSG(connections <= 3, "node saw %d connections", connections);
    CHECK_MSG(max_open <= 3, "node saw %d connections open at once", max_open);
}

/* Waits until the agent has `queued` requests waiting for `name`. */
static bool wait_queued(const nhttps_agent *agent, const char *name, size_t queued) {
    for (int i = 0; i < 1000; i++) {
        size_t now = 0;
        nhttps_agent_stats(agent, name, NULL, NULL, &now);
        if (now == queued) return true;
        h_sleep_ms(10);
    }
    return false;
}

/* Ends a GET of `path` on the own server through `agent` and returns its
 * response unread: it holds its connection until read (rc in `*rc`). */
static nhttps_incoming_message *held_response(const nhttps_agent *agent, const char *path,
                                             nhttps_result *rc) {
    nhttps_request_options *o = opts_url("https://localhost:%u%s", srv.port, path);
    trust_own(o, &srv);
    nhttps_request_options_set_agent(o, agent);
    nhttps_client_request *request = NULL;
    nhttps_client_request_new(o, &request);
    nhttps_request_options_free(o);
    nhttps_incoming_message *held = NULL;
    *rc = nhttps_client_request_end(request, &held);
    return held;
}

static void queued_requests_are_served_in_arrival_order(void) {
    CHECK(own_start(&srv, NULL, NULL));
    const nhttps_agent *agent = new_agent(1, true);
    char name[64];
    snprintf(name, sizeof name, "localhost:%u", srv.port);
    /* The first response holds the only connection until its body is read. */
    nhttps_result rc;
    nhttps_incoming_message *held = held_response(agent, "/first", &rc);
    nhttps_request_options *o = NULL;
    nhttps_client_request *request = NULL;
    static struct async_state st;
    static struct async_call calls[5];
    async_state_init(&st);
    bool queued_in_turn = rc == NHTTPS_OK;
    for (int i = 0; i < 5 && queued_in_turn; i++) {
        calls[i].state = &st;
        snprintf(calls[i].expected, sizeof calls[i].expected, "GET /q%d ", i + 1);
        o = opts_url("https://localhost:%u/q%d", srv.port, i + 1);
        trust_own(o, &srv);
        nhttps_request_options_set_agent(o, agent);
        nhttps_client_request_new(o, &request);
        nhttps_request_options_free(o);
        nhttps_client_request_end_async(request, on_async_response, &calls[i]);
        queued_in_turn = wait_queued(agent, name, (size_t)i + 1);
    }
    struct reply first;
    memset(&first, 0, sizeof first);
    if (held != NULL) take_response(held, &first); /* reads the body: the queue moves */
    for (long long start = h_now_ms(); queued_in_turn && atomic_load(&st.done) < 5 && h_now_ms() - start < 30000;) {
        h_sleep_ms(10);
    }
    int done = atomic_load(&st.done);
    nhttps_agent_free(agent);
    char urls[4096];
    snprintf(urls, sizeof urls, "%s", srv.urls);
    int connections = atomic_load(&srv.connections);
    own_stop(&srv);
    pthread_mutex_destroy(&st.lock);
    CHECK_RC(rc, NHTTPS_OK);
    CHECK_MSG(queued_in_turn, "the requests did not queue one by one");
    CHECK_STR(first.body, "GET /first ");
    CHECK_INT(done, 5);
    CHECK_INT(atomic_load(&st.errors) + atomic_load(&st.wrong), 0);
    CHECK_STR(urls, "/first /q1 /q2 /q3 /q4 /q5 ");
    CHECK_INT(connections, 1);
    reply_free(&first);
}

/* ---- end_async: queued on its agent when it is called ------------------ */

/* What one end_async callback saw. */
struct ordered_call {
    atomic_int calls;    /* how many times the callback ran */
    atomic_int status;   /* the response's status, or 0 */
    atomic_int error;    /* the error's code, or 0 */
    atomic_int on_caller; /* it ran on the thread that called end_async */
};
static pthread_t caller_thread;
static atomic_int ordered_done;

static void on_ordered(void *userdata, nhttps_incoming_message *response,
                       const nhttps_error *error) {
    struct ordered_call *call = userdata;
    if (pthread_equal(pthread_self(), caller_thread)) atomic_store(&call->on_caller, 1);
    if (response != NULL) {
        struct reply r;
        memset(&r, 0, sizeof r);
        take_response(response, &r); /* reads the body, frees the response */
        atomic_store(&call->status, r.status);
        reply_free(&r);
    } else {
        atomic_store(&call->error, (int)nhttps_error_code(error));
    }
    atomic_fetch_add(&call->calls, 1);
    atomic_fetch_add(&ordered_done, 1);
}

/* Ends `count` GETs of https://localhost:PORT/o<i> with end_async, back to
 * back from this thread, through `agent`; trusts `own`'s certificate, or
 * the test CA's when `own` is NULL. */
static void end_async_in_a_row(const nhttps_agent *agent, unsigned port, const struct own *own,
                               struct ordered_call *calls, int count) {
    caller_thread = pthread_self();
    atomic_store(&ordered_done, 0);
    for (int i = 0; i < count; i++) {
        memset(&calls[i], 0, sizeof calls[i]);
        nhttps_request_options *o = opts_url("https://localhost:%u/o%d", port, i);
        if (own) {
            trust_own(o, own);
        } else {
            nhttps_request_options_add_ca_file(o, ca_pem);
        }
        nhttps_request_options_set_agent(o, agent);
        nhttps_client_request *request = NULL;
        nhttps_client_request_new(o, &request);
        nhttps_request_options_free(o);
        if (nhttps_client_request_end_async(request, on_ordered, &calls[i]) != NHTTPS_OK) {
            atomic_store(&calls[i].error, -1);
            atomic_fetch_add(&ordered_done, 1);
        }
    }
}

static bool wait_ordered(int count, long ms) {
    for (long waited = 0; atomic_load(&ordered_done) < count && waited < ms; waited += 5) {
        h_sleep_ms(5);
    }
    return atomic_load(&ordered_done) == count;
}

/* "/o0 /o1 ... " for `count` requests. */
static void expected_order(char *out, size_t size, int count) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < count && used < size; i++) {
        used += (size_t)snprintf(out + used, size - used, "/o%d ", i);
    }
}

/* Each callback ran once, off the caller's thread, with a 200. */
#define CHECK_EACH_CALLED_ONCE_WITH_200(calls, count)                                  \
    for (int i = 0; i < (count); i++) {                                                \
        CHECK_MSG(atomic_load(&(calls)[i].calls) == 1, "request %d: %d callbacks", i,  \
                  atomic_load(&(calls)[i].calls));                                     \
        CHECK_MSG(atomic_load(&(calls)[i].status) == 200, "request %d: status %d, error %s", i, \
                  atomic_load(&(calls)[i].status),                                     \
                  nhttps_result_name(atomic_load(&(calls)[i].error)));                 \
        CHECK_MSG(!atomic_load(&(calls)[i].on_caller), "request %d: callback on the caller's thread", i); \
    }

static void end_async_requests_of_one_thread_go_out_in_call_order(void) {
    CHECK(own_start(&srv, NULL, NULL));
    const nhttps_agent *agent = new_agent(1, true);
    static struct ordered_call calls[20];
    end_async_in_a_row(agent, srv.port, &srv, calls, 20);
    bool all = wait_ordered(20, 60000);
    nhttps_agent_free(agent);
    char urls[4096], expected[4096];
    snprintf(urls, sizeof urls, "%s", srv.urls);
    own_stop(&srv);
    expected_order(expected, sizeof expected, 20);
    CHECK(all);
    CHECK_STR(urls, expected);
    CHECK_EACH_CALLED_ONCE_WITH_200(calls, 20);
}

/* The URLs of the requests Node's server logged, in order, each followed by a space. */
static void peer_urls(const struct peer *p, char *out, size_t size) {
    char *log = read_file(p->log);
    size_t used = 0;
    out[0] = '\0';
    for (const char *at = strstr(log, " url="); at != NULL && used < size; at = strstr(at + 5, " url=")) {
        size_t len = strcspn(at + 5, " \n");
        used += (size_t)snprintf(out + used, size - used, "%.*s ", (int)len, at + 5);
    }
    free(log);
}

static void end_async_requests_of_one_thread_reach_node_in_call_order(void) {
    static struct peer node;
    START_NODE(&node, "node-order.log", false);
    const nhttps_agent *agent = new_agent(1, true);
    static struct ordered_call calls[20];
    end_async_in_a_row(agent, node.port, NULL, calls, 20);
    bool all = wait_ordered(20, 60000);
    nhttps_agent_free(agent);
    peer_wait_count(&node, "request ", 20, 5000);
    char urls[4096], expected[4096];
    peer_urls(&node, urls, sizeof urls);
    int connections = peer_count(&node, "connection ");
    peer_stop(&node);
    expected_order(expected, sizeof expected, 20);
    CHECK(all);
    CHECK_STR(urls, expected);
    CHECK_INT(connections, 1);
    CHECK_EACH_CALLED_ONCE_WITH_200(calls, 20);
}

/* 1,000 requests waiting on an agent of maxSockets 5 hold no thread each:
 * the process has at most the five connections' threads and a few more. */
static void a_thousand_waiting_end_async_requests_hold_no_thread_each(void) {
    static struct peer node;
    START_NODE(&node, "node-thousand.log", false);
    const nhttps_agent *agent = new_agent(5, true);
    static struct ordered_call calls[1000];
    int before = h_threads_now();
    end_async_in_a_row(agent, node.port, NULL, calls, 1000);
    int most = h_threads_now();
    for (long long start = h_now_ms(); atomic_load(&ordered_done) < 1000 && h_now_ms() - start < 300000;) {
        int now = h_threads_now();
        if (now > most) most = now;
        h_sleep_ms(2);
    }
    bool all = atomic_load(&ordered_done) == 1000;
    nhttps_agent_free(agent);
    int connections = peer_count(&node, "connection ");
    peer_stop(&node);
    printf("# threads: %d before, at most %d while 1,000 requests ran on 5 connections\n", before,
           most);
    CHECK(all);
    CHECK_MSG(most - before <= 5 + 5, "%d threads more than before", most - before);
    CHECK_MSG(connections <= 5, "node saw %d connections", connections);
    CHECK_EACH_CALLED_ONCE_WITH_200(calls, 1000);
}

/* nhttps_agent_free with requests still waiting: each callback gets an
 * error, once; the request holding the connection is not disturbed. */
static void freeing_an_agent_fails_its_queued_requests_once_each(void) {
    CHECK(own_start(&srv, NULL, NULL));
    const nhttps_agent *agent = new_agent(1, true);
    char name[64];
    snprintf(name, sizeof name, "localhost:%u", srv.port);
    nhttps_result rc;
    nhttps_incoming_message *held = held_response(agent, "/held", &rc);
    static struct ordered_call calls[10];
    end_async_in_a_row(agent, srv.port, &srv, calls, 10);
    bool queued = wait_queued(agent, name, 10);
    nhttps_agent_free(agent);
    bool all = wait_ordered(10, 30000);
    h_sleep_ms(200); /* time for a second callback, if there were one */
    struct reply first;
    memset(&first, 0, sizeof first);
    if (held != NULL) take_response(held, &first);
    char urls[4096];
    snprintf(urls, sizeof urls, "%s", srv.urls);
    own_stop(&srv);
    CHECK_RC(rc, NHTTPS_OK);
    CHECK(queued);
    CHECK(all);
    for (int i = 0; i < 10; i++) {
        CHECK_MSG(atomic_load(&calls[i].calls) == 1, "request %d: %d callbacks", i,
                  atomic_load(&calls[i].calls));
        CHECK_INT(atomic_load(&calls[i].error), NHTTPS_ERR_INVALID_STATE);
        CHECK_INT(atomic_load(&calls[i].status), 0);
        CHECK(!atomic_load(&calls[i].on_caller));
    }
    CHECK_INT(first.status, 200);
    CHECK_STR(first.body, "GET /held ");
    CHECK_STR(urls, "/held ");
    reply_free(&first);
}

/* ---- stale pooled connections ------------------------------------------ */

static void a_pooled_connection_the_server_closed_is_not_an_error(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server_options_set_keep_alive_timeout_ms(options, 100);
    CHECK(own_start(&srv, options, NULL));
    const nhttps_agent *agent = new_agent(1, true);
    struct reply r[2];
    for (int i = 0; i < 2; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/%d", srv.port, i);
        trust_own(o, &srv);
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
        if (i == 0) h_sleep_ms(600); /* the server closes the idle connection */
    }
    nhttps_agent_free(agent);
    int connections = atomic_load(&srv.connections);
    own_stop(&srv);
    CHECK_REPLY_OK(r[0]);
    CHECK_REPLY_OK(r[1]);
    CHECK_STR(r[1].body, "GET /1 ");
    CHECK_INT(connections, 2);
    reply_free(&r[0]);
    reply_free(&r[1]);
}

static const char KEEP_ALIVE_OK[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";

static void an_idempotent_request_is_retried_once_when_the_server_drops_it(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    static struct peer py;
    CHECK_MSG(start_canned(&py, "drop.log", KEEP_ALIVE_OK, true), "python did not start");
    const nhttps_agent *agent = new_agent(1, true);
    struct reply r[2];
    for (int i = 0; i < 2; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/%d", py.port, i);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
    }
    nhttps_agent_free(agent);
    int dropped = peer_count(&py, "dropped "), requests = peer_count(&py, "request ");
    peer_stop(&py);
    CHECK_REPLY_OK(r[0]);
    CHECK_REPLY_OK(r[1]);
    CHECK_STR(r[1].body, "ok");
    CHECK_INT(dropped, 1);  /* the pooled connection died under the second request */
    CHECK_INT(requests, 2); /* which went again on a fresh one */
    CHECK_INT(r[1].reused, 0);
    reply_free(&r[0]);
    reply_free(&r[1]);
}

static void a_post_the_server_drops_is_not_retried(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    static struct peer py;
    CHECK_MSG(start_canned(&py, "drop-post.log", KEEP_ALIVE_OK, true), "python did not start");
    const nhttps_agent *agent = new_agent(1, true);
    nhttps_request_options *o = opts_url("https://localhost:%u/first", py.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_agent(o, agent);
    struct reply first, post;
    get(o, &first);
    o = opts_url("https://localhost:%u/post", py.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_agent(o, agent);
    nhttps_request_options_set_method(o, "POST");
    exchange(o, "data", 4, 0, &post);
    nhttps_agent_free(agent);
    int requests = peer_count(&py, "request ");
    peer_stop(&py);
    CHECK_REPLY_OK(first);
    CHECK_MSG(post.rc == NHTTPS_ERR_CONNECTION_CLOSED, "POST -> %s (%s)",
              nhttps_result_name((int)post.rc), post.message);
    CHECK_INT(requests, 1); /* not sent twice */
    reply_free(&first);
    reply_free(&post);
}

/* ---- request bodies, 100-continue --------------------------------------- */

#define PAYLOAD_LEN (256 * 1024)
static uint8_t payload[PAYLOAD_LEN];

static void fill_payload(void) {
    for (size_t i = 0; i < PAYLOAD_LEN; i++) payload[i] = (uint8_t)(i * 7 % 251);
}

/* Checks that `r` is `prefix` followed by the payload, byte-exact. */
static bool echoes_payload(const struct reply *r, const char *prefix) {
    size_t p = strlen(prefix);
    return r->len == p + PAYLOAD_LEN && memcmp(r->body, prefix, p) == 0 &&
           memcmp(r->body + p, payload, PAYLOAD_LEN) == 0;
}

/* POSTs the payload chunked (no Content-Length) then by length, in pieces. */
static void post_payload_twice(unsigned port, const struct own *own, struct reply *chunked,
                               struct reply *by_length) {
    const nhttps_agent *agent = new_agent(1, true);
    for (int i = 0; i < 2; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/up", port);
        if (own != NULL) {
            trust_own(o, own);
        } else {
            nhttps_request_options_add_ca_file(o, ca_pem);
        }
        nhttps_request_options_set_agent(o, agent);
        nhttps_request_options_set_method(o, "POST");
        if (i == 1) {
            nhttps_request_options_add_header(o, "Content-Length", "262144");
        }
        exchange(o, payload, PAYLOAD_LEN, i == 0 ? 10000 : 65536, i == 0 ? chunked : by_length);
    }
    nhttps_agent_free(agent);
}

static void post_bodies_arrive_byte_exact_chunked_and_by_length(void) {
    fill_payload();
    CHECK(own_start(&srv, NULL, NULL));
    struct reply chunked, by_length;
    post_payload_twice(srv.port, &srv, &chunked, &by_length);
    int connections = atomic_load(&srv.connections);
    own_stop(&srv);
    CHECK_REPLY_OK(chunked);
    CHECK_REPLY_OK(by_length);
    CHECK_CONTAINS(chunked.headers, "x-framing: chunked\n");
    CHECK_CONTAINS(by_length.headers, "x-framing: length\n");
    CHECK_MSG(echoes_payload(&chunked, "POST /up "), "chunked: %zu bytes, not byte-exact",
              chunked.len);
    CHECK_MSG(echoes_payload(&by_length, "POST /up "), "by length: %zu bytes, not byte-exact",
              by_length.len);
    CHECK_INT(by_length.reused, 1);
    CHECK_INT(connections, 1);
    reply_free(&chunked);
    reply_free(&by_length);
}

static void post_bodies_arrive_byte_exact_at_node(void) {
    fill_payload();
    static struct peer node;
    START_NODE(&node, "node-post.log", false);
    struct reply chunked, by_length;
    post_payload_twice(node.port, NULL, &chunked, &by_length);
    char *log = read_file(node.log);
    peer_stop(&node);
    CHECK_REPLY_OK(chunked);
    CHECK_REPLY_OK(by_length);
    CHECK_CONTAINS(chunked.headers, "x-request-framing: chunked\n");
    CHECK_CONTAINS(by_length.headers, "x-request-framing: length\n");
    CHECK_MSG(echoes_payload(&chunked, "POST /up "), "chunked: %zu bytes, not byte-exact",
              chunked.len);
    CHECK_MSG(echoes_payload(&by_length, "POST /up "), "by length: %zu bytes, not byte-exact",
              by_length.len);
    CHECK_CONTAINS(log, "method=POST url=/up bytes=262144\nrequest id=1 method=POST url=/up bytes=262144\n");
    free(log);
    reply_free(&chunked);
    reply_free(&by_length);
}

static void a_body_longer_than_its_content_length_is_refused(void) {
    CHECK(own_start(&srv, NULL, NULL));
    nhttps_request_options *o = opts_url("https://localhost:%u/", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_method(o, "POST");
    nhttps_request_options_add_header(o, "Content-Length", "3");
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    exchange(o, "four", 4, 0, &r);
    own_stop(&srv);
    CHECK_RC(r.rc, NHTTPS_ERR_INVALID_ARGUMENT);
    reply_free(&r);
}

static void expect_continue_sends_the_body_after_100(void) {
    CHECK(own_start(&srv, NULL, NULL));
    nhttps_server_on_check_continue(srv.server, own_check_continue, &srv);
    const nhttps_agent *agent = new_agent(1, true);
    nhttps_request_options *o = opts_url("https://localhost:%u/c", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_agent(o, agent);
    nhttps_request_options_set_method(o, "PUT");
    nhttps_request_options_add_header(o, "Expect", "100-continue");
    struct reply r;
    exchange(o, "after continue", 14, 0, &r);
    /* A server that answers instead of continuing gets no body, and the
     * response is the request's. */
    o = opts_url("https://localhost:%u/refuse", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_agent(o, agent);
    nhttps_request_options_set_method(o, "PUT");
    nhttps_request_options_add_header(o, "Expect", "100-continue");
    nhttps_request_options_add_header(o, "Content-Length", "5000");
    static char big[5000];
    memset(big, 'x', sizeof big);
    struct reply refused;
    exchange(o, big, sizeof big, 0, &refused);
    /* The agent still works afterwards. */
    o = opts_url("https://localhost:%u/after", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_agent(o, agent);
    struct reply after;
    get(o, &after);
    nhttps_agent_free(agent);
    int continues = atomic_load(&srv.continues);
    own_stop(&srv);
    CHECK_REPLY_OK(r);
    CHECK_STR(r.body, "PUT /c after continue");
    CHECK_REPLY_OK(refused);
    CHECK_INT(refused.status, 417);
    CHECK_INT(continues, 2);
    CHECK_REPLY_OK(after);
    CHECK_STR(after.body, "GET /after ");
    reply_free(&r);
    reply_free(&refused);
    reply_free(&after);
}

/* ---- response framings -------------------------------------------------- */

static void every_response_framing_from_node_reads_to_the_end(void) {
    static struct peer node;
    START_NODE(&node, "node-framing.log", false);
    const nhttps_agent *agent = new_agent(1, true);
    static const char *const paths[] = {"/chunked", "/status/204", "/status/304", "/head", "/len"};
    struct reply r[5];
    for (int i = 0; i < 5; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u%s", node.port, paths[i]);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_agent(o, agent);
        if (i == 3) nhttps_request_options_set_method(o, "HEAD");
        get(o, &r[i]);
    }
    nhttps_agent_free(agent);
    int connections = peer_count(&node, "connection ");
    peer_stop(&node);
    for (int i = 0; i < 5; i++) CHECK_REPLY_OK(r[i]);
    CHECK_STR(r[0].body, "first,second,third");
    CHECK_CONTAINS(r[0].headers, "transfer-encoding: chunked\n");
    CHECK_INT(r[1].status, 204);
    CHECK_INT(r[1].len, 0);
    CHECK_INT(r[2].status, 304);
    CHECK_INT(r[2].len, 0);
    CHECK_INT(r[3].status, 200);
    CHECK_CONTAINS(r[3].headers, "content-length: 11\n"); /* of "HEAD /head ", not sent */
    CHECK_INT(r[3].len, 0);
    CHECK_STR(r[4].body, "GET /len ");
    for (int i = 1; i < 5; i++) CHECK_INT(r[i].reused, 1);
    CHECK_INT(connections, 1);
    for (int i = 0; i < 5; i++) reply_free(&r[i]);
}

static void a_close_delimited_body_is_read_to_the_close(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    static struct peer py;
    CHECK_MSG(start_canned(&py, "close.log",
                           "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end\n", false),
              "python did not start");
    const nhttps_agent *agent = new_agent(1, true);
    struct reply r[2];
    for (int i = 0; i < 2; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/", py.port);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
    }
    size_t in_use = 9, free_count = 9;
    nhttps_agent_stats(agent, NULL, &in_use, &free_count, NULL);
    nhttps_agent_free(agent);
    peer_stop(&py);
    CHECK_REPLY_OK(r[0]);
    CHECK_STR(r[0].body, "until the end\n");
    CHECK_REPLY_OK(r[1]);
    CHECK_STR(r[1].body, "until the end\n");
    CHECK_INT(r[1].reused, 0);
    CHECK_INT(in_use, 0);
    CHECK_INT(free_count, 0);
    reply_free(&r[0]);
    reply_free(&r[1]);
}

static void informational_responses_are_not_the_response(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    static struct peer py;
    CHECK_MSG(start_canned(&py, "early.log",
                           "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal",
                           false),
              "python did not start");
    nhttps_request_options *o = opts_url("https://localhost:%u/", py.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    peer_stop(&py);
    CHECK_REPLY_OK(r);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.headers, "x-final: yes\n");
    CHECK_STR(r.body, "final");
    reply_free(&r);
}

static void a_server_closing_mid_body_is_connection_closed(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    static struct peer py;
    CHECK_MSG(start_canned(&py, "short.log",
                           "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", false),
              "python did not start");
    nhttps_request_options *o = opts_url("https://localhost:%u/", py.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    peer_stop(&py);
    CHECK_INT(r.status, 200);
    CHECK_RC(r.rc, NHTTPS_ERR_CONNECTION_CLOSED);
    CHECK_STR(r.body, "only part");
    reply_free(&r);
}

static void a_malformed_response_is_an_http_parse_error(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    static struct peer py;
    CHECK_MSG(start_canned(&py, "bad.log", "HTTP/1.1 2OO Okay?\r\nno colon here\r\n\r\n", false),
              "python did not start");
    nhttps_request_options *o = opts_url("https://localhost:%u/", py.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    peer_stop(&py);
    CHECK_RC(r.rc, NHTTPS_ERR_HTTP_PARSE);
    CHECK(strlen(r.message) > 0);
    reply_free(&r);
}

/* ---- limits and timeouts ------------------------------------------------ */

/* A GET of the canned server at `port` trusting the test CA, through no
 * agent, with Node's `timeout` when `timeout_ms` is not 0. */
static nhttps_request_options *canned_get(unsigned port, uint32_t timeout_ms) {
    nhttps_request_options *o = opts_url("https://localhost:%u/", port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_no_agent(o);
    if (timeout_ms != 0) {
        nhttps_request_options_set_timeout_ms(o, timeout_ms);
    }
    return o;
}

/* `prefix` then `n` bytes of 'a' (no line end), NUL-terminated in `out`
 * (which holds at least strlen(prefix) + n + 1 bytes). */
static void long_line(char *out, size_t cap, const char *prefix, size_t n) {
    size_t at = (size_t)snprintf(out, cap, "%s", prefix);
    memset(out + at, 'a', n);
    out[at + n] = '\0';
}

static void a_response_head_over_16_kib_is_an_http_parse_error(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    /* A header of 20,000 bytes and counting: the server sends no more and
     * waits (10 s), so only the limit ends the read. */
    static char response[21000];
    long_line(response, sizeof response, "HTTP/1.1 200 OK\r\nX-Big: ", 20000);
    static struct peer py;
    CHECK_MSG(start_canned_with(&py, "big-head.log", response, "--stall"),
              "python did not start");
    struct reply r;
    long long start = h_now_ms();
    get(canned_get(py.port, 0), &r);
    long long took = h_now_ms() - start;
    peer_stop(&py);
    CHECK_RC(r.rc, NHTTPS_ERR_HTTP_PARSE);
    CHECK_CONTAINS(r.message, "response head too large");
    CHECK_MSG(took < 8000, "failing took %lld ms: it waited for the server", took);
    reply_free(&r);
}

static void more_than_128_response_header_fields_is_an_http_parse_error(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    /* 129 short fields, 1.2 KiB in all: only their number is over a limit
     * (one fewer and this is a fine 200). */
    static char response[4096];
    size_t at = (size_t)snprintf(response, sizeof response, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 128; i++) {
        at += (size_t)snprintf(response + at, sizeof response - at, "X-%d: v\r\n", i);
    }
    snprintf(response + at, sizeof response - at, "Content-Length: 2\r\n\r\nok");
    static struct peer py;
    CHECK_MSG(start_canned(&py, "many-fields.log", response, false), "python did not start");
    struct reply r;
    get(canned_get(py.port, 0), &r);
    peer_stop(&py);
    CHECK_RC(r.rc, NHTTPS_ERR_HTTP_PARSE);
    CHECK_CONTAINS(r.message, "too many headers");
    reply_free(&r);
}

static void a_chunk_size_line_over_8_kib_is_an_http_parse_error(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    /* A chunk extension of 20,000 bytes and counting, then nothing (the
     * server waits 10 s): only the cap ends the read. */
    static char response[21000];
    long_line(response, sizeof response,
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=", 20000);
    static struct peer py;
    CHECK_MSG(start_canned_with(&py, "long-chunk-line.log", response, "--stall"),
              "python did not start");
    struct reply r;
    long long start = h_now_ms();
    get(canned_get(py.port, 0), &r);
    long long took = h_now_ms() - start;
    peer_stop(&py);
    CHECK_INT(r.status, 200);
    CHECK_RC(r.rc, NHTTPS_ERR_HTTP_PARSE);
    CHECK_CONTAINS(r.message, "chunked framing line too long");
    CHECK_INT(r.len, 0);
    CHECK_MSG(took < 8000, "failing took %lld ms: it waited for the server", took);
    reply_free(&r);
}

static void a_server_that_never_answers_times_out(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    /* It reads the request and sends nothing; it would close after 10 s. */
    static struct peer py;
    CHECK_MSG(start_canned_with(&py, "silent.log", "", "--stall"), "python did not start");
    struct reply r;
    long long start = h_now_ms();
    get(canned_get(py.port, 500), &r);
    long long took = h_now_ms() - start;
    int requests = peer_count(&py, "request ");
    peer_stop(&py);
    CHECK_INT(requests, 1); /* the handshake and the request went through */
    CHECK_RC(r.rc, NHTTPS_ERR_TIMEOUT);
    CHECK(strlen(r.message) > 0);
    /* 0.5 s and connecting (seconds under valgrind), well before the 10 s
     * after which the server would close. */
    CHECK_MSG(took >= 450 && took < 8000, "timing out took %lld ms", took);
    reply_free(&r);
}

static void a_server_stalling_mid_body_times_out(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_CERTS();
    static struct peer py;
    CHECK_MSG(start_canned_with(&py, "stall.log",
                                "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part",
                                "--stall"),
              "python did not start");
    nhttps_client_request *request = NULL;
    nhttps_request_options *o = canned_get(py.port, 500);
    nhttps_result rc = nhttps_client_request_new(o, &request);
    nhttps_request_options_free(o);
    CHECK_OK(rc);
    nhttps_incoming_message *response = NULL;
    CHECK_OK(nhttps_client_request_end(request, &response));
    struct reply r = {0};
    long long start = h_now_ms();
    take_response(response, &r); /* reads the body, then frees the response */
    long long took = h_now_ms() - start;
    peer_stop(&py);
    CHECK_INT(r.status, 200);
    CHECK_RC(r.rc, NHTTPS_ERR_TIMEOUT);
    CHECK_STR(r.body, "only part");
    CHECK_MSG(took >= 450 && took < 3000, "timing out took %lld ms", took);
    reply_free(&r);
}

/* Connects to 127.0.0.1:port without blocking; true when the connection was
 * made within `ms` (`*out` is the socket either way). */
static bool connects_within(unsigned port, long ms, int *out) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *out = fd;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        return true;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int error = 0;
    socklen_t len = sizeof error;
    return errno == EINPROGRESS && poll(&p, 1, (int)ms) == 1 &&
           getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
}

static void a_connect_nobody_answers_times_out(void) {
    REQUIRE_CERTS();
    /* A listener that never accepts, its backlog of 0 filled by our own
     * connections: the kernel then drops further SYNs, so a connect gets
     * no answer at all, as from a blackholed address. */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    CHECK(bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(listen(listener, 0) == 0);
    CHECK(getsockname(listener, (struct sockaddr *)&addr, &addr_len) == 0);
    unsigned port = ntohs(addr.sin_port);
    int fillers[16], filled = 0;
    bool full = false;
    while (!full && filled < 16) {
        full = !connects_within(port, 200, &fillers[filled]);
        filled++;
    }
    /* Twice through one agent: the first request also builds the agent's
     * TLS configuration (a second or more under valgrind); the second
     * request is timed. */
    const nhttps_agent *agent = new_agent(1, true);
    struct reply r[2];
    long long took = 0;
    for (int i = 0; full && i < 2; i++) {
        nhttps_request_options *o = opts_url("https://127.0.0.1:%u/", port);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_agent(o, agent);
        nhttps_request_options_set_connect_timeout_ms(o, 300);
        long long start = h_now_ms();
        get(o, &r[i]);
        took = h_now_ms() - start;
    }
    nhttps_agent_free(agent);
    for (int i = 0; i < filled; i++) close(fillers[i]);
    close(listener);
    CHECK_MSG(full, "the listen queue never filled: connects to it do not hang here");
    CHECK_RC(r[0].rc, NHTTPS_ERR_TIMEOUT);
    CHECK_RC(r[1].rc, NHTTPS_ERR_TIMEOUT);
    CHECK_CONTAINS(r[1].message, "connecting to 127.0.0.1:");
    CHECK_MSG(took >= 250 && took < 1500, "timing out took %lld ms", took);
    reply_free(&r[0]);
    reply_free(&r[1]);
}

/* ---- client certificates, SNI ------------------------------------------- */

static void a_client_certificate_is_accepted_by_node(void) {
    static struct peer node;
    START_NODE(&node, "node-mtls.log", true);
    nhttps_request_options *o = opts_url("https://localhost:%u/who", node.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_cert_file(o, client_pem);
    nhttps_request_options_set_key_file(o, client_key);
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    peer_stop(&node);
    CHECK_REPLY_OK(r);
    CHECK_STR(r.body, "GET /who ");
    CHECK_CONTAINS(r.headers, "x-authorized: yes\n");
    CHECK_CONTAINS(r.headers, "x-peer-cn: client\n");
    reply_free(&r);
}

static void a_client_certificate_is_accepted_by_nhttps(void) {
    REQUIRE_CERTS();
    nhttps_server_options *options = ca_server_options(server_pem, server_key);
    nhttps_server_options_add_ca_file(options, ca_pem);
    nhttps_server_options_set_request_cert(options, true);
    nhttps_server_options_set_reject_unauthorized(options, true);
    CHECK(own_start(&srv, options, NULL));
    /* PEM given in memory this time. */
    char *cert = read_file(client_pem), *key = read_file(client_key);
    nhttps_request_options *o = opts_url("https://localhost:%u/who", srv.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_cert_pem(o, (const uint8_t *)cert, strlen(cert));
    nhttps_request_options_set_key_pem(o, (const uint8_t *)key, strlen(key));
    nhttps_request_options_set_no_agent(o);
    free(cert);
    free(key);
    struct reply r;
    get(o, &r);
    own_stop(&srv);
    CHECK_REPLY_OK(r);
    CHECK_CONTAINS(r.headers, "x-peer-cn: client\n");
    reply_free(&r);
}

static void a_missing_or_unknown_client_certificate_is_refused_by_node(void) {
    static struct peer node;
    START_NODE(&node, "node-mtls-refuse.log", true);
    struct reply none, rogue;
    nhttps_request_options *o = opts_url("https://localhost:%u/", node.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_no_agent(o);
    get(o, &none);
    o = opts_url("https://localhost:%u/", node.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_cert_file(o, rogue_pem);
    nhttps_request_options_set_key_file(o, rogue_key);
    nhttps_request_options_set_no_agent(o);
    get(o, &rogue);
    int tls_errors = peer_wait_count(&node, "tlserror ", 2, 5000);
    int requests = peer_count(&node, "request ");
    peer_stop(&node);
    /* Node sends the certificate_required alert for a missing certificate,
     * but resets the connection (no alert) for one it does not trust. */
    CHECK_MSG(none.rc != NHTTPS_OK, "no certificate: got %u", none.status);
    CHECK_CONTAINS(none.message, "certificate required");
    CHECK_MSG(rogue.rc != NHTTPS_OK, "rogue certificate: got %u", rogue.status);
    CHECK_INT(tls_errors, 2);
    CHECK_INT(requests, 0);
    reply_free(&none);
    reply_free(&rogue);
}

static void an_unknown_client_certificate_is_refused_by_nhttps(void) {
    REQUIRE_CERTS();
    nhttps_server_options *options = ca_server_options(server_pem, server_key);
    nhttps_server_options_add_ca_file(options, ca_pem);
    nhttps_server_options_set_request_cert(options, true);
    nhttps_server_options_set_reject_unauthorized(options, true);
    CHECK(own_start(&srv, options, NULL));
    struct reply none, rogue;
    nhttps_request_options *o = opts_url("https://localhost:%u/", srv.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_no_agent(o);
    get(o, &none);
    o = opts_url("https://localhost:%u/", srv.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_cert_file(o, rogue_pem);
    nhttps_request_options_set_key_file(o, rogue_key);
    nhttps_request_options_set_no_agent(o);
    get(o, &rogue);
    int requests = atomic_load(&srv.requests);
    own_stop(&srv);
    /* The server lingers after refusing, so the alerts (certificate
     * required, unknown CA) reach the client and name the cause. */
    CHECK_RC(none.rc, NHTTPS_ERR_TLS_HANDSHAKE);
    CHECK_CONTAINS(none.message, "certificate required");
    CHECK_RC(rogue.rc, NHTTPS_ERR_TLS_HANDSHAKE);
    CHECK_CONTAINS(rogue.message, "unknown ca");
    CHECK_INT(requests, 0);
    reply_free(&none);
    reply_free(&rogue);
}

/* TLS 1.3 reports a refused client certificate after the client's side of
 * the handshake: the failure is still a TLS handshake failure. */
static void a_refused_client_certificate_is_a_handshake_error(void) {
    static struct peer node;
    START_NODE(&node, "node-mtls-code.log", true);
    nhttps_request_options *o = opts_url("https://localhost:%u/", node.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    peer_stop(&node);
    CHECK_MSG(r.rc == NHTTPS_ERR_TLS_HANDSHAKE, "-> %s (%s), expected NHTTPS_ERR_TLS_HANDSHAKE",
              nhttps_result_name((int)r.rc), r.message);
    reply_free(&r);
}

static void sni_is_the_host_name_and_never_an_ip_address(void) {
    CHECK(own_start(&srv, NULL, NULL));
    struct reply by_name, by_ip, told;
    nhttps_request_options *o = opts_url("https://localhost:%u/", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_no_agent(o);
    get(o, &by_name);
    o = opts_url("https://127.0.0.1:%u/", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_no_agent(o);
    get(o, &by_ip);
    o = opts_url("https://127.0.0.1:%u/", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_servername(o, "localhost");
    nhttps_request_options_set_no_agent(o);
    get(o, &told);
    own_stop(&srv);
    CHECK_REPLY_OK(by_name);
    CHECK_CONTAINS(by_name.headers, "x-servername: localhost\n");
    CHECK_REPLY_OK(by_ip); /* the development certificate names 127.0.0.1 */
    CHECK_CONTAINS(by_ip.headers, "x-servername: -\n");
    CHECK_REPLY_OK(told);
    CHECK_CONTAINS(told.headers, "x-servername: localhost\n");
    reply_free(&by_name);
    reply_free(&by_ip);
    reply_free(&told);
}

static void sni_reaches_node(void) {
    static struct peer node;
    START_NODE(&node, "node-sni.log", false);
    nhttps_request_options *o = opts_url("https://127.0.0.1:%u/", node.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_set_servername(o, "localhost");
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    peer_stop(&node);
    CHECK_REPLY_OK(r);
    CHECK_CONTAINS(r.headers, "x-servername: localhost\n");
    reply_free(&r);
}

/* ---- verification failures ---------------------------------------------- */

/* One request with no agent; `ca` NULL: the system's roots. */
static void request_with_ca(unsigned port, const char *host, const char *ca_file,
                            const char *servername, struct reply *r) {
    nhttps_request_options *o = opts_url("https://%s:%u/", host, port);
    if (ca_file != NULL) nhttps_request_options_add_ca_file(o, ca_file);
    if (servername != NULL) nhttps_request_options_set_servername(o, servername);
    nhttps_request_options_set_no_agent(o);
    get(o, r);
}

static void a_self_signed_certificate_is_depth_zero_self_signed(void) {
    CHECK(own_start(&srv, NULL, NULL));
    struct reply r;
    request_with_ca(srv.port, "localhost", NULL, NULL, &r);
    int requests = atomic_load(&srv.requests);
    own_stop(&srv);
    CHECK_RC(r.rc, NHTTPS_ERR_CERTIFICATE_VERIFY);
    CHECK_CONTAINS(r.message, "DEPTH_ZERO_SELF_SIGNED_CERT");
    CHECK_INT(requests, 0);
    reply_free(&r);
}

static void a_wrong_host_name_is_altname_invalid(void) {
    CHECK(own_start(&srv, NULL, NULL));
    nhttps_request_options *o = opts_url("https://localhost:%u/", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_servername(o, "example.test");
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    own_stop(&srv);
    CHECK_RC(r.rc, NHTTPS_ERR_CERTIFICATE_VERIFY);
    CHECK_CONTAINS(r.message, "ERR_TLS_CERT_ALTNAME_INVALID");
    reply_free(&r);
}

static void an_ip_address_missing_from_the_sans_is_altname_invalid(void) {
    /* The development certificate names 127.0.0.1 and ::1, not 127.0.0.2. */
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *server = NULL;
    CHECK_OK(nhttps_server_new(options, &server));
    nhttps_server_options_free(options);
    nhttps_server_on_request(server, h_hello, NULL);
    CHECK_OK(nhttps_server_listen(server, "0.0.0.0", 0));
    nhttps_request_options *o = opts_url("https://127.0.0.2:%u/", nhttps_server_port(server));
    const char *pem = nhttps_server_certificate_pem(server);
    nhttps_request_options_add_ca_pem(o, (const uint8_t *)pem, strlen(pem));
    nhttps_request_options_set_no_agent(o);
    struct reply wrong_ip;
    get(o, &wrong_ip);
    o = opts_url("https://127.0.0.1:%u/", nhttps_server_port(server));
    nhttps_request_options_add_ca_pem(o, (const uint8_t *)pem, strlen(pem));
    nhttps_request_options_set_no_agent(o);
    struct reply right_ip;
    get(o, &right_ip);
    nhttps_server_free(server);
    CHECK_RC(wrong_ip.rc, NHTTPS_ERR_CERTIFICATE_VERIFY);
    CHECK_CONTAINS(wrong_ip.message, "ERR_TLS_CERT_ALTNAME_INVALID");
    CHECK_REPLY_OK(right_ip);
    reply_free(&wrong_ip);
    reply_free(&right_ip);
}

static void an_unknown_issuer_is_unable_to_get_issuer_cert_locally(void) {
    REQUIRE_CERTS();
    CHECK(own_start(&srv, ca_server_options(server_pem, server_key), NULL));
    struct reply without, with;
    request_with_ca(srv.port, "localhost", NULL, NULL, &without);
    request_with_ca(srv.port, "localhost", ca_pem, NULL, &with);
    own_stop(&srv);
    CHECK_RC(without.rc, NHTTPS_ERR_CERTIFICATE_VERIFY);
    CHECK_CONTAINS(without.message, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    CHECK_REPLY_OK(with);
    reply_free(&without);
    reply_free(&with);
}

static void an_expired_certificate_is_cert_has_expired(void) {
    REQUIRE_CERTS();
    CHECK(own_start(&srv, ca_server_options(expired_pem, expired_key), NULL));
    struct reply r;
    request_with_ca(srv.port, "localhost", ca_pem, NULL, &r);
    own_stop(&srv);
    CHECK_RC(r.rc, NHTTPS_ERR_CERTIFICATE_VERIFY);
    CHECK_CONTAINS(r.message, "CERT_HAS_EXPIRED");
    reply_free(&r);
}

static void verification_failures_from_node_carry_codes_too(void) {
    static struct peer node;
    START_NODE(&node, "node-verify.log", false);
    struct reply unknown, wrong_name;
    request_with_ca(node.port, "localhost", NULL, NULL, &unknown);
    request_with_ca(node.port, "localhost", ca_pem, "wrong.example", &wrong_name);
    peer_stop(&node);
    CHECK_RC(unknown.rc, NHTTPS_ERR_CERTIFICATE_VERIFY);
    CHECK_CONTAINS(unknown.message, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    CHECK_RC(wrong_name.rc, NHTTPS_ERR_CERTIFICATE_VERIFY);
    CHECK_CONTAINS(wrong_name.message, "ERR_TLS_CERT_ALTNAME_INVALID");
    reply_free(&unknown);
    reply_free(&wrong_name);
}

static void reject_unauthorized_false_accepts_the_development_certificate(void) {
    CHECK(own_start(&srv, NULL, NULL));
    nhttps_request_options *o = opts_url("https://localhost:%u/", srv.port);
    nhttps_request_options_set_reject_unauthorized(o, false);
    nhttps_request_options_set_servername(o, "example.test");
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    own_stop(&srv);
    CHECK_REPLY_OK(r);
    CHECK_INT(r.status, 200);
    reply_free(&r);
}

/* ---- connection failures ------------------------------------------------ */

static void connection_refused_is_connection_refused(void) {
    unsigned port = free_port();
    CHECK(port != 0);
    nhttps_request_options *o = opts_url("https://127.0.0.1:%u/", port);
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    CHECK_RC(r.rc, NHTTPS_ERR_CONNECTION_REFUSED);
    CHECK(strlen(r.message) > 0);
    /* Through an agent as well, which is left with nothing in use. */
    const nhttps_agent *agent = new_agent(2, true);
    o = opts_url("https://127.0.0.1:%u/", port);
    nhttps_request_options_set_agent(o, agent);
    struct reply pooled;
    get(o, &pooled);
    size_t in_use = 9, queued = 9;
    nhttps_agent_stats(agent, NULL, &in_use, NULL, &queued);
    nhttps_agent_free(agent);
    CHECK_RC(pooled.rc, NHTTPS_ERR_CONNECTION_REFUSED);
    CHECK_INT(in_use, 0);
    CHECK_INT(queued, 0);
    reply_free(&r);
    reply_free(&pooled);
}

static void an_unknown_host_is_a_dns_error(void) {
    nhttps_request_options *o = opts_url("https://no-such-host.invalid/");
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    CHECK_RC(r.rc, NHTTPS_ERR_DNS);
    CHECK_CONTAINS(r.message, "no-such-host.invalid");
    reply_free(&r);
}

static void on_async_error(void *userdata, nhttps_incoming_message *response,
                           const nhttps_error *error) {
    atomic_int *code = userdata;
    if (response != NULL) {
        nhttps_incoming_message_free(response);
        atomic_store(code, 1000);
        return;
    }
    atomic_store(code, 2000 + (int)nhttps_error_code(error) +
                           (nhttps_error_message(error) && *nhttps_error_message(error) ? 0 : 100));
}

static void an_async_failure_reaches_the_callback_with_its_code(void) {
    unsigned port = free_port();
    nhttps_request_options *o = opts_url("https://127.0.0.1:%u/", port);
    nhttps_request_options_set_no_agent(o);
    nhttps_client_request *request = NULL;
    CHECK_OK(nhttps_client_request_new(o, &request));
    nhttps_request_options_free(o);
    static atomic_int code;
    atomic_store(&code, 0);
    CHECK_OK(nhttps_client_request_end_async(request, on_async_error, &code));
    CHECK(h_wait_for(&code, 30000));
    h_sleep_ms(50); /* let the request's thread finish */
    CHECK_INT(atomic_load(&code), 2000 + NHTTPS_ERR_CONNECTION_REFUSED);
}

/* ---- unix sockets, sessions, stats -------------------------------------- */

static void requests_over_a_unix_socket_still_speak_tls(void) {
    char path[512];
    snprintf(path, sizeof path, "%s", h_path("client.sock"));
    unlink(path);
    CHECK(own_start(&srv, NULL, path));
    const nhttps_agent *agent = new_agent(1, true);
    struct reply r[2];
    for (int i = 0; i < 2; i++) {
        nhttps_request_options *o = nhttps_request_options_new();
        nhttps_request_options_set_socket_path(o, path);
        nhttps_request_options_set_path(o, i == 0 ? "/u0" : "/u1");
        trust_own(o, &srv); /* verified against "localhost", the default host */
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
    }
    size_t free_count = 0;
    nhttps_agent_stats(agent, path, NULL, &free_count, NULL);
    nhttps_agent_free(agent);
    own_stop(&srv);
    bool removed = access(path, F_OK) != 0;
    CHECK_REPLY_OK(r[0]);
    CHECK_STR(r[0].body, "GET /u0 ");
    CHECK_CONTAINS(r[0].headers, "x-tls: TLSv1.3\n");
    CHECK_CONTAINS(r[0].headers, "x-host: localhost\n");
    CHECK_REPLY_OK(r[1]);
    CHECK_INT(r[1].reused, 1);
    CHECK_INT(free_count, 1);
    CHECK(removed);
    reply_free(&r[0]);
    reply_free(&r[1]);
}

static void a_second_connection_resumes_the_tls_session(void) {
    CHECK(own_start(&srv, NULL, NULL));
    const nhttps_agent *agent = new_agent(5, false); /* a new connection each time */
    struct reply r[3];
    for (int i = 0; i < 3; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/", srv.port);
        trust_own(o, &srv);
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
    }
    nhttps_agent_free(agent);
    int connections = atomic_load(&srv.connections);
    own_stop(&srv);
    for (int i = 0; i < 3; i++) {
        CHECK_REPLY_OK(r[i]);
        CHECK_INT(r[i].reused, 0);
    }
    CHECK_CONTAINS(r[0].headers, "x-session-reused: no\n");
    CHECK_INT(r[0].session_reused, 0);
    CHECK_CONTAINS(r[1].headers, "x-session-reused: yes\n");
    CHECK_INT(r[1].session_reused, 1);
    CHECK_CONTAINS(r[2].headers, "x-session-reused: yes\n");
    CHECK_INT(connections, 3);
    for (int i = 0; i < 3; i++) reply_free(&r[i]);
}

static void a_second_connection_to_node_resumes_the_tls_session(void) {
    static struct peer node;
    START_NODE(&node, "node-resume.log", false);
    const nhttps_agent *agent = new_agent(5, false);
    struct reply r[2];
    for (int i = 0; i < 2; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/", node.port);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
    }
    nhttps_agent_free(agent);
    int fresh = peer_count(&node, "connection id=1 "), resumed = peer_count(&node, "connection id=2 ");
    char *log = read_file(node.log);
    peer_stop(&node);
    CHECK_REPLY_OK(r[0]);
    CHECK_REPLY_OK(r[1]);
    CHECK_INT(fresh + resumed, 2);
    CHECK_CONTAINS(log, "connection id=1 open=1 servername=localhost reused=no");
    CHECK_CONTAINS(log, "connection id=2 open=1 servername=localhost reused=yes");
    CHECK_INT(r[1].session_reused, 1);
    free(log);
    reply_free(&r[0]);
    reply_free(&r[1]);
}

static void agent_stats_count_in_use_free_and_queued(void) {
    CHECK(own_start(&srv, NULL, NULL));
    const nhttps_agent *agent = new_agent(1, true);
    char name[64];
    snprintf(name, sizeof name, "localhost:%u", srv.port);
    size_t s[9];
    memset(s, 0xff, sizeof s);
    nhttps_agent_stats(agent, NULL, &s[0], &s[1], &s[2]); /* nothing yet */

    nhttps_request_options *o = opts_url("https://localhost:%u/held", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_set_agent(o, agent);
    nhttps_client_request *request = NULL;
    nhttps_client_request_new(o, &request);
    nhttps_incoming_message *held = NULL;
    nhttps_result rc = nhttps_client_request_end(request, &held);
    nhttps_agent_stats(agent, name, &s[3], &s[4], &s[5]); /* one in use */
    /* A second request waits for the only connection. */
    static struct async_state st;
    static struct async_call call;
    async_state_init(&st);
    call.state = &st;
    snprintf(call.expected, sizeof call.expected, "GET /held ");
    nhttps_client_request_new(o, &request);
    nhttps_request_options_free(o);
    nhttps_client_request_end_async(request, on_async_response, &call);
    bool queued = wait_queued(agent, name, 1);
    size_t total_queued = 0, unknown_in_use = 9, unknown_free = 9;
    nhttps_agent_stats(agent, NULL, NULL, NULL, &total_queued);
    nhttps_agent_stats(agent, "nowhere:1", &unknown_in_use, &unknown_free, NULL);
    struct reply first;
    memset(&first, 0, sizeof first);
    if (held != NULL) take_response(held, &first);
    h_wait_for(&st.done, 20000);
    h_sleep_ms(50);
    nhttps_agent_stats(agent, name, &s[6], &s[7], &s[8]); /* all done: one free */
    nhttps_agent_free(agent);
    own_stop(&srv);
    pthread_mutex_destroy(&st.lock);
    CHECK_RC(rc, NHTTPS_OK);
    CHECK_INT(s[0], 0);
    CHECK_INT(s[1], 0);
    CHECK_INT(s[2], 0);
    CHECK_INT(s[3], 1);
    CHECK_INT(s[4], 0);
    CHECK_INT(s[5], 0);
    CHECK(queued);
    CHECK_INT(total_queued, 1);
    CHECK_INT(unknown_in_use, 0);
    CHECK_INT(unknown_free, 0);
    CHECK_STR(first.body, "GET /held ");
    CHECK_INT(atomic_load(&st.done), 1);
    CHECK_INT(atomic_load(&st.errors) + atomic_load(&st.wrong), 0);
    CHECK_INT(s[6], 0);
    CHECK_INT(s[7], 1);
    CHECK_INT(s[8], 0);
    reply_free(&first);
}

/* ---- nhttps_get, URLs, options ------------------------------------------ */

static void nhttps_get_uses_the_system_roots(void) {
    REQUIRE_CERTS();
    CHECK(own_start(&srv, NULL, NULL));
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%u/dev", srv.port);
    nhttps_incoming_message *response = NULL;
    nhttps_result untrusted = nhttps_get(url, &response);
    char message[512];
    snprintf(message, sizeof message, "%s", nhttps_last_error_message());
    own_stop(&srv);
    CHECK_RC(untrusted, NHTTPS_ERR_CERTIFICATE_VERIFY);
    CHECK_CONTAINS(message, "DEPTH_ZERO_SELF_SIGNED_CERT");

    /* The system's roots are OpenSSL's default paths: SSL_CERT_FILE. */
    CHECK(own_start(&srv, ca_server_options(server_pem, server_key), NULL));
    setenv("SSL_CERT_FILE", ca_pem, 1);
    snprintf(url, sizeof url, "https://localhost:%u/system?x=1", srv.port);
    struct reply r;
    memset(&r, 0, sizeof r);
    r.rc = nhttps_get(url, &response);
    unsetenv("SSL_CERT_FILE");
    if (r.rc == NHTTPS_OK) {
        take_response(response, &r);
    } else {
        reply_fail(&r, r.rc);
    }
    char name[64];
    snprintf(name, sizeof name, "localhost:%u", srv.port);
    size_t free_count = 0;
    nhttps_agent_stats(nhttps_global_agent(), name, NULL, &free_count, NULL);
    own_stop(&srv);
    CHECK_REPLY_OK(r);
    CHECK_STR(r.body, "GET /system?x=1 ");
    CHECK_INT(free_count, 1); /* through the global agent, kept alive */
    CHECK(nhttps_global_agent() == nhttps_global_agent());
    reply_free(&r);
}

static void from_url_takes_auth_port_path_and_query(void) {
    CHECK(own_start(&srv, NULL, NULL));
    nhttps_request_options *o =
        opts_url("https://us%%65r:p%%40ss@localhost:%u/path/to?q=1&r=two#fragment", srv.port);
    CHECK(o != NULL);
    trust_own(o, &srv);
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    /* auth set on options built field by field */
    o = nhttps_request_options_new();
    nhttps_request_options_set_host(o, "no-such-host.invalid");
    nhttps_request_options_set_hostname(o, "localhost"); /* preferred over host */
    nhttps_request_options_set_port(o, srv.port);
    nhttps_request_options_set_path(o, "/p?x=1");
    nhttps_request_options_set_method(o, "DELETE");
    nhttps_request_options_set_auth(o, "a:b");
    trust_own(o, &srv);
    nhttps_request_options_set_no_agent(o);
    struct reply fields;
    get(o, &fields);
    own_stop(&srv);
    char host[64];
    snprintf(host, sizeof host, "x-host: localhost:%u\n", srv.port);
    CHECK_REPLY_OK(r);
    CHECK_STR(r.body, "GET /path/to?q=1&r=two ");
    CHECK_CONTAINS(r.headers, "x-authorization: Basic dXNlcjpwQHNz\n"); /* user:p@ss */
    CHECK_CONTAINS(r.headers, host);
    CHECK_REPLY_OK(fields);
    CHECK_STR(fields.body, "DELETE /p?x=1 ");
    CHECK_CONTAINS(fields.headers, "x-authorization: Basic YTpi\n");
    reply_free(&r);
    reply_free(&fields);
}

static void bad_urls_and_options_are_invalid_arguments(void) {
    nhttps_request_options *o = NULL;
    CHECK_RC(nhttps_request_options_from_url("ftp://example.test/", &o), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_request_options_from_url("https:///nohost", &o), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_request_options_from_url("https://h:99999/", &o), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK(o == NULL);
    o = nhttps_request_options_new();
    nhttps_result bad_header = nhttps_request_options_add_header(o, "X-Bad", "a\r\nInjected: 1");
    nhttps_result bad_name = nhttps_request_options_add_header(o, "Bad Name", "v");
    nhttps_result bad_version = nhttps_request_options_set_min_version(o, "SSLv3");
    nhttps_request_options_set_method(o, "GE T");
    nhttps_client_request *request = NULL;
    nhttps_result bad_method = nhttps_client_request_new(o, &request);
    nhttps_request_options_free(o);
    nhttps_client_request_free(request);
    CHECK_RC(bad_header, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(bad_name, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(bad_version, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(bad_method, NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK(request == NULL);
}

static void repeated_headers_are_all_sent_in_order(void) {
    static struct peer node;
    START_NODE(&node, "node-headers.log", false);
    nhttps_request_options *o = opts_url("https://localhost:%u/headers", node.port);
    nhttps_request_options_add_ca_file(o, ca_pem);
    nhttps_request_options_add_header(o, "X-Dup", "one");
    nhttps_request_options_add_header(o, "X-Other", "x");
    nhttps_request_options_add_header(o, "X-Dup", "two");
    nhttps_request_options_set_no_agent(o);
    struct reply r;
    get(o, &r);
    peer_stop(&node);
    CHECK_REPLY_OK(r);
    CHECK_CONTAINS(r.body, "[\"X-Dup\",\"one\"],[\"X-Other\",\"x\"],[\"X-Dup\",\"two\"]");
    CHECK_CONTAINS(r.body, "[\"Connection\",\"close\"]");
    CHECK_CONTAINS(r.headers, "content-type: application/json\n");
    reply_free(&r);
}

static void on_upgrade_echo(void *userdata, nhttps_incoming_message *req, nhttps_socket *socket,
                            const uint8_t *head, size_t head_len) {
    (void)userdata;
    (void)req;
    (void)head;
    (void)head_len;
    static const char answer[] =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello";
    nhttps_socket_write(socket, (const uint8_t *)answer, sizeof answer - 1);
    uint8_t buf[16];
    size_t n = 0;
    if (nhttps_socket_read(socket, buf, sizeof buf, &n) == NHTTPS_OK && n > 0) {
        uint8_t out[32] = "echo:";
        memcpy(out + 5, buf, n);
        nhttps_socket_write(socket, out, 5 + n);
    }
    nhttps_socket_close(socket);
    nhttps_socket_free(socket);
}

static void a_101_response_hands_over_the_connection(void) {
    CHECK(own_start(&srv, NULL, NULL));
    nhttps_server_on_upgrade(srv.server, on_upgrade_echo, NULL);
    nhttps_request_options *o = opts_url("https://localhost:%u/ws", srv.port);
    trust_own(o, &srv);
    nhttps_request_options_add_header(o, "Connection", "Upgrade");
    nhttps_request_options_add_header(o, "Upgrade", "echo");
    nhttps_request_options_set_no_agent(o);
    nhttps_client_request *request = NULL;
    nhttps_client_request_new(o, &request);
    nhttps_request_options_free(o);
    nhttps_incoming_message *response = NULL;
    nhttps_result rc = nhttps_client_request_end(request, &response);
    unsigned status = 0;
    nhttps_socket *socket = NULL;
    nhttps_result taken = NHTTPS_ERR_INVALID_STATE, again = NHTTPS_OK;
    char got[64] = "", echoed[64] = "";
    if (rc == NHTTPS_OK) {
        status = nhttps_incoming_message_status_code(response);
        taken = nhttps_incoming_message_upgrade(response, &socket);
        nhttps_socket *second = NULL;
        again = nhttps_incoming_message_upgrade(response, &second);
        nhttps_incoming_message_free(response);
    }
    if (taken == NHTTPS_OK) {
        size_t len = 0, n = 0;
        while (len < 5 && nhttps_socket_read(socket, (uint8_t *)got + len, 5 - len, &n) == NHTTPS_OK && n > 0) {
            len += n;
        }
        nhttps_socket_write(socket, (const uint8_t *)"ping", 4);
        len = 0;
        while (len < 9 && nhttps_socket_read(socket, (uint8_t *)echoed + len, 9 - len, &n) == NHTTPS_OK && n > 0) {
            len += n;
        }
        nhttps_socket_free(socket);
    }
    own_stop(&srv);
    CHECK_RC(rc, NHTTPS_OK);
    CHECK_INT(status, 101);
    CHECK_RC(taken, NHTTPS_OK);
    CHECK_RC(again, NHTTPS_ERR_INVALID_STATE);
    CHECK_STR(got, "hello");
    CHECK_STR(echoed, "echo:ping");
}

/* ---- nginx -------------------------------------------------------------- */

static struct peer nginx;

/* nginx with TLS, the test CA's server certificate, client certificates
 * optional, answering `METHOD URI conn=N sni=NAME verify=RESULT`. */
static bool start_nginx(void) {
    /* nginx takes relative paths from its prefix: make them absolute. */
    char cwd[256] = ".";
    if (getcwd(cwd, sizeof cwd) == NULL) return false;
    const char *dir = h_dir();
    unsigned port = free_port();
    char conf[8192], conf_path[600], prefix[540];
    snprintf(prefix, sizeof prefix, "%s%s%s/nginx", dir[0] == '/' ? "" : cwd,
             dir[0] == '/' ? "" : "/", dir);
    snprintf(conf_path, sizeof conf_path, "%s/nginx.conf", prefix);
    free(h_capture(NULL, "mkdir -p %s/logs %s/tmp", prefix, prefix));
    snprintf(conf, sizeof conf,
             "daemon off;\nmaster_process off;\nworker_processes 1;\n"
             "pid %1$s/nginx.pid;\nerror_log %1$s/logs/error.log;\n"
             "events { worker_connections 64; }\n"
             "http {\n"
             "  access_log %1$s/logs/access.log;\n"
             "  client_body_temp_path %1$s/tmp/body; proxy_temp_path %1$s/tmp/proxy;\n"
             "  fastcgi_temp_path %1$s/tmp/fastcgi; uwsgi_temp_path %1$s/tmp/uwsgi;\n"
             "  scgi_temp_path %1$s/tmp/scgi;\n"
             "  server {\n"
             "    listen 127.0.0.1:%2$u ssl;\n"
             "    ssl_certificate %3$s; ssl_certificate_key %4$s;\n"
             "    ssl_client_certificate %5$s; ssl_verify_client optional;\n"
             "    keepalive_requests 1000;\n"
             "    location / { default_type text/plain; return 200 \"$request_method $request_uri "
             "conn=$connection sni=$ssl_server_name verify=$ssl_client_verify "
             "dn=$ssl_client_s_dn\"; }\n"
             "  }\n"
             "}\n",
             prefix, port, server_pem, server_key, ca_pem);
    h_write_file(conf_path, conf, strlen(conf));
    memset(&nginx, 0, sizeof nginx);
    snprintf(nginx.log, sizeof nginx.log, "%s/logs/stdout.log", prefix);
    char *out = h_capture(NULL, "nginx -p %s -c %s -e %s/logs/error.log > %s 2>&1 & echo $!",
                          prefix, conf_path, prefix, nginx.log);
    nginx.pid = atoi(out);
    free(out);
    if (nginx.pid > 0) remember_pid(nginx.pid, true);
    nginx.port = port;
    return nginx.pid > 0 && wait_port(port, 15000);
}

#define START_NGINX()                                                                  \
    do {                                                                               \
        REQUIRE_TOOL("nginx");                                                         \
        REQUIRE_CERTS();                                                               \
        CHECK_MSG(start_nginx(), "nginx did not start: see %s and %s/nginx/logs",      \
                  nginx.log, h_dir());                                                 \
    } while (0)

static void nginx_sees_one_connection_for_three_requests(void) {
    START_NGINX();
    const nhttps_agent *agent = new_agent(5, true);
    struct reply r[3];
    for (int i = 0; i < 3; i++) {
        nhttps_request_options *o = opts_url("https://localhost:%u/k%d", nginx.port, i);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_agent(o, agent);
        get(o, &r[i]);
    }
    nhttps_agent_free(agent);
    peer_stop(&nginx);
    for (int i = 0; i < 3; i++) CHECK_REPLY_OK(r[i]);
    const char *conn0 = strstr(r[0].body, "conn=");
    CHECK(conn0 != NULL);
    char conn[32];
    snprintf(conn, sizeof conn, "%.*s", (int)strcspn(conn0, " "), conn0);
    CHECK_CONTAINS(r[0].body, "GET /k0 ");
    CHECK_CONTAINS(r[1].body, conn);
    CHECK_CONTAINS(r[2].body, conn);
    CHECK_INT(r[0].reused, 0);
    CHECK_INT(r[1].reused, 1);
    CHECK_INT(r[2].reused, 1);
    for (int i = 0; i < 3; i++) reply_free(&r[i]);
}

static void nginx_takes_sni_client_certificates_and_request_bodies(void) {
    fill_payload();
    START_NGINX();
    const nhttps_agent *agent = new_agent(1, true);
    struct reply r[3];
    for (int i = 0; i < 3; i++) {
        nhttps_request_options *o = opts_url("https://127.0.0.1:%u/b%d", nginx.port, i);
        nhttps_request_options_add_ca_file(o, ca_pem);
        nhttps_request_options_set_servername(o, "localhost");
        nhttps_request_options_set_cert_file(o, client_pem);
        nhttps_request_options_set_key_file(o, client_key);
        nhttps_request_options_set_agent(o, agent);
        if (i < 2) nhttps_request_options_set_method(o, "POST");
        if (i == 1) nhttps_request_options_add_header(o, "Content-Length", "262144");
        /* a chunked body, a body by length, then a GET on the same connection */
        exchange(o, payload, i < 2 ? PAYLOAD_LEN : 0, 30000, &r[i]);
    }
    nhttps_agent_free(agent);
    peer_stop(&nginx);
    for (int i = 0; i < 3; i++) CHECK_REPLY_OK(r[i]);
    CHECK_CONTAINS(r[0].body, "POST /b0 ");
    CHECK_CONTAINS(r[0].body, "sni=localhost verify=SUCCESS dn=CN=client");
    CHECK_CONTAINS(r[1].body, "POST /b1 ");
    CHECK_CONTAINS(r[2].body, "GET /b2 ");
    CHECK_INT(r[1].reused, 1);
    CHECK_INT(r[2].reused, 1);
    for (int i = 0; i < 3; i++) reply_free(&r[i]);
}

/* ---- plain HTTP (protocol "http:") -------------------------------------- */

/* Python's http.server (HTTP/1.0, no TLS) serving the scratch directory on
 * 127.0.0.1: an `http://` URL and the `protocol` option both reach it
 * without TLS, the socket info has no TLS facts, and a response that closes
 * its connection leaves nothing pooled. */
static void http_urls_and_the_protocol_option_speak_plain_http(void) {
    REQUIRE_TOOL("python3");
    static struct peer py;
    char dir[600];
    snprintf(dir, sizeof dir, "%s", h_path("plain-www"));
    free(h_capture(NULL, "mkdir -p %s", dir));
    static char page[40000];
    for (size_t i = 0; i < sizeof page - 1; i++) page[i] = (char)('a' + i % 26);
    char file[700];
    snprintf(file, sizeof file, "%s/page.txt", dir);
    h_write_file(file, page, strlen(page));
    unsigned port = free_port();
    CHECK(port != 0);
    memset(&py, 0, sizeof py);
    snprintf(py.log, sizeof py.log, "%s", h_path("http-server.log"));
    char *out = h_capture(NULL,
                          "python3 -m http.server %u --bind 127.0.0.1 --directory %s > %s 2>&1 "
                          "& echo $!",
                          port, dir, py.log);
    py.pid = atoi(out);
    free(out);
    if (py.pid > 0) remember_pid(py.pid, true);
    py.port = port;
    CHECK_MSG(py.pid > 0 && wait_port(port, 15000), "http.server did not start: see %s", py.log);

    const nhttps_agent *agent = new_agent(2, true);
    /* 1: an http:// URL. */
    nhttps_request_options *o = opts_url("http://127.0.0.1:%u/page.txt", port);
    CHECK(o != NULL);
    nhttps_request_options_set_agent(o, agent);
    nhttps_client_request *request = NULL;
    nhttps_result rc = nhttps_client_request_new(o, &request);
    nhttps_request_options_free(o);
    CHECK_OK(rc);
    nhttps_incoming_message *response = NULL;
    CHECK_OK(nhttps_client_request_end(request, &response));
    const nhttps_socket_info *info = nhttps_incoming_message_socket(response);
    bool no_tls = nhttps_socket_info_tls_version(info) == NULL &&
                  nhttps_socket_info_cipher(info) == NULL &&
                  nhttps_socket_info_alpn_protocol(info) == NULL;
    unsigned remote_port = nhttps_socket_info_remote_port(info);
    struct reply url_reply;
    memset(&url_reply, 0, sizeof url_reply);
    take_response(response, &url_reply);

    /* 2: the protocol option, host and port set one by one; a 404. */
    o = nhttps_request_options_new();
    CHECK_RC(nhttps_request_options_set_protocol(o, "ftp:"), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_request_options_set_protocol(o, "http"), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_request_options_set_protocol(o, "http:"));
    nhttps_request_options_set_hostname(o, "127.0.0.1");
    nhttps_request_options_set_port(o, (uint16_t)port);
    nhttps_request_options_set_path(o, "/missing");
    nhttps_request_options_set_agent(o, agent);
    struct reply missing;
    get(o, &missing);

    size_t in_use = 9, free_count = 9;
    nhttps_agent_stats(agent, NULL, &in_use, &free_count, NULL);
    nhttps_agent_free(agent);
    char *log = read_file(py.log);
    int requests_logged = 0;
    for (const char *at = strstr(log, "\"GET /"); at != NULL; at = strstr(at + 1, "\"GET /")) {
        requests_logged++;
    }
    free(log);
    peer_stop(&py);

    CHECK_REPLY_OK(url_reply);
    CHECK(no_tls);
    CHECK_INT(remote_port, port);
    CHECK_INT(url_reply.status, 200);
    CHECK_INT(url_reply.len, strlen(page));
    CHECK(memcmp(url_reply.body, page, url_reply.len) == 0);
    CHECK_CONTAINS(url_reply.headers, "server: SimpleHTTP/");
    CHECK_REPLY_OK(missing);
    CHECK_INT(missing.status, 404);
    CHECK_INT(missing.reused, 0); /* HTTP/1.0: each response closed its connection */
    CHECK_INT(in_use, 0);
    CHECK_INT(free_count, 0);
    CHECK_INT(requests_logged, 2);
    reply_free(&url_reply);
    reply_free(&missing);
}

/* TEST_CLIENT_ONLY=substring runs only the tests whose names contain it. */
static bool wanted(const char *name) {
    const char *only = getenv("TEST_CLIENT_ONLY");
    return only == NULL || strstr(name, only) != NULL;
}
#define RUN_IF(name)          \
    do {                      \
        if (wanted(#name)) {  \
            RUN(name);        \
        }                     \
    } while (0)

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN_IF(keep_alive_reuses_one_connection_for_three_requests);
    RUN_IF(keep_alive_to_node_is_one_connection_for_three_requests);
    RUN_IF(no_agent_opens_a_connection_per_request);
    RUN_IF(max_sockets_3_bounds_50_concurrent_async_requests);
    RUN_IF(async_ends_from_many_threads_share_max_sockets_on_node);
    RUN_IF(queued_requests_are_served_in_arrival_order);
    RUN_IF(end_async_requests_of_one_thread_go_out_in_call_order);
    RUN_IF(end_async_requests_of_one_thread_reach_node_in_call_order);
    RUN_IF(a_thousand_waiting_end_async_requests_hold_no_thread_each);
    RUN_IF(freeing_an_agent_fails_its_queued_requests_once_each);
    RUN_IF(a_pooled_connection_the_server_closed_is_not_an_error);
    RUN_IF(an_idempotent_request_is_retried_once_when_the_server_drops_it);
    RUN_IF(a_post_the_server_drops_is_not_retried);
    RUN_IF(post_bodies_arrive_byte_exact_chunked_and_by_length);
    RUN_IF(post_bodies_arrive_byte_exact_at_node);
    RUN_IF(a_body_longer_than_its_content_length_is_refused);
    RUN_IF(expect_continue_sends_the_body_after_100);
    RUN_IF(every_response_framing_from_node_reads_to_the_end);
    RUN_IF(a_close_delimited_body_is_read_to_the_close);
    RUN_IF(informational_responses_are_not_the_response);
    RUN_IF(a_server_closing_mid_body_is_connection_closed);
    RUN_IF(a_malformed_response_is_an_http_parse_error);
    RUN_IF(a_response_head_over_16_kib_is_an_http_parse_error);
    RUN_IF(more_than_128_response_header_fields_is_an_http_parse_error);
    RUN_IF(a_chunk_size_line_over_8_kib_is_an_http_parse_error);
    RUN_IF(a_server_that_never_answers_times_out);
    RUN_IF(a_server_stalling_mid_body_times_out);
    RUN_IF(a_connect_nobody_answers_times_out);
    RUN_IF(a_client_certificate_is_accepted_by_node);
    RUN_IF(a_client_certificate_is_accepted_by_nhttps);
    RUN_IF(a_missing_or_unknown_client_certificate_is_refused_by_node);
    RUN_IF(an_unknown_client_certificate_is_refused_by_nhttps);
    RUN_IF(a_refused_client_certificate_is_a_handshake_error);
    RUN_IF(sni_is_the_host_name_and_never_an_ip_address);
    RUN_IF(sni_reaches_node);
    RUN_IF(a_self_signed_certificate_is_depth_zero_self_signed);
    RUN_IF(a_wrong_host_name_is_altname_invalid);
    RUN_IF(an_ip_address_missing_from_the_sans_is_altname_invalid);
    RUN_IF(an_unknown_issuer_is_unable_to_get_issuer_cert_locally);
    RUN_IF(an_expired_certificate_is_cert_has_expired);
    RUN_IF(verification_failures_from_node_carry_codes_too);
    RUN_IF(reject_unauthorized_false_accepts_the_development_certificate);
    RUN_IF(connection_refused_is_connection_refused);
    RUN_IF(an_unknown_host_is_a_dns_error);
    RUN_IF(an_async_failure_reaches_the_callback_with_its_code);
    RUN_IF(requests_over_a_unix_socket_still_speak_tls);
    RUN_IF(a_second_connection_resumes_the_tls_session);
    RUN_IF(a_second_connection_to_node_resumes_the_tls_session);
    RUN_IF(agent_stats_count_in_use_free_and_queued);
    RUN_IF(nhttps_get_uses_the_system_roots);
    RUN_IF(from_url_takes_auth_port_path_and_query);
    RUN_IF(bad_urls_and_options_are_invalid_arguments);
    RUN_IF(repeated_headers_are_all_sent_in_order);
    RUN_IF(a_101_response_hands_over_the_connection);
    RUN_IF(nginx_sees_one_connection_for_three_requests);
    RUN_IF(nginx_takes_sni_client_certificates_and_request_bodies);
    RUN_IF(http_urls_and_the_protocol_option_speak_plain_http);
    stop_every_peer();
    if (h_failed == 0) { /* keep the peers' logs when something failed */
        free(h_capture(NULL, "rm -rf %s", h_dir()));
    }
    return h_finish();
}
