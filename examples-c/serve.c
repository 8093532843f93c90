/* serve: a static-file HTTPS server on nhttps.
 *
 *   serve [--host ADDR] [--port N] [--cert FILE --key FILE [--passphrase P]]
 *         [--ca FILE] [--request-cert] [--reject-unauthorized]
 *         [--sni NAME=CERT,KEY[,OCSP]]... [--alpn LIST] [--npn LIST]
 *         [--ocsp FILE] [--reuse-port] [--proxy-protocol] [--ticket-keys FILE]
 *         [--status PATH] [DIR]
 *
 * Defaults: 127.0.0.1, port 8443 (0 = ephemeral), the development
 * certificate when no --cert/--key is given, and a small bundled demo site
 * when no DIR is given. --ocsp staples FILE, a DER OCSP response (`openssl
 * ocsp -respout`), for the default certificate; an --sni identity staples
 * its own OCSP file when one follows its key. The first line on stdout is
 * `listening on https://HOST:PORT/`; then one access-log line per response.
 * SIGINT or SIGTERM closes the server gracefully and exits 0.
 *
 * In production (docs/deploy.md):
 * - --reuse-port: several serve processes share the port (SO_REUSEPORT);
 * - --proxy-protocol: every connection starts with a PROXY protocol header
 *   (HAProxy's send-proxy / send-proxy-v2); remote= in the log is its source;
 * - --ticket-keys FILE: the 80 session-ticket key bytes, shared by a fleet
 *   so that each process resumes the others' sessions;
 * - --status PATH: GET PATH answers the server's counters as JSON;
 * - socket activation: when LISTEN_PID is serve's pid and LISTEN_FDS >= 1,
 *   serve listens on fd 3 (--host/--port are ignored);
 * - SIGHUP re-reads the certificate, key, CA, --sni, --ocsp and ticket-key files and
 *   swaps them in for new connections (prints `reloaded`); a file that fails
 *   to load keeps the old ones in place and says why on stderr.
 */
#define _GNU_SOURCE
#include <nhttps.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <linux/openat2.h>
#include <unistd.h>

#define MAX_LIST 16
#define MAX_SNI 16

/* ---- the bundled demo site ---------------------------------------------- */

struct demo_file {
    const char *path;
    const char *type;
    const char *body;
};

static const struct demo_file DEMO_SITE[] = {
    {"/index.html", "text/html; charset=utf-8",
     "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>nhttps</title>\n"
     "<link rel=\"stylesheet\" href=\"/style.css\"></head>\n"
     "<body><h1>Hello from nhttps</h1>\n"
     "<p>Node's <code>https</code> module, in C. This page came over TLS from "
     "<code>examples-c/serve.c</code>.</p>\n"
     "<p>Serve your own files: <code>build/bin/serve DIR</code>.</p>\n"
     "</body></html>\n"},
    {"/style.css", "text/css; charset=utf-8",
     "body { font-family: sans-serif; max-width: 40em; margin: 3em auto; }\n"
     "code { background: #eee; padding: 0 .2em; }\n"},
};

/* ---- configuration ------------------------------------------------------ */

struct config {
    const char *host;
    long port;
    const char *cert;
    const char *key;
    const char *passphrase;
    const char *ca;
    bool request_cert;
    bool reject_unauthorized;
    const char *sni[MAX_SNI];
    size_t sni_count;
    const char *alpn;
    const char *npn;
    const char *ocsp;
    bool reuse_port;
    bool proxy_protocol;
    const char *ticket_keys;
    const char *status;
    const char *dir;
    char root[PATH_MAX]; /* realpath of dir */
    int root_fd;         /* dir, opened once */
    nhttps_server *server;
};

static void usage(void) {
    fprintf(stderr,
            "usage: serve [--host ADDR] [--port N] [--cert FILE --key FILE [--passphrase P]]\n"
            "             [--ca FILE] [--request-cert] [--reject-unauthorized]\n"
            "             [--sni NAME=CERT,KEY[,OCSP]]... [--alpn LIST] [--npn LIST]\n"
            "             [--ocsp FILE] [--reuse-port] [--proxy-protocol] [--ticket-keys FILE]\n"
            "             [--status PATH] [DIR]\n"
            "  --ocsp FILE   staple FILE, a DER OCSP response, for the default certificate\n"
            "                (an --sni identity staples the OCSP file after its key)\n");
}

