/* fetch: a small curl on nhttps's client, over one Agent.
 *
 *   fetch [--ca FILE] [--cert FILE --key FILE [--passphrase P]] [--insecure]
 *         [--servername NAME] [--max-sockets N] [--parallel N] [--no-agent]
 *         [-X METHOD] [-H 'Name: value']... [-d DATA] [-v] URL...
 *
 * stdout: the response bodies, in URL order (with --parallel they are
 * buffered so that the order holds). -v: one line per response on stderr,
 * `status=NNN reused=yes|no tls=VERSION alpn=PROTO` (`-` when unknown).
 * --parallel N issues the URLs from N threads through the one agent, whose
 * maxSockets is --max-sockets (Node's default 5 otherwise); --no-agent
 * opens a fresh connection per request (Node's `agent: false`).
 * -d DATA sends DATA as the body (with Content-Length; POST unless -X says
 * otherwise). Redirects are not followed, as in Node.
 *
 * Exit status: 0 when every request got a response, whatever its status;
 * 1 otherwise, with one line per failure on stderr:
 * `fetch: URL: NHTTPS_ERR_...: message`; 2 for a usage error.
 */
#define _GNU_SOURCE
#include <nhttps.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 64
#define READ_CHUNK (64 * 1024)

struct header {
    char *name;  /* malloc'd */
    char *value; /* points into the same allocation as name */
};

struct config {
    const char *ca;
    const char *cert;
    const char *key;
    const char *passphrase;
    bool insecure;
    const char *servername;
    unsigned long max_sockets; /* 0: the agent's default */
    unsigned long parallel;    /* 0: one URL after another, streaming */
    bool no_agent;
    const char *method;
    struct header headers[MAX_HEADERS];
    size_t header_count;
    const char *data;
    bool verbose;
    char **urls;
    size_t url_count;
    const nhttps_agent *agent; /* NULL with --no-agent */
};

/* What one request came to. */
struct result {
    bool ok;                /* a response arrived and its body was read */
    unsigned status;
    bool reused;
    char *tls;              /* malloc'd copies, NULL when unknown */
    char *alpn;
    char *body;             /* buffered body (--parallel), malloc'd */
    size_t body_len;
    char *error;            /* malloc'd error line, without "fetch: " */
};

struct worker_pool {
    const struct config *cfg;
    struct result *results;
    atomic_size_t next;
};

static void usage(void) {
    fprintf(stderr,
            "usage: fetch [--ca FILE] [--cert FILE --key FILE [--passphrase P]] [--insecure]\n"
            "             [--servername NAME] [--max-sockets N] [--parallel N] [--no-agent]\n"
            "             [-X METHOD] [-H 'Name: value']... [-d DATA] [-v] URL...\n");
}

static char *copy_or_null(const char *s) { return s == NULL ? NULL : strdup(s); }

static const char *or_dash(const char *s) { return (s != NULL && *s != '\0') ? s : "-"; }

static bool parse_count(const char *option, const char *text, unsigned long *out) {
    char *end = NULL;
    unsigned long n = strtoul(text, &end, 10);
    if (*text == '\0' || *text == '-' || *end != '\0' || n == 0 || n > 100000) {
        fprintf(stderr, "fetch: %s wants a number from 1 to 100000, not %s\n", option, text);
        return false;
    }
    *out = n;
    return true;
}

/* "Name: value" → a header; false when there is no colon or no name. */
static bool parse_header(const char *text, struct header *out) {
    const char *colon = strchr(text, ':');
    if (colon == NULL || colon == text) {
        fprintf(stderr, "fetch: -H wants 'Name: value', not %s\n", text);
        return false;
    }
    char *copy = strdup(text);
    if (copy == NULL) {
        return false;
    }
    size_t name_len = (size_t)(colon - text);
    copy[name_len] = '\0';
    char *value = copy + name_len + 1;
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    size_t len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) {
        value[--len] = '\0';
    }
    out->name = copy;
    out->value = value;
    return true;
}

static void free_config(struct config *cfg) {
    for (size_t i = 0; i < cfg->header_count; i++) {
        free(cfg->headers[i].name);
    }
    cfg->header_count = 0;
}

