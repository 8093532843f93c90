/* proxy: a TLS-terminating reverse proxy on nhttps — how a legacy
 * plain-HTTP service gains HTTPS without being rewritten.
 *
 *   proxy [--port N] [--cert FILE --key FILE] --upstream http://HOST:PORT
 *
 * The nhttps server takes HTTPS on 127.0.0.1 (port 8443 by default; 0 =
 * ephemeral) with --cert/--key, or with the development certificate when
 * they are not given. Each request goes to the backend through one
 * nhttps agent (kept-alive connections, shared by every connection
 * thread) with the nhttps client speaking plain HTTP:
 *   - method, path and headers are forwarded, minus the hop-by-hop ones
 *     (Connection and the headers it names, Keep-Alive, Proxy-*, TE,
 *     Trailer, Transfer-Encoding, Upgrade) and Host (the backend gets its
 *     own name; the original is in X-Forwarded-Host);
 *   - X-Forwarded-For (the client's address, appended to one the client
 *     sent), X-Forwarded-Proto: https and X-Forwarded-Host are added;
 *   - the request body is streamed: read from the incoming request, written
 *     to the client request as it arrives (chunked upstream unless it came
 *     with a Content-Length);
 *   - the response's status, headers (minus hop-by-hop) and body stream
 *     back the same way.
 * An upstream that cannot be reached, or fails before its response head,
 * gets the client a `502 Bad Gateway` with a short text (the cause goes to
 * stderr). The first line on stdout is `listening on https://127.0.0.1:PORT/`,
 * then one line per request:
 *   method=GET path=/ status=200 bytes=N upstream=new|reused|failed
 * SIGINT or SIGTERM closes the server gracefully (in-flight requests
 * finish) and exits 0.
 *
 * Try it with Python's server as the legacy backend:
 *   python3 -m http.server 8080 --bind 127.0.0.1 &
 *   build/bin/proxy --port 8443 --upstream http://127.0.0.1:8080
 *   curl --insecure https://127.0.0.1:8443/
 *
 * Limitation: when the backend fails in the middle of a chunked or
 * close-delimited response body, the head is already on its way and the
 * response is ended as it stands (a Content-Length response ends short and
 * its connection is closed, so the client notices).
 */
#define _GNU_SOURCE
#include <nhttps.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BUFFER_SIZE (64 * 1024)
#define MAX_XFF 8192

struct config {
    long port;
    const char *cert;
    const char *key;
    const char *upstream; /* http://HOST:PORT */
    const nhttps_agent *agent;
};

static void usage(void) {
    fprintf(stderr, "usage: proxy [--port N] [--cert FILE --key FILE] --upstream http://HOST:PORT\n");
}

static int fail(const char *what) {
    fprintf(stderr, "proxy: %s: %s\n", what, nhttps_last_error_message());
    return 1;
}

static int parse_args(int argc, char **argv, struct config *cfg) {
    cfg->port = 8443;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = (i + 1 < argc) ? argv[i + 1] : NULL;
#define TAKE(field)                                                       \
    do {                                                                  \
        if (value == NULL) {                                              \
            fprintf(stderr, "proxy: %s needs a value\n", a);              \
            return -1;                                                    \
        }                                                                 \
        field = value;                                                    \
        i++;                                                              \
    } while (0)
        if (strcmp(a, "--port") == 0) {
            const char *p = NULL;
            TAKE(p);
            char *end = NULL;
            cfg->port = strtol(p, &end, 10);
            if (*p == '\0' || *end != '\0' || cfg->port < 0 || cfg->port > 65535) {
                fprintf(stderr, "proxy: --port wants 0..65535, not %s\n", p);
                return -1;
            }
        } else if (strcmp(a, "--cert") == 0) {
            TAKE(cfg->cert);
        } else if (strcmp(a, "--key") == 0) {
            TAKE(cfg->key);
        } else if (strcmp(a, "--upstream") == 0) {
            TAKE(cfg->upstream);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
        } else {
            fprintf(stderr, "proxy: unknown argument %s\n", a);
            return -1;
        }
#undef TAKE
    }
    if ((cfg->cert == NULL) != (cfg->key == NULL)) {
        fprintf(stderr, "proxy: --cert and --key go together\n");
        return -1;
    }
    if (cfg->upstream == NULL) {
        fprintf(stderr, "proxy: --upstream http://HOST:PORT is required\n");
        return -1;
    }
    return 0;
}