static int fail(const char *what) {
    fprintf(stderr, "serve: %s: %s\n", what, nhttps_last_error_message());
    return 1;
}

static int parse_args(int argc, char **argv, struct config *cfg) {
    cfg->host = "127.0.0.1";
    cfg->port = 8443;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = (i + 1 < argc) ? argv[i + 1] : NULL;
#define TAKE(field)                                                       \
    do {                                                                  \
        if (value == NULL) {                                              \
            fprintf(stderr, "serve: %s needs a value\n", a);              \
            return -1;                                                    \
        }                                                                 \
        field = value;                                                    \
        i++;                                                              \
    } while (0)
        if (strcmp(a, "--host") == 0) {
            TAKE(cfg->host);
        } else if (strcmp(a, "--port") == 0) {
            const char *p = NULL;
            TAKE(p);
            char *end = NULL;
            cfg->port = strtol(p, &end, 10);
            if (*p == '\0' || *end != '\0' || cfg->port < 0 || cfg->port > 65535) {
                fprintf(stderr, "serve: --port wants 0..65535, not %s\n", p);
                return -1;
            }
        } else if (strcmp(a, "--cert") == 0) {
            TAKE(cfg->cert);
        } else if (strcmp(a, "--key") == 0) {
            TAKE(cfg->key);
        } else if (strcmp(a, "--passphrase") == 0) {
            TAKE(cfg->passphrase);
        } else if (strcmp(a, "--ca") == 0) {
            TAKE(cfg->ca);
        } else if (strcmp(a, "--request-cert") == 0) {
            cfg->request_cert = true;
        } else if (strcmp(a, "--reject-unauthorized") == 0) {
            cfg->reject_unauthorized = true;
        } else if (strcmp(a, "--sni") == 0) {
            if (cfg->sni_count == MAX_SNI) {
                fprintf(stderr, "serve: at most %d --sni\n", MAX_SNI);
                return -1;
            }
            TAKE(cfg->sni[cfg->sni_count]);
            cfg->sni_count++;
        } else if (strcmp(a, "--alpn") == 0) {
            TAKE(cfg->alpn);
        } else if (strcmp(a, "--npn") == 0) {
            TAKE(cfg->npn);
        } else if (strcmp(a, "--ocsp") == 0) {
            TAKE(cfg->ocsp);
        } else if (strcmp(a, "--reuse-port") == 0) {
            cfg->reuse_port = true;
        } else if (strcmp(a, "--proxy-protocol") == 0) {
            cfg->proxy_protocol = true;
        } else if (strcmp(a, "--ticket-keys") == 0) {
            TAKE(cfg->ticket_keys);
        } else if (strcmp(a, "--status") == 0) {
            TAKE(cfg->status);
            if (cfg->status[0] != '/') {
                fprintf(stderr, "serve: --status wants a path starting with /, not %s\n",
                        cfg->status);
                return -1;
            }
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "serve: unknown option %s\n", a);
            return -1;
        } else if (cfg->dir == NULL) {
            cfg->dir = a;
        } else {
            fprintf(stderr, "serve: one DIR only\n");
            return -1;
        }