static int parse_args(int argc, char **argv, struct config *cfg) {
    bool only_urls = false;
    cfg->urls = calloc((size_t)argc, sizeof *cfg->urls);
    if (cfg->urls == NULL) {
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (only_urls || a[0] != '-' || a[1] == '\0') {
            cfg->urls[cfg->url_count++] = argv[i];
            continue;
        }
#define TAKE(field)                                                       \
    do {                                                                  \
        if (value == NULL) {                                              \
            fprintf(stderr, "fetch: %s needs a value\n", a);              \
            return -1;                                                    \
        }                                                                 \
        field = value;                                                    \
        i++;                                                              \
    } while (0)
        if (strcmp(a, "--") == 0) {
            only_urls = true;
        } else if (strcmp(a, "--ca") == 0) {
            TAKE(cfg->ca);
        } else if (strcmp(a, "--cert") == 0) {
            TAKE(cfg->cert);
        } else if (strcmp(a, "--key") == 0) {
            TAKE(cfg->key);
        } else if (strcmp(a, "--passphrase") == 0) {
            TAKE(cfg->passphrase);
        } else if (strcmp(a, "--insecure") == 0) {
            cfg->insecure = true;
        } else if (strcmp(a, "--servername") == 0) {
            TAKE(cfg->servername);
        } else if (strcmp(a, "--max-sockets") == 0) {
            const char *n = NULL;
            TAKE(n);
            if (!parse_count(a, n, &cfg->max_sockets)) return -1;
        } else if (strcmp(a, "--parallel") == 0) {
            const char *n = NULL;
            TAKE(n);
            if (!parse_count(a, n, &cfg->parallel)) return -1;
        } else if (strcmp(a, "--no-agent") == 0) {
            cfg->no_agent = true;
        } else if (strcmp(a, "-X") == 0) {
            TAKE(cfg->method);
        } else if (strcmp(a, "-H") == 0) {
            const char *h = NULL;
            TAKE(h);
            if (cfg->header_count == MAX_HEADERS) {
                fprintf(stderr, "fetch: at most %d -H\n", MAX_HEADERS);
                return -1;
            }
            if (!parse_header(h, &cfg->headers[cfg->header_count])) return -1;
            cfg->header_count++;
        } else if (strcmp(a, "-d") == 0) {
            TAKE(cfg->data);
        } else if (strcmp(a, "-v") == 0) {
            cfg->verbose = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
        } else {
            fprintf(stderr, "fetch: unknown option %s\n", a);
            return -1;
        }
#undef TAKE
    }
    if ((cfg->cert == NULL) != (cfg->key == NULL)) {
        fprintf(stderr, "fetch: --cert and --key go together\n");
        return -1;
    }
    if (cfg->url_count == 0) {
        fprintf(stderr, "fetch: no URL\n");
        return -1;
    }
    if (cfg->method == NULL) {
        cfg->method = cfg->data != NULL ? "POST" : "GET";
    }
    return 0;
}

/* Records a failure of `what` (a call that just failed on this thread). */
static void fail(struct result *r, const char *url, nhttps_result rc, const char *what) {
    const char *name = nhttps_result_name((int)rc);
    const char *message = nhttps_last_error_message();
    size_t size = strlen(url) + strlen(name) + strlen(message) + (what ? strlen(what) : 0) + 16;
    free(r->error);
    r->error = malloc(size);
    if (r->error != NULL) {
        snprintf(r->error, size, "%s: %s: %s%s%s", url, name, what ? what : "", what ? ": " : "",
                 message);
    }
    r->ok = false;
}