/* ---- hop-by-hop headers ------------------------------------------------- */

/* Whether `name` is one of the comma-separated tokens of `list`. */
static bool in_token_list(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *p = list; p != NULL && *p != '\0';) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        if (n == len && n > 0 && strncasecmp(p, name, len) == 0) {
            return true;
        }
        p = strchr(p, ',');
    }
    return false;
}

/* Whether any `Connection` header of `message` names `name`. */
static bool named_by_connection(const nhttps_incoming_message *message, const char *name) {
    size_t count = nhttps_incoming_message_header_count(message);
    for (size_t i = 0; i < count; i++) {
        const char *n = NULL, *v = NULL;
        if (nhttps_incoming_message_header_at(message, i, &n, &v) == NHTTPS_OK &&
            strcasecmp(n, "Connection") == 0 && in_token_list(v, name)) {
            return true;
        }
    }
    return false;
}

/* Headers that describe one connection, not the message: never forwarded
 * (RFC 9110 section 7.6.1), nor those the message's Connection names. */
static bool is_hop_by_hop(const nhttps_incoming_message *message, const char *name) {
    static const char *const HOP[] = {"Connection", "Keep-Alive", "TE", "Trailer",
                                      "Transfer-Encoding", "Upgrade"};
    for (size_t i = 0; i < sizeof HOP / sizeof HOP[0]; i++) {
        if (strcasecmp(name, HOP[i]) == 0) {
            return true;
        }
    }
    return strncasecmp(name, "Proxy-", 6) == 0 || named_by_connection(message, name);
}

/* ---- answers ------------------------------------------------------------ */

static void log_line(const nhttps_incoming_message *req, unsigned status,
                     unsigned long long bytes, const char *upstream) {
    char line[4096];
    int n = snprintf(line, sizeof line, "method=%s path=%s status=%u bytes=%llu upstream=%s\n",
                     nhttps_incoming_message_method(req), nhttps_incoming_message_url(req),
                     status, bytes, upstream);
    if (n >= (int)sizeof line) {
        n = (int)sizeof line;
        line[n - 1] = '\n';
    }
    /* One write(2) per line: lines of different connections never interleave. */
    for (ssize_t off = 0, w; off < n; off += w) {
        w = write(STDOUT_FILENO, line + off, (size_t)(n - off));
        if (w <= 0) {
            break;
        }
    }
}

/* Ends `res` with a short text answer. */
static void answer_text(nhttps_incoming_message *req, nhttps_server_response *res,
                        uint16_t status, const char *text) {
    size_t len = strlen(text);
    char length[32];
    snprintf(length, sizeof length, "%zu", len);
    nhttps_server_response_set_status(res, status);
    nhttps_server_response_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    nhttps_server_response_set_header(res, "Content-Length", length);
    bool is_head = strcmp(nhttps_incoming_message_method(req), "HEAD") == 0;
    log_line(req, status, is_head ? 0 : len, "failed");
    nhttps_server_response_end(res, is_head ? NULL : (const uint8_t *)text, is_head ? 0 : len);
}

static void bad_gateway(nhttps_incoming_message *req, nhttps_server_response *res,
                        const char *config_upstream, const char *what) {
    fprintf(stderr, "proxy: upstream %s: %s: %s\n", config_upstream, what,
            nhttps_last_error_message());
    answer_text(req, res, 502, "Bad Gateway: the upstream server failed\n");
}

/* ---- the request ---------------------------------------------------------- */

/* Options for the upstream request: the backend's address, the method and
 * path of `req`, its end-to-end headers and the X-Forwarded-* ones. NULL
 * when the upstream URL does not parse. */