#undef TAKE
    }
    if ((cfg->cert == NULL) != (cfg->key == NULL)) {
        fprintf(stderr, "serve: --cert and --key go together\n");
        return -1;
    }
    if (cfg->dir != NULL && (realpath(cfg->dir, cfg->root) == NULL ||
                             (cfg->root_fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)) {
        fprintf(stderr, "serve: %s: %s\n", cfg->dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Splits a comma-separated LIST into at most MAX_LIST strings in `copy`. */
static size_t split_list(const char *list, char *copy, size_t copy_size, const char **items) {
    snprintf(copy, copy_size, "%s", list);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok != NULL && n < MAX_LIST;
         tok = strtok_r(NULL, ",", &save)) {
        items[n++] = tok;
    }
    return n;
}

/* ---- access log --------------------------------------------------------- */

static const char *or_dash(const char *s) { return (s != NULL && *s != '\0') ? s : "-"; }

/* `v` in decimal, written at the end of `out`; returns where it starts.
 * (snprintf costs ten times more, and this runs for every response.) */
static const char *decimal(char out[24], unsigned long long v) {
    char *p = out + 23;
    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

/* An access-log line being built; what does not fit is cut off. */
struct log_line {
    char text[4096];
    size_t len;
};

static void put(struct log_line *l, const char *s) {
    size_t room = sizeof l->text - 1 - l->len; /* 1: the newline */
    size_t n = strlen(s);
    n = n < room ? n : room;
    memcpy(l->text + l->len, s, n);
    l->len += n;
}

static void log_response(const struct config *cfg, const nhttps_incoming_message *req,
                         unsigned status, unsigned long long bytes) {
    const nhttps_socket_info *info = nhttps_incoming_message_socket(req);
    const char *authorized = "-";
    if (cfg->request_cert) {
        authorized = nhttps_socket_info_authorized(info) ? "yes" : "no";
    }
    char digits[24];
    struct log_line l = {.len = 0};
    put(&l, "method=");
    put(&l, nhttps_incoming_message_method(req));
    put(&l, " path=");
    put(&l, nhttps_incoming_message_url(req));
    put(&l, " status=");
    put(&l, decimal(digits, status));
    put(&l, " bytes=");
    put(&l, decimal(digits, bytes));
    put(&l, " tls=");
    put(&l, or_dash(nhttps_socket_info_tls_version(info)));
    put(&l, " alpn=");
    put(&l, or_dash(nhttps_socket_info_alpn_protocol(info)));
    put(&l, " sni=");
    put(&l, or_dash(nhttps_socket_info_servername(info)));
    put(&l, " authorized=");
    put(&l, authorized);
    put(&l, " peer=");
    put(&l, or_dash(nhttps_socket_info_peer_common_name(info)));
    /* Last, so that the earlier fields keep their places (issue 2's
     * format); with --proxy-protocol, the client behind the proxy. */
    put(&l, " remote=");
    put(&l, or_dash(nhttps_socket_info_remote_address(info)));
    put(&l, ":");
    put(&l, decimal(digits, nhttps_socket_info_remote_port(info)));
    l.text[l.len++] = '\n';
    /* One write(2) per line: lines from different connection threads never
     * interleave, and no lock is shared by all connections. */
    for (size_t off = 0; off < l.len;) {
        ssize_t w = write(STDOUT_FILENO, l.text + off, l.len - off);
        if (w <= 0) {
            break;
        }
        off += (size_t)w;
    }
}

/* ---- answers ------------------------------------------------------------ */

static void answer_text(const struct config *cfg, nhttps_incoming_message *req,
                        nhttps_server_response *res, uint16_t status, const char *text,
                        bool is_head) {
    size_t len = strlen(text);
    char length[24];
    nhttps_server_response_set_status(res, status);
    nhttps_server_response_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    nhttps_server_response_set_header(res, "Content-Length", decimal(length, len));
    nhttps_server_response_end(res, is_head ? NULL : (const uint8_t *)text, is_head ? 0 : len);
    log_response(cfg, req, status, is_head ? 0 : len);
}

static const char *content_type(const char *path) {
    static const struct {
        const char *ext;
        const char *type;
    } TYPES[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/markdown; charset=utf-8"},
        {".xml", "application/xml"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},
        {".pdf", "application/pdf"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot != NULL && (slash == NULL || dot > slash)) {
        for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
            if (strcasecmp(dot, TYPES[i].ext) == 0) {
                return TYPES[i].type;
            }
        }
    }
    return "application/octet-stream";
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the path part of `url` (no query, no fragment) into `out` and
 * checks it: it must start with '/', decode cleanly, hold no NUL and no
 * ".." or "." segment. Returns false for a path that must not be served. */
static bool decode_path(const char *url, char *out, size_t out_size) {
    if (url[0] != '/') {
        return false;
    }
    size_t n = 0;
    for (const char *p = url; *p != '\0' && *p != '?' && *p != '#'; p++) {
        char c = *p;
        if (c == '%') {
            int hi = hex_value(p[1]);
            int lo = hi < 0 ? -1 : hex_value(p[2]);
            if (lo < 0) {
                return false;
            }
            c = (char)(hi * 16 + lo);
            p += 2;
        }
        if (c == '\0' || c == '\\' || n + 1 >= out_size) {
            return false;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    /* No segment may be "." or ".." once decoded. */
    for (const char *seg = out; seg != NULL; seg = strchr(seg + 1, '/')) {
        const char *s = seg + 1;
        size_t len = strcspn(s, "/");
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
            return false;
        }
    }
    return true;
}

static void serve_demo(const struct config *cfg, nhttps_incoming_message *req,
                       nhttps_server_response *res, const char *path, bool is_head) {
    if (strcmp(path, "/") == 0) {
        path = "/index.html";
    }
    for (size_t i = 0; i < sizeof DEMO_SITE / sizeof DEMO_SITE[0]; i++) {
        if (strcmp(path, DEMO_SITE[i].path) == 0) {
            size_t len = strlen(DEMO_SITE[i].body);
            char length[24];
            nhttps_server_response_set_header(res, "Content-Type", DEMO_SITE[i].type);
            nhttps_server_response_set_header(res, "Content-Length", decimal(length, len));
            nhttps_server_response_end(res, is_head ? NULL : (const uint8_t *)DEMO_SITE[i].body,
                                       is_head ? 0 : len);
            log_response(cfg, req, 200, is_head ? 0 : len);
            return;
        }
    }
    answer_text(cfg, req, res, 404, "Not Found\n", is_head);
}

/* Whether `resolved` is `root` or lies inside it. */
static bool inside(const char *root, const char *resolved) {
    size_t n = strlen(root);
    if (strncmp(root, resolved, n) != 0) {
        return false;
    }
    return resolved[n] == '\0' || resolved[n] == '/' || (n == 1 && root[0] == '/');
}

/* Opens `rel` (relative, no "." or ".." segments) beneath the directory
 * `dirfd`. With openat2(2) and RESOLVE_BENEATH the kernel itself refuses
 * any path, symlinks included, that would leave the directory; where
 * openat2 is missing (Linux < 5.6) the path is resolved with realpath and
 * checked against `root`. -1 when it cannot or must not be opened. */
static int open_beneath(int dirfd, const char *root, const char *dir, const char *rel) {
#ifdef SYS_openat2
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS) {
        return fd;
    }
#else
    (void)dirfd;
#endif
    char wanted[PATH_MAX * 2];
    char resolved[PATH_MAX];
    snprintf(wanted, sizeof wanted, "%s/%s", dir, rel);
    if (realpath(wanted, resolved) == NULL || !inside(root, resolved)) {
        return -1;
    }
    return open(resolved, O_RDONLY | O_CLOEXEC);
}

/* ---- small files, kept in memory for a second ---------------------------- */

/* A file of up to 64 KiB is read once and then answered from memory for
 * a second: a busy page costs no system call. A changed file is seen
 * within that second (nginx's open_file_cache_valid does the same, for
 * 60 s). Entries are reference-counted, so one can be replaced while a
 * slow client is still being sent the old one. */
enum { CACHE_SLOTS = 256, CACHE_MAX_FILE = 64 * 1024, CACHE_VALID_MS = 1000 };

struct cached_file {
    atomic_int refs; /* one for the table, one per response sending it */
    long long loaded_ms;
    const char *type;
    char *path;
    size_t len;
    uint8_t data[];
};

static struct cached_file *cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t cache_slot(const char *path) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *path != '\0'; path++) {
        h = (h ^ (unsigned char)*path) * 1099511628211ULL;
    }
    return (size_t)(h % CACHE_SLOTS);
}

static void cache_release(struct cached_file *f) {
    if (f != NULL && atomic_fetch_sub(&f->refs, 1) == 1) {
        free(f->path);
        free(f);
    }
}

/* The fresh entry for `path`, with a reference for the caller, or NULL. */
static struct cached_file *cache_get(const char *path) {
    size_t slot = cache_slot(path);
    pthread_mutex_lock(&cache_lock);
    struct cached_file *f = cache[slot];
    if (f != NULL && strcmp(f->path, path) == 0 && now_ms() - f->loaded_ms < CACHE_VALID_MS) {
        atomic_fetch_add(&f->refs, 1);
    } else {
        f = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
    return f;
}

/* Reads the open regular file `fd` (`size` bytes) into a new entry for
 * `path`, stores it and returns it with a reference for the caller; NULL
 * when it cannot (the caller then streams the file). */
static struct cached_file *cache_load(const char *path, int fd, size_t size, const char *type) {
    struct cached_file *f = malloc(sizeof *f + size);
    char *key = strdup(path);
    size_t got = 0;
    ssize_t n = 1;
    while (f != NULL && got < size && (n = read(fd, f->data + got, size - got)) > 0) {
        got += (size_t)n;
    }
    if (f == NULL || key == NULL || got != size || n < 0) {
        free(f);
        free(key);
        return NULL;
    }
    atomic_init(&f->refs, 2);
    f->loaded_ms = now_ms();
    f->type = type;
    f->path = key;
    f->len = size;
    size_t slot = cache_slot(path);
    pthread_mutex_lock(&cache_lock);
    struct cached_file *old = cache[slot];
    cache[slot] = f;
    pthread_mutex_unlock(&cache_lock);
    cache_release(old);
    return f;
}

/* ---- files -------------------------------------------------------------- */

static void send_cached(const struct config *cfg, nhttps_incoming_message *req,
                        nhttps_server_response *res, struct cached_file *f, bool is_head) {
    char length[24];
    nhttps_server_response_set_header(res, "Content-Type", f->type);
    nhttps_server_response_set_header(res, "Content-Length", decimal(length, f->len));
    /* Head and body leave in one call (one TLS record). */
    nhttps_server_response_end(res, is_head ? NULL : f->data, is_head ? 0 : f->len);
    log_response(cfg, req, 200, is_head ? 0 : f->len);
    cache_release(f);
}

static void serve_file(const struct config *cfg, nhttps_incoming_message *req,
                       nhttps_server_response *res, const char *path, bool is_head) {
    struct cached_file *cached = cache_get(path);
    if (cached != NULL) {
        send_cached(cfg, req, res, cached, is_head);
        return;
    }
    const char *rel = path[1] != '\0' ? path + 1 : ".";
    int fd = open_beneath(cfg->root_fd, cfg->root, cfg->root, rel);
    struct stat st;
    const char *name = path;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        name = "index.html";
        char dir[PATH_MAX * 2];
        snprintf(dir, sizeof dir, "%s/%s", cfg->root, rel);
        int index = open_beneath(fd, cfg->root, dir, "index.html");
        close(fd);
        fd = index;
    }
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        answer_text(cfg, req, res, 404, "Not Found\n", is_head);
        return;
    }
    if (st.st_size <= CACHE_MAX_FILE &&
        (cached = cache_load(path, fd, (size_t)st.st_size, content_type(name))) != NULL) {
        close(fd);
        send_cached(cfg, req, res, cached, is_head);
        return;
    }
    char length[24];
    nhttps_server_response_set_header(res, "Content-Type", content_type(name));
    nhttps_server_response_set_header(res, "Content-Length",
                                      decimal(length, (unsigned long long)st.st_size));
    unsigned long long sent = 0;
    enum { CHUNK = 64 * 1024 };
    uint8_t *buffer = is_head ? NULL : malloc(CHUNK);
    ssize_t n = 0;
    while (buffer != NULL && (n = read(fd, buffer, CHUNK)) > 0) {
        if (nhttps_server_response_write(res, buffer, (size_t)n) != NHTTPS_OK) {
            break; /* the client went away; end() below closes the connection */
        }
        sent += (unsigned long long)n;
    }
    nhttps_server_response_end(res, NULL, 0);
    free(buffer);
    close(fd);
    log_response(cfg, req, 200, sent);
}

/* --status PATH: the server's counters as one JSON object. */
static void answer_status(const struct config *cfg, nhttps_incoming_message *req,
                          nhttps_server_response *res, bool is_head) {
    nhttps_stats stats = {.size = sizeof stats};
    if (nhttps_server_stats(cfg->server, &stats) != NHTTPS_OK) {
        answer_text(cfg, req, res, 500, "Internal Server Error\n", is_head);
        return;
    }
    char body[512];
    int len = snprintf(body, sizeof body,
                       "{\"accepted\":%llu,\"open\":%llu,\"idle\":%llu,"
                       "\"handshake_failures\":%llu,\"requests\":%llu,"
                       "\"bytes_in\":%llu,\"bytes_out\":%llu}\n",
                       (unsigned long long)stats.accepted, (unsigned long long)stats.open,
                       (unsigned long long)stats.idle,
                       (unsigned long long)stats.handshake_failures,
                       (unsigned long long)stats.requests, (unsigned long long)stats.bytes_in,
                       (unsigned long long)stats.bytes_out);
    char length[24];
    nhttps_server_response_set_header(res, "Content-Type", "application/json");
    nhttps_server_response_set_header(res, "Cache-Control", "no-store");
    nhttps_server_response_set_header(res, "Content-Length", decimal(length, (unsigned)len));
    nhttps_server_response_end(res, is_head ? NULL : (const uint8_t *)body,
                               is_head ? 0 : (size_t)len);
    log_response(cfg, req, 200, is_head ? 0 : (unsigned long long)len);
}

static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    const struct config *cfg = userdata;
    const char *method = nhttps_incoming_message_method(req);
    bool is_head = strcmp(method, "HEAD") == 0;
    if (!is_head && strcmp(method, "GET") != 0) {
        nhttps_server_response_set_header(res, "Allow", "GET, HEAD");
        answer_text(cfg, req, res, 405, "Method Not Allowed\n", false);
        return;
    }
    char path[PATH_MAX];
    if (!decode_path(nhttps_incoming_message_url(req), path, sizeof path)) {
        answer_text(cfg, req, res, 404, "Not Found\n", is_head);
        return;
    }
    if (cfg->status != NULL && strcmp(path, cfg->status) == 0) {
        answer_status(cfg, req, res, is_head);
    } else if (cfg->dir == NULL) {
        serve_demo(cfg, req, res, path, is_head);
    } else {
        serve_file(cfg, req, res, path, is_head);
    }
}