/* The request options for `url`: everything the command line says. */
static nhttps_result build_options(const struct config *cfg, const char *url,
                                   nhttps_request_options **out, const char **what) {
    nhttps_request_options *o = NULL;
    nhttps_result rc = nhttps_request_options_from_url(url, &o);
    *what = NULL;
    if (rc != NHTTPS_OK) {
        return rc;
    }
#define STEP(call, label)          \
    do {                           \
        rc = (call);               \
        if (rc != NHTTPS_OK) {     \
            *what = (label);       \
            goto failed;           \
        }                          \
    } while (0)
    STEP(nhttps_request_options_set_method(o, cfg->method), "-X");
    bool has_length = false;
    for (size_t i = 0; i < cfg->header_count; i++) {
        STEP(nhttps_request_options_add_header(o, cfg->headers[i].name, cfg->headers[i].value),
             "-H");
        has_length = has_length || strcasecmp(cfg->headers[i].name, "content-length") == 0;
    }
    if (cfg->data != NULL && !has_length) {
        char length[32];
        snprintf(length, sizeof length, "%zu", strlen(cfg->data));
        STEP(nhttps_request_options_add_header(o, "Content-Length", length), "-d");
    }
    if (cfg->ca != NULL) STEP(nhttps_request_options_add_ca_file(o, cfg->ca), "--ca");
    if (cfg->cert != NULL) STEP(nhttps_request_options_set_cert_file(o, cfg->cert), "--cert");
    if (cfg->key != NULL) STEP(nhttps_request_options_set_key_file(o, cfg->key), "--key");
    if (cfg->passphrase != NULL) {
        STEP(nhttps_request_options_set_passphrase(o, cfg->passphrase), "--passphrase");
    }
    if (cfg->insecure) STEP(nhttps_request_options_set_reject_unauthorized(o, false), "--insecure");
    if (cfg->servername != NULL) {
        STEP(nhttps_request_options_set_servername(o, cfg->servername), "--servername");
    }
    if (cfg->no_agent) {
        STEP(nhttps_request_options_set_no_agent(o), "--no-agent");
    } else {
        STEP(nhttps_request_options_set_agent(o, cfg->agent), "agent");
    }
#undef STEP
    *out = o;
    return NHTTPS_OK;
failed:
    nhttps_request_options_free(o);
    return rc;
}

/* Appends `n` bytes to the result's body buffer. */
static bool append(struct result *r, size_t *cap, const char *data, size_t n) {
    if (r->body_len + n > *cap) {
        size_t want = *cap == 0 ? READ_CHUNK : *cap;
        while (want < r->body_len + n) want *= 2;
        char *grown = realloc(r->body, want);
        if (grown == NULL) return false;
        r->body = grown;
        *cap = want;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    return true;
}

static void print_verbose(const struct result *r) {
    fprintf(stderr, "status=%03u reused=%s tls=%s alpn=%s\n", r->status, r->reused ? "yes" : "no",
            or_dash(r->tls), or_dash(r->alpn));
}

/* Sends one request and reads its response: streamed to stdout when
 * `stream`, else kept in r->body. */
static void fetch_one(const struct config *cfg, const char *url, struct result *r, bool stream) {
    nhttps_request_options *options = NULL;
    const char *what = NULL;
    nhttps_result rc = build_options(cfg, url, &options, &what);
    if (rc != NHTTPS_OK) {
        fail(r, url, rc, what);
        return;
    }
    nhttps_client_request *request = NULL;
    rc = nhttps_client_request_new(options, &request);
    nhttps_request_options_free(options);
    if (rc != NHTTPS_OK) {
        fail(r, url, rc, NULL);
        return;
    }
    if (cfg->data != NULL && cfg->data[0] != '\0') {
        rc = nhttps_client_request_write(request, (const uint8_t *)cfg->data, strlen(cfg->data));
        if (rc != NHTTPS_OK) {
            fail(r, url, rc, "sending the body");
            nhttps_client_request_free(request);
            return;
        }
    }
    nhttps_incoming_message *response = NULL;
    rc = nhttps_client_request_end(request, &response); /* consumes request */
    if (rc != NHTTPS_OK) {
        fail(r, url, rc, NULL);
        return;
    }
    r->status = nhttps_incoming_message_status_code(response);
    const nhttps_socket_info *info = nhttps_incoming_message_socket(response);
    r->reused = nhttps_socket_info_reused_connection(info);
    r->tls = copy_or_null(nhttps_socket_info_tls_version(info));
    r->alpn = copy_or_null(nhttps_socket_info_alpn_protocol(info));

    char *buffer = malloc(READ_CHUNK);
    size_t cap = 0;
    r->ok = buffer != NULL;
    while (r->ok) {
        size_t n = 0;
        rc = nhttps_incoming_message_read(response, (uint8_t *)buffer, READ_CHUNK, &n);
        if (rc != NHTTPS_OK) {
            fail(r, url, rc, "reading the body");
            break;
        }
        if (n == 0) {
            break;
        }
        if (stream) {
            fwrite(buffer, 1, n, stdout);
        } else if (!append(r, &cap, buffer, n)) {
            r->ok = false;
            r->error = strdup("out of memory");
        }
    }
    free(buffer);
    if (stream) {
        fflush(stdout);
    }
    /* Gives the connection back to the agent (the body was read to the end). */
    nhttps_incoming_message_free(response);
}

static void *worker(void *arg) {
    struct worker_pool *pool = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&pool->next, 1);
        if (i >= pool->cfg->url_count) {
            return NULL;
        }
        fetch_one(pool->cfg, pool->cfg->urls[i], &pool->results[i], false);
    }
}

