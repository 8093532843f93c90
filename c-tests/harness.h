/* A small test harness for nhttps's C tests.
 *
 * Each test is a `static void` function, one behaviour each, run by
 * RUN(name) from main. CHECK* macros record a failure and leave the test.
 * Each line printed is `PASS name`, `FAIL name: why` or `SKIP name: why`;
 * c-tests/run.sh counts them. Peers (curl, openssl, python3, node) are real
 * programs run through the shell; a missing one is SKIPPED loudly, and is
 * a failure when CI=true.
 */
#ifndef NHTTPS_TEST_HARNESS_H
#define NHTTPS_TEST_HARNESS_H

#include <nhttps.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int h_passed, h_failed, h_skipped;
static const char *h_current;
static bool h_current_failed, h_current_skipped;

static inline void h_fail(const char *file, int line, const char *fmt, ...) {
    if (h_current_failed) {
        return;
    }
    h_current_failed = true;
    printf("FAIL %s: %s:%d: ", h_current, file, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define CHECK(cond)                                                  \
    do {                                                             \
        if (!(cond)) {                                               \
            h_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);          \
            return;                                                  \
        }                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                         \
    do {                                                             \
        if (!(cond)) {                                               \
            h_fail(__FILE__, __LINE__, __VA_ARGS__);                 \
            return;                                                  \
        }                                                            \
    } while (0)

/* The call returned NHTTPS_OK (else: its result and the thread's message). */
#define CHECK_OK(expr)                                                              \
    do {                                                                            \
        nhttps_result h_rc_ = (expr);                                               \
        if (h_rc_ != NHTTPS_OK) {                                                   \
            h_fail(__FILE__, __LINE__, "%s -> %s (%s)", #expr,                      \
                   nhttps_result_name((int)h_rc_), nhttps_last_error_message());    \
            return;                                                                 \
        }                                                                           \
    } while (0)

/* The call failed with exactly `code`. */
#define CHECK_RC(expr, code)                                                        \
    do {                                                                            \
        nhttps_result h_rc_ = (expr);                                               \
        if (h_rc_ != (code)) {                                                      \
            h_fail(__FILE__, __LINE__, "%s -> %s, expected %s", #expr,              \
                   nhttps_result_name((int)h_rc_), nhttps_result_name((int)(code)));\
            return;                                                                 \
        }                                                                           \
    } while (0)

#define CHECK_INT(actual, expected)                                                  \
    do {                                                                             \
        long long h_a_ = (long long)(actual), h_e_ = (long long)(expected);          \
        if (h_a_ != h_e_) {                                                          \
            h_fail(__FILE__, __LINE__, "%s is %lld, expected %lld", #actual, h_a_,   \
                   h_e_);                                                            \
            return;                                                                  \
        }                                                                            \
    } while (0)

#define CHECK_STR(actual, expected)                                                  \
    do {                                                                             \
        const char *h_a_ = (actual), *h_e_ = (expected);                             \
        if (h_a_ == NULL || strcmp(h_a_, h_e_) != 0) {                               \
            h_fail(__FILE__, __LINE__, "%s is \"%s\", expected \"%s\"", #actual,     \
                   h_a_ ? h_a_ : "(null)", h_e_);                                    \
            return;                                                                  \
        }                                                                            \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                             \
    do {                                                                             \
        const char *h_h_ = (haystack), *h_n_ = (needle);                             \
        if (h_h_ == NULL || strstr(h_h_, h_n_) == NULL) {                            \
            h_fail(__FILE__, __LINE__, "%s does not contain \"%s\"; it is: %.600s",  \
                   #haystack, h_n_, h_h_ ? h_h_ : "(null)");                         \
            return;                                                                  \
        }                                                                            \
    } while (0)

/* This test process's scratch directory (made on first use, removed by
 * h_finish). */
static char h_scratch[256];

static inline void h_run(const char *name, void (*test)(void)) {
    h_current = name;
    h_current_failed = false;
    h_current_skipped = false;
    test();
    if (h_current_skipped) {
        h_skipped++;
    } else if (h_current_failed) {
        h_failed++;
    } else {
        h_passed++;
        printf("PASS %s\n", name);
    }
    fflush(stdout);
}

#define RUN(name) h_run(#name, name)

static inline int h_finish(void) {
    if (h_scratch[0] != '\0') {
        char command[300];
        snprintf(command, sizeof command, "rm -rf %s", h_scratch);
        if (system(command) != 0) {
            fprintf(stderr, "cannot remove %s\n", h_scratch);
        }
    }
    printf("%s: %d passed, %d failed, %d skipped\n", h_current ? "done" : "none", h_passed,
           h_failed, h_skipped);
    return h_failed == 0 ? 0 : 1;
}

static inline bool h_in_ci(void) {
    const char *ci = getenv("CI");
    return ci != NULL && strcmp(ci, "true") == 0;
}

static inline bool h_have(const char *tool) {
    char command[256];
    snprintf(command, sizeof command, "command -v %s >/dev/null 2>&1", tool);
    return system(command) == 0;
}

/* Leaves the test when `tool` is missing: SKIPPED loudly, FAIL in CI. */
#define REQUIRE_TOOL(tool)                                                           \
    do {                                                                             \
        if (!h_have(tool)) {                                                         \
            if (h_in_ci()) {                                                         \
                h_fail(__FILE__, __LINE__, "%s is not installed (CI=true)", tool);   \
            } else {                                                                 \
                h_current_skipped = true;                                            \
                printf("SKIP %s: *** SKIPPED: %s is not installed ***\n", h_current, \
                       tool);                                                        \
            }                                                                        \
            return;                                                                  \
        }                                                                            \
    } while (0)

/* ---- peers -------------------------------------------------------------- */

/* Runs a shell command and returns its stdout (malloc'd, NUL-terminated;
 * the caller frees it). `*status` gets its exit status when not NULL. */
static inline char * h_capture(int *status, const char *fmt, ...) {
    char command[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(command, sizeof command, fmt, ap);
    va_end(ap);
    FILE *p = popen(command, "r");
    if (p == NULL) {
        if (status) *status = -1;
        return strdup("");
    }
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[len] = '\0';
    int rc = pclose(p);
    if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

static inline const char * h_dir(void) {
    char *dir = h_scratch;
    if (dir[0] == '\0') {
        const char *build = getenv("BUILD");
        snprintf(dir, sizeof h_scratch, "%s/tmp-%d", build ? build : "build", (int)getpid());
        char command[300];
        snprintf(command, sizeof command, "mkdir -p %s", dir);
        if (system(command) != 0) {
            fprintf(stderr, "cannot make %s\n", dir);
        }
    }
    return dir;
}

/* A path inside this test process's scratch directory (static buffer
 * rotation: up to 8 live at once). */
static inline const char * h_path(const char *name) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", h_dir(), name);
    return p;
}

static inline void h_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

/* Sends `len` raw bytes over TLS to 127.0.0.1:port with Python's ssl module
 * (certificate not verified) and returns all the bytes the server sent
 * until it closed (or 10 s passed). The caller frees the result. */
static inline char * h_tls_exchange(uint16_t port, const char *data, size_t len) {
    const char *in = h_path("exchange.in");
    h_write_file(in, data, len);
    return h_capture(NULL, "python3 c-tests/peers/tls_raw.py --port %u < %s", (unsigned)port, in);
}

/* ---- servers ------------------------------------------------------------ */

static uint16_t h_port;

/* A server with the development certificate, listening on 127.0.0.1 on an
 * ephemeral port (stored in h_port), answering with `on_request`. */
static inline nhttps_server * h_start_server(nhttps_request_callback on_request, void *userdata) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *server = NULL;
    if (nhttps_server_new(options, &server) != NHTTPS_OK) {
        nhttps_server_options_free(options);
        return NULL;
    }
    nhttps_server_options_free(options);
    nhttps_server_on_request(server, on_request, userdata);
    if (nhttps_server_listen(server, "127.0.0.1", 0) != NHTTPS_OK) {
        nhttps_server_free(server);
        return NULL;
    }
    h_port = nhttps_server_port(server);
    return server;
}

/* Answers 200 with a body of "hello\n". */
static inline void h_hello(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_set_header(res, "Content-Type", "text/plain");
    nhttps_server_response_end(res, (const uint8_t *)"hello\n", 6);
}

/* Reads a request's whole body into a malloc'd, NUL-terminated buffer. */
static inline char * h_read_body(const nhttps_incoming_message *req, size_t *len_out) {
    size_t cap = 4096, len = 0;
    char *body = malloc(cap + 1);
    for (;;) {
        size_t n = 0;
        if (nhttps_incoming_message_read(req, (uint8_t *)body + len, cap - len, &n) !=
                NHTTPS_OK ||
            n == 0) {
            break;
        }
        len += n;
        if (len == cap) {
            cap *= 2;
            body = realloc(body, cap + 1);
        }
    }
    body[len] = '\0';
    if (len_out) *len_out = len;
    return body;
}

static inline void h_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until `*flag` is non-zero (at most `ms` milliseconds). */
static inline bool h_wait_for(atomic_int *flag, long ms) {
    for (long waited = 0; waited < ms; waited += 10) {
        if (atomic_load(flag)) {
            return true;
        }
        h_sleep_ms(10);
    }
    return atomic_load(flag) != 0;
}

/* A monotonic clock in milliseconds. */
static inline long long h_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* This process's thread count, from /proc/self/status (-1 if unknown). */
static inline int h_threads_now(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "Threads: %d", &n) == 1) {
            break;
        }
    }
    fclose(f);
    return n;
}

/* Waits (at most `ms`) for the thread count to come down to `expected`;
 * returns the last count seen. Threads are detached: one may still be on
 * its way out just after the call that ended its work returned. */
static inline int h_threads_settle(int expected, long ms) {
    int n = h_threads_now();
    for (long waited = 0; n != expected && waited < ms; waited += 20) {
        h_sleep_ms(20);
        n = h_threads_now();
    }
    return n;
}

#define CURL "curl -sS --max-time 60 --insecure"

#endif