/* ---- setup -------------------------------------------------------------- */

static nhttps_result set_protocols(nhttps_server_options *options, const char *list, bool npn) {
    char copy[1024];
    const char *items[MAX_LIST];
    size_t n = split_list(list, copy, sizeof copy, items);
    return npn ? nhttps_server_options_set_npn_protocols(options, items, n)
               : nhttps_server_options_set_alpn_protocols(options, items, n);
}

/* Builds the options shared by the default identity and every --sni one. */
static int configure_tls(const struct config *cfg, nhttps_server_options *options,
                         const char *cert, const char *key) {
    if (cert == NULL) {
        if (nhttps_server_options_use_dev_certificate(options) != NHTTPS_OK) {
            return fail("development certificate");
        }
    } else if (nhttps_server_options_set_cert_file(options, cert) != NHTTPS_OK) {
        return fail(cert);
    } else if (nhttps_server_options_set_key_file(options, key) != NHTTPS_OK) {
        return fail(key);
    }
    if (cfg->passphrase != NULL &&
        nhttps_server_options_set_passphrase(options, cfg->passphrase) != NHTTPS_OK) {
        return fail("--passphrase");
    }
    if (cfg->ca != NULL && nhttps_server_options_add_ca_file(options, cfg->ca) != NHTTPS_OK) {
        return fail(cfg->ca);
    }
    if (cfg->alpn != NULL && set_protocols(options, cfg->alpn, false) != NHTTPS_OK) {
        return fail("--alpn");
    }
    if (cfg->npn != NULL && set_protocols(options, cfg->npn, true) != NHTTPS_OK) {
        return fail("--npn");
    }
    return 0;
}