static nhttps_request_options *upstream_options(const struct config *cfg,
                                                const nhttps_incoming_message *req) {
    nhttps_request_options *o = NULL;
    if (nhttps_request_options_from_url(cfg->upstream, &o) != NHTTPS_OK) {
        return NULL;
    }
    nhttps_request_options_set_agent(o, cfg->agent);
    nhttps_request_options_set_method(o, nhttps_incoming_message_method(req));
    nhttps_request_options_set_path(o, nhttps_incoming_message_url(req));

    char xff[MAX_XFF] = "";
    size_t xff_len = 0;
    size_t count = nhttps_incoming_message_header_count(req);
    for (size_t i = 0; i < count; i++) {
        const char *name = NULL, *value = NULL;
        if (nhttps_incoming_message_header_at(req, i, &name, &value) != NHTTPS_OK ||
            is_hop_by_hop(req, name) || strcasecmp(name, "Host") == 0 ||
            strcasecmp(name, "Expect") == 0 || /* the proxy answers 100-continue itself */
            strcasecmp(name, "X-Forwarded-Proto") == 0 ||
            strcasecmp(name, "X-Forwarded-Host") == 0) {
            continue;
        }
        if (strcasecmp(name, "X-Forwarded-For") == 0) {
            /* Repeated fields join into one list, in order. */
            int n = snprintf(xff + xff_len, sizeof xff - xff_len, "%s%s",
                             xff_len > 0 ? ", " : "", value);
            if (n > 0 && (size_t)n < sizeof xff - xff_len) xff_len += (size_t)n;
            continue;
        }
        nhttps_request_options_add_header(o, name, value);
    }
    const char *client = nhttps_socket_info_remote_address(nhttps_incoming_message_socket(req));
    if (client != NULL) {
        int n = snprintf(xff + xff_len, sizeof xff - xff_len, "%s%s", xff_len > 0 ? ", " : "",
                         client);
        if (n > 0 && (size_t)n < sizeof xff - xff_len) xff_len += (size_t)n;
    }
    if (xff_len > 0) {
        nhttps_request_options_add_header(o, "X-Forwarded-For", xff);
    }
    nhttps_request_options_add_header(o, "X-Forwarded-Proto", "https");
    const char *host = nhttps_incoming_message_header(req, "Host");
    if (host != NULL) {
        nhttps_request_options_add_header(o, "X-Forwarded-Host", host);
    }
    return o;
}

/* Streams the body of `req` into `upstream`. 0, or -1 when the client's
 * body failed (`*client_side` true) or the upstream write did. */
static int forward_body(nhttps_incoming_message *req, nhttps_client_request *upstream,
                        uint8_t *buffer, bool *client_side) {
    for (;;) {
        size_t n = 0;
        if (nhttps_incoming_message_read(req, buffer, BUFFER_SIZE, &n) != NHTTPS_OK) {
            *client_side = true;
            return -1;
        }
        if (n == 0) {
            return 0;
        }
        if (nhttps_client_request_write(upstream, buffer, n) != NHTTPS_OK) {
            *client_side = false;
            return -1;
        }
    }
}

/* Copies the status and end-to-end headers of `response` to `res`, sends
 * the head, then streams the body. Returns the body bytes sent. */
static unsigned long long forward_response(nhttps_incoming_message *response,
                                           nhttps_server_response *res, uint8_t *buffer) {
    nhttps_server_response_set_status(res, nhttps_incoming_message_status_code(response));
    const char *reason = nhttps_incoming_message_status_message(response);
    if (reason != NULL && *reason != '\0') {
        nhttps_server_response_set_status_message(res, reason);
    }
    size_t count = nhttps_incoming_message_header_count(response);
    for (size_t i = 0; i < count; i++) {
        const char *name = NULL, *value = NULL;
        if (nhttps_incoming_message_header_at(response, i, &name, &value) == NHTTPS_OK &&
            !is_hop_by_hop(response, name) &&
            nhttps_server_response_append_header(res, name, value) != NHTTPS_OK) {
            fprintf(stderr, "proxy: dropped response header %s: %s\n", name,
                    nhttps_last_error_message());
        }
    }
    /* The head goes out now: a slow body (a long poll, a stream of events)
     * should not hold it back. */
    if (nhttps_server_response_write_head(res, nhttps_incoming_message_status_code(response),
                                          NULL) != NHTTPS_OK) {
        return 0;
    }
    unsigned long long sent = 0;
    for (;;) {
        size_t n = 0;
        nhttps_result rc = nhttps_incoming_message_read(response, buffer, BUFFER_SIZE, &n);
        if (rc != NHTTPS_OK) {
            fprintf(stderr, "proxy: upstream response body: %s\n", nhttps_last_error_message());
            break;
        }
        if (n == 0 || nhttps_server_response_write(res, buffer, n) != NHTTPS_OK) {
            break; /* the end, or the client went away */
        }
        sent += n;
    }
    return sent;
}