/* Reports a result: its -v line and its error line. */
static void report(const struct config *cfg, const struct result *r) {
    if (cfg->verbose && r->status != 0) {
        print_verbose(r);
    }
    if (!r->ok) {
        fprintf(stderr, "fetch: %s\n", r->error != NULL ? r->error : "failed");
    }
}

static void free_result(struct result *r) {
    free(r->tls);
    free(r->alpn);
    free(r->body);
    free(r->error);
}

int main(int argc, char **argv) {
    static struct config cfg;
    if (parse_args(argc, argv, &cfg) != 0) {
        usage();
        free_config(&cfg);
        free(cfg.urls);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    if (!cfg.no_agent) {
        nhttps_agent_options *agent_options = nhttps_agent_options_new();
        nhttps_result rc = NHTTPS_OK;
        if (cfg.max_sockets != 0) {
            rc = nhttps_agent_options_set_max_sockets(agent_options, (uint32_t)cfg.max_sockets);
        }
        if (rc == NHTTPS_OK) {
            rc = nhttps_agent_new(agent_options, &cfg.agent);
        }
        nhttps_agent_options_free(agent_options);
        if (rc != NHTTPS_OK) {
            fprintf(stderr, "fetch: agent: %s: %s\n", nhttps_result_name((int)rc),
                    nhttps_last_error_message());
            free_config(&cfg);
            free(cfg.urls);
            return 1;
        }
    }

    struct result *results = calloc(cfg.url_count, sizeof *results);
    if (results == NULL) {
        fprintf(stderr, "fetch: out of memory\n");
        nhttps_agent_free(cfg.agent);
        free_config(&cfg);
        free(cfg.urls);
        return 1;
    }
    int status = 0;
    if (cfg.parallel == 0) {
        /* One after another, each body streamed as it arrives. */
        for (size_t i = 0; i < cfg.url_count; i++) {
            fetch_one(&cfg, cfg.urls[i], &results[i], true);
            report(&cfg, &results[i]);
        }
    } else {
        struct worker_pool pool = {.cfg = &cfg, .results = results};
        atomic_init(&pool.next, 0);
        size_t threads = cfg.parallel < cfg.url_count ? cfg.parallel : cfg.url_count;
        pthread_t *ids = calloc(threads, sizeof *ids);
        size_t started = 0;
        while (ids != NULL && started < threads &&
               pthread_create(&ids[started], NULL, worker, &pool) == 0) {
            started++;
        }
        if (started == 0) {
            worker(&pool); /* no thread could start: do the work here */
        }
        for (size_t t = 0; t < started; t++) {
            pthread_join(ids[t], NULL);
        }
        free(ids);
        /* Bodies (and -v lines) in URL order, whatever order they came in. */
        for (size_t i = 0; i < cfg.url_count; i++) {
            if (results[i].body_len > 0) {
                fwrite(results[i].body, 1, results[i].body_len, stdout);
            }
            fflush(stdout);
            report(&cfg, &results[i]);
        }
    }
    for (size_t i = 0; i < cfg.url_count; i++) {
        if (!results[i].ok) {
            status = 1;
        }
        free_result(&results[i]);
    }
    free(results);
    nhttps_agent_free(cfg.agent); /* closes the idle connections */
    free_config(&cfg);
    free(cfg.urls);
    return status;
}