/* Staples the DER OCSP response in `path` (none when NULL). */
static int set_ocsp(nhttps_server_options *options, const char *path) {
    if (path != NULL && nhttps_server_options_set_ocsp_response_file(options, path) != NHTTPS_OK) {
        return fail(path);
    }
    return 0;
}

/* --sni NAME=CERT,KEY[,OCSP]: one more identity, picked by the client's
 * server name, with the OCSP response it staples. Loads it into `*context`
 * (the caller frees it) and its NAME into `name`. */
static int load_sni_context(const struct config *cfg, const char *spec, char *name,
                            size_t name_size, const nhttps_secure_context **context) {
    char copy[PATH_MAX * 2 + 256];
    snprintf(copy, sizeof copy, "%s", spec);
    char *eq = strchr(copy, '=');
    char *comma = eq == NULL ? NULL : strchr(eq + 1, ',');
    if (eq == NULL || comma == NULL || eq == copy) {
        fprintf(stderr, "serve: --sni wants NAME=CERT,KEY[,OCSP], not %s\n", spec);
        return 1;
    }
    *eq = '\0';
    *comma = '\0';
    char *ocsp = strchr(comma + 1, ',');
    if (ocsp != NULL) {
        *ocsp++ = '\0';
    }
    if (strlen(copy) >= name_size) {
        fprintf(stderr, "serve: --sni: the name is too long: %s\n", copy);
        return 1;
    }
    memcpy(name, copy, strlen(copy) + 1);
    nhttps_server_options *options = nhttps_server_options_new();
    int rc = configure_tls(cfg, options, eq + 1, comma + 1);
    if (rc == 0) {
        rc = set_ocsp(options, ocsp);
    }
    if (rc == 0 && nhttps_secure_context_new(options, context) != NHTTPS_OK) {
        rc = fail(spec);
    }
    nhttps_server_options_free(options);
    return rc;
}