static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    const struct config *cfg = userdata;
    const char *url = nhttps_incoming_message_url(req);
    if (url[0] != '/') {
        answer_text(req, res, 400, "Bad Request: origin-form targets only\n");
        return;
    }
    uint8_t *buffer = malloc(BUFFER_SIZE);
    nhttps_request_options *options = buffer == NULL ? NULL : upstream_options(cfg, req);
    nhttps_client_request *upstream = NULL;
    if (options == NULL || nhttps_client_request_new(options, &upstream) != NHTTPS_OK) {
        nhttps_request_options_free(options);
        free(buffer);
        bad_gateway(req, res, cfg->upstream, "request");
        return;
    }
    nhttps_request_options_free(options);

    bool client_side = false;
    if (forward_body(req, upstream, buffer, &client_side) != 0) {
        /* Keep the error message: freeing the request may replace it. */
        char why[512];
        snprintf(why, sizeof why, "%s", nhttps_last_error_message());
        nhttps_client_request_free(upstream); /* closes its upstream connection */
        free(buffer);
        if (client_side) {
            fprintf(stderr, "proxy: request body from the client: %s\n", why);
            answer_text(req, res, 400, "Bad Request: the request body broke off\n");
        } else {
            fprintf(stderr, "proxy: upstream %s: sending the body: %s\n", cfg->upstream, why);
            answer_text(req, res, 502, "Bad Gateway: the upstream server failed\n");
        }
        return;
    }
    nhttps_incoming_message *response = NULL;
    if (nhttps_client_request_end(upstream, &response) != NHTTPS_OK) { /* consumes upstream */
        free(buffer);
        bad_gateway(req, res, cfg->upstream, "response");
        return;
    }
    bool reused =
        nhttps_socket_info_reused_connection(nhttps_incoming_message_socket(response));
    unsigned status = nhttps_incoming_message_status_code(response);
    unsigned long long sent = forward_response(response, res, buffer);
    /* Read to the end, the upstream connection goes back to the agent. */
    nhttps_incoming_message_free(response);
    free(buffer);
    log_line(req, status, sent, reused ? "reused" : "new");
    nhttps_server_response_end(res, NULL, 0);
}

/* ---- setup -------------------------------------------------------------- */

int main(int argc, char **argv) {
    static struct config cfg;
    if (parse_args(argc, argv, &cfg) != 0) {
        usage();
        return 2;
    }
    /* Check the upstream URL once, up front. */
    nhttps_request_options *check = NULL;
    if (nhttps_request_options_from_url(cfg.upstream, &check) != NHTTPS_OK) {
        return fail(cfg.upstream);
    }
    nhttps_request_options_free(check);

    /* Block the stop signals in every thread; main waits for them below. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* One agent for every connection thread: upstream connections are kept
     * alive and shared, at most 32 at once (the rest queue). */
    nhttps_agent_options *agent_options = nhttps_agent_options_new();
    nhttps_agent_options_set_max_sockets(agent_options, 32);
    nhttps_result rc = nhttps_agent_new(agent_options, &cfg.agent);
    nhttps_agent_options_free(agent_options);
    if (rc != NHTTPS_OK) {
        return fail("agent");
    }

    nhttps_server_options *options = nhttps_server_options_new();
    if (cfg.cert == NULL) {
        rc = nhttps_server_options_use_dev_certificate(options);
    } else if ((rc = nhttps_server_options_set_cert_file(options, cfg.cert)) == NHTTPS_OK) {
        rc = nhttps_server_options_set_key_file(options, cfg.key);
    }
    nhttps_server *server = NULL;
    if (rc == NHTTPS_OK) {
        rc = nhttps_server_new(options, &server);
    }
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) {
        fail(cfg.cert != NULL ? "--cert/--key" : "server");
        nhttps_agent_free(cfg.agent);
        return 1;
    }
    nhttps_server_on_request(server, on_request, &cfg);
    if (nhttps_server_listen(server, "127.0.0.1", (uint16_t)cfg.port) != NHTTPS_OK) {
        fail("listen");
        nhttps_server_free(server);
        nhttps_agent_free(cfg.agent);
        return 1;
    }
    printf("listening on https://127.0.0.1:%u/\n", (unsigned)nhttps_server_port(server));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    /* Graceful: stop accepting, let in-flight requests finish, then go. */
    nhttps_server_close(server);
    nhttps_server_free(server);
    nhttps_agent_free(cfg.agent);
    return 0;
}