/* --ticket-keys FILE: exactly NHTTPS_TICKET_KEYS_LEN bytes. */
static int read_ticket_keys(const char *path, uint8_t keys[NHTTPS_TICKET_KEYS_LEN]) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "serve: %s: %s\n", path, strerror(errno));
        return 1;
    }
    uint8_t extra;
    size_t got = fread(keys, 1, NHTTPS_TICKET_KEYS_LEN, f);
    bool longer = fread(&extra, 1, 1, f) == 1;
    fclose(f);
    if (got != NHTTPS_TICKET_KEYS_LEN || longer) {
        fprintf(stderr, "serve: %s: ticket keys must be exactly %d bytes (head -c %d /dev/urandom)\n",
                path, NHTTPS_TICKET_KEYS_LEN, NHTTPS_TICKET_KEYS_LEN);
        return 1;
    }
    return 0;
}

/* The identities and ticket keys, loaded from their files. */
struct identities {
    const nhttps_secure_context *main;
    const nhttps_secure_context *sni[MAX_SNI];
    char sni_names[MAX_SNI][256];
    uint8_t ticket_keys[NHTTPS_TICKET_KEYS_LEN];
};

static void free_identities(struct identities *ids) {
    nhttps_secure_context_free(ids->main);
    for (size_t i = 0; i < MAX_SNI; i++) {
        nhttps_secure_context_free(ids->sni[i]);
    }
}

/* Loads everything the command line names; nothing is kept on failure. */
static int load_identities(const struct config *cfg, struct identities *ids) {
    memset(ids, 0, sizeof *ids);
    nhttps_server_options *options = nhttps_server_options_new();
    int rc = configure_tls(cfg, options, cfg->cert, cfg->key);
    if (rc == 0) {
        rc = set_ocsp(options, cfg->ocsp);
    }
    if (rc == 0 && nhttps_secure_context_new(options, &ids->main) != NHTTPS_OK) {
        char what[PATH_MAX * 2 + 8] = "development certificate";
        if (cfg->cert != NULL) {
            snprintf(what, sizeof what, "%s, %s", cfg->cert, cfg->key);
        }
        rc = fail(what);
    }
    nhttps_server_options_free(options);
    for (size_t i = 0; rc == 0 && i < cfg->sni_count; i++) {
        rc = load_sni_context(cfg, cfg->sni[i], ids->sni_names[i], sizeof ids->sni_names[i],
                              &ids->sni[i]);
    }
    if (rc == 0 && cfg->ticket_keys != NULL) {
        rc = read_ticket_keys(cfg->ticket_keys, ids->ticket_keys);
    }
    if (rc != 0) {
        free_identities(ids);
    }
    return rc;
}

/* Puts loaded identities into the server: new connections get them,
 * connections in flight keep theirs. */
static int install_identities(const struct config *cfg, nhttps_server *server,
                              const struct identities *ids, bool replace_main) {
    if (replace_main && nhttps_server_set_secure_context(server, ids->main) != NHTTPS_OK) {
        return fail("secure context");
    }
    for (size_t i = 0; i < cfg->sni_count; i++) {
        if (nhttps_server_add_context(server, ids->sni_names[i], ids->sni[i]) != NHTTPS_OK) {
            return fail(cfg->sni[i]);
        }
    }
    if (cfg->ticket_keys != NULL &&
        nhttps_server_set_ticket_keys(server, ids->ticket_keys, NHTTPS_TICKET_KEYS_LEN) !=
            NHTTPS_OK) {
        return fail(cfg->ticket_keys);
    }
    return 0;
}

/* SIGHUP: every file again; swapped in only when all of them loaded. */
static void reload(const struct config *cfg, nhttps_server *server) {
    struct identities ids;
    if (load_identities(cfg, &ids) != 0) {
        fprintf(stderr, "serve: reload failed: still serving the previous certificates\n");
        return;
    }
    int rc = install_identities(cfg, server, &ids, true);
    free_identities(&ids); /* the server keeps its own references */
    if (rc == 0) {
        printf("reloaded\n");
        fflush(stdout);
    }
}

/* systemd's socket activation: the listening socket is fd 3 when
 * LISTEN_PID is this process and LISTEN_FDS >= 1; -1 otherwise. The
 * variables are removed so that children do not take them for theirs. */
static int activated_socket(void) {
    const char *pid = getenv("LISTEN_PID");
    const char *fds = getenv("LISTEN_FDS");
    if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid() ||
        strtol(fds, NULL, 10) < 1) {
        return -1;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return 3;
}

/* The address `fd` is bound to, as HOST for a URL ("[::1]" for IPv6). */
static void socket_host(int fd, char *out, size_t out_size) {
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char text[INET6_ADDRSTRLEN] = "localhost";
    if (getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        if (addr.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, text, sizeof text);
        } else if (addr.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, text, sizeof text);
            snprintf(out, out_size, "[%s]", text);
            return;
        }
    }
    snprintf(out, out_size, "%s", text);
}

int main(int argc, char **argv) {
    static struct config cfg;
    if (parse_args(argc, argv, &cfg) != 0) {
        usage();
        return 2;
    }

    /* Block the stop and reload signals in every thread; main waits for
     * them below. */
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &wanted, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct identities ids;
    if (load_identities(&cfg, &ids) != 0) {
        return 1;
    }
    nhttps_server_options *options = nhttps_server_options_new();
    int setup = configure_tls(&cfg, options, cfg.cert, cfg.key);
    if (setup == 0) {
        setup = set_ocsp(options, cfg.ocsp);
    }
    nhttps_server_options_set_request_cert(options, cfg.request_cert);
    nhttps_server_options_set_reject_unauthorized(options, cfg.reject_unauthorized);
    nhttps_server_options_set_reuse_port(options, cfg.reuse_port);
    nhttps_server_options_set_proxy_protocol(options, cfg.proxy_protocol);
    nhttps_server *server = NULL;
    nhttps_result rc = NHTTPS_ERR_INVALID_ARGUMENT;
    if (setup == 0) {
        rc = nhttps_server_new(options, &server);
    }
    nhttps_server_options_free(options);
    if (setup != 0 || rc != NHTTPS_OK || install_identities(&cfg, server, &ids, false) != 0) {
        if (setup == 0 && rc != NHTTPS_OK) {
            fail("server");
        }
        free_identities(&ids);
        nhttps_server_free(server);
        return 1;
    }
    free_identities(&ids);
    cfg.server = server;
    nhttps_server_on_request(server, on_request, &cfg);

    char host[INET6_ADDRSTRLEN + 2];
    int inherited = activated_socket();
    if (inherited >= 0) {
        socket_host(inherited, host, sizeof host);
        rc = nhttps_server_listen_fd(server, inherited);
    } else {
        bool ipv6 = strchr(cfg.host, ':') != NULL;
        snprintf(host, sizeof host, "%s%s%s", ipv6 ? "[" : "", cfg.host, ipv6 ? "]" : "");
        rc = nhttps_server_listen(server, cfg.host, (uint16_t)cfg.port);
    }
    if (rc != NHTTPS_OK) {
        fail("listen");
        nhttps_server_free(server);
        return 1;
    }
    printf("listening on https://%s:%u/\n", host, (unsigned)nhttps_server_port(server));
    fflush(stdout);

    for (;;) {
        int sig = 0;
        sigwait(&wanted, &sig);
        if (sig != SIGHUP) {
            break;
        }
        reload(&cfg, server);
    }
    /* Graceful: stop accepting, let in-flight responses finish, then go. */
    nhttps_server_close(server);
    nhttps_server_free(server);
    return 0;
}
