/* API misuse, the server's whole life, and slow peers (issue 7): each
 * misuse gives a defined result code and no crash; a server that served
 * 1,000 requests closes and frees cleanly and leaves no thread behind;
 * headersTimeout and requestTimeout end slow and non-reading clients.
 *
 * Misuse the header makes undefined — using a response after
 * `nhttps_server_response_end`, which frees it — is run in a forked child,
 * so that a crash fails the test instead of ending the suite; under
 * valgrind a use after free in the child makes it exit 99. */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>

/* ---- utilities ---------------------------------------------------------- */

/* A server with the development certificate and `configure` applied to its
 * options, listening on 127.0.0.1 (port in h_port). */
static nhttps_server *start_with(void (*configure)(nhttps_server_options *),
                                 nhttps_request_callback on_request, void *userdata) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    if (configure != NULL) {
        configure(options);
    }
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) {
        return NULL;
    }
    nhttps_server_on_request(server, on_request, userdata);
    if (nhttps_server_listen(server, "127.0.0.1", 0) != NHTTPS_OK) {
        nhttps_server_free(server);
        return NULL;
    }
    h_port = nhttps_server_port(server);
    return server;
}

static void answer_ok(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_end(res, (const uint8_t *)"ok", 2);
}

/* ---- peers: programs run in the background, their stdout read by line -- */

struct peer {
    pid_t pid;
    int fd;
    char buf[8192];
    size_t len;
};

static bool peer_start(struct peer *p, const char *fmt, ...) {
    char command[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(command, sizeof command, fmt, ap);
    va_end(ap);
    int fds[2];
    if (pipe(fds) != 0) {
        return false;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
        }
        /* exec: the peer's pid is the program's, so that kill reaches it */
        char line[4200];
        snprintf(line, sizeof line, "exec %s", command);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    p->fd = fds[0];
    p->len = 0;
    p->buf[0] = '\0';
    return true;
}

/* Reads what the peer printed for up to `ms` or until a line starting with
 * `prefix` is complete; returns that line (inside p->buf) or NULL. */
static const char *peer_wait_line(struct peer *p, const char *prefix, long ms) {
    long long deadline = h_now_ms() + ms;
    for (;;) {
        /* Is such a complete line there already? */
        for (char *line = p->buf; line != NULL && *line != '\0';) {
            char *nl = strchr(line, '\n');
            if (nl == NULL) {
                break;
            }
            if (strncmp(line, prefix, strlen(prefix)) == 0) {
                return line;
            }
            line = nl + 1;
        }
        long long left = deadline - h_now_ms();
        if (left <= 0 || p->len + 1 >= sizeof p->buf) {
            return NULL;
        }
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0) {
            continue;
        }
        ssize_t n = read(p->fd, p->buf + p->len, sizeof p->buf - p->len - 1);
        if (n <= 0) {
            h_sleep_ms(10);
            if (h_now_ms() >= deadline) {
                return NULL;
            }
            if (n == 0) {
                /* EOF: nothing more will come. */
                deadline = h_now_ms();
            }
            continue;
        }
        p->len += (size_t)n;
        p->buf[p->len] = '\0';
    }
}

/* The peer's output on one line, for a message: newlines become " | ". */
static const char *flat(const struct peer *p) {
    static char text[sizeof p->buf * 2];
    size_t n = 0;
    for (const char *c = p->buf; *c != '\0' && n + 4 < sizeof text; c++) {
        if (*c == '\n') {
            if (c[1] != '\0') {
                memcpy(text + n, " | ", 3);
                n += 3;
            }
        } else if (*c != '\r') {
            text[n++] = *c;
        }
    }
    text[n] = '\0';
    return text;
}

/* Ends the peer (SIGKILL when `kill_it`, else waits for it) and reads
 * what is left of its output, which stays in p->buf. */
static void peer_finish(struct peer *p, bool kill_it) {
    if (p->pid <= 0) {
        return;
    }
    if (kill_it) {
        kill(p->pid, SIGKILL);
    }
    for (;;) {
        if (p->len + 1 >= sizeof p->buf) {
            break;
        }
        ssize_t n = read(p->fd, p->buf + p->len, sizeof p->buf - p->len - 1);
        if (n <= 0) {
            break;
        }
        p->len += (size_t)n;
        p->buf[p->len] = '\0';
    }
    close(p->fd);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

#define PEER "python3 c-tests/peers/slow_peer.py --port %u "

/* ---- misuse that the header makes undefined, in a child ----------------- */

/* Runs `scenario` in a forked child, which exits with the code the scenario
 * returns. Returns a description of the outcome in `why` and whether the
 * child exited 0. */
static bool in_child(int (*scenario)(void), char *why, size_t why_size) {
    (void)h_dir(); /* the child's files go in this process's scratch directory */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "fork failed");
        return false;
    }
    if (pid == 0) {
        _exit(scenario());
    }
    int status = 0;
    long long deadline = h_now_ms() + 120000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, why_size, "the child hung for 120 s and was killed");
            return false;
        }
        h_sleep_ms(20);
    }
    if (WIFSIGNALED(status)) {
        snprintf(why, why_size, "the child crashed with signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
        return false;
    }
    int code = WEXITSTATUS(status);
    switch (code) {
    case 0:
        return true;
    case 99:
        snprintf(why, why_size, "valgrind found invalid memory use or a leak in the child "
                                "(see the .err log): the call used freed memory");
        return false;
    default:
        snprintf(why, why_size, "the child exited with %d", code);
        return false;
    }
}

/* Writing to or ending a response after `nhttps_server_response_end` is
 * not tested: end frees the handle (the header says so), so such calls
 * use freed memory, as a second free() would. */
static atomic_int child_rc_a, child_rc_b;
static atomic_size_t child_read;

static void read_after_end_handler(void *userdata, nhttps_incoming_message *req,
                                   nhttps_server_response *res) {
    (void)userdata;
    atomic_store(&child_rc_a, nhttps_server_response_end(res, (const uint8_t *)"a", 1));
    /* Misuse: the header says end ends the life of the request. */
    uint8_t buffer[64];
    size_t n = 12345;
    atomic_store(&child_rc_b, nhttps_incoming_message_read(req, buffer, sizeof buffer, &n));
    atomic_store(&child_read, n);
}

/* One request to a server answering with `handler`; the exit code tells
 * what the second (misused) call returned: 0 = a failure code (defined),
 * 2 = NHTTPS_OK, 3 = NHTTPS_ERR_PANIC, 4 = no request arrived. */
static int child_misuse(nhttps_request_callback handler, const char *curl_args) {
    atomic_store(&child_rc_a, -1);
    atomic_store(&child_rc_b, -1);
    nhttps_server *server = start_with(NULL, handler, NULL);
    if (server == NULL) {
        return 5;
    }
    free(h_capture(NULL, CURL " %s https://127.0.0.1:%u/ >/dev/null 2>&1", curl_args, h_port));
    nhttps_server_free(server);
    int b = atomic_load(&child_rc_b);
    if (b == -1) return 4;
    if (b == NHTTPS_OK) return 2;
    if (b == NHTTPS_ERR_PANIC) return 3;
    return 0;
}

static int child_read_after_end(void) {
    int rc = child_misuse(read_after_end_handler, "--data-binary 'some body'");
    /* OK is a defined answer too here: the rest of the body (at most its 9
     * bytes) or 0 — the request is still held while its callback runs. */
    if (rc == 2 && atomic_load(&child_read) <= 9) rc = 0;
    return rc;
}

static void reading_the_body_after_end_in_the_callback_gives_a_defined_result(void) {
    REQUIRE_TOOL("curl");
    char why[300];
    CHECK_MSG(in_child(child_read_after_end, why, sizeof why),
              "nhttps_incoming_message_read after nhttps_server_response_end: %s", why);
}

/* ---- exit() with a call in progress on another thread ------------------- */

/* OpenSSL frees its global state in an atexit handler; a thread still
 * inside an nhttps call then would use it freed. nhttps's own handler runs
 * first and waits for such calls to return. Here the call is a take with a
 * 500 ms timeout: it returns, and says so through a pipe, before the
 * process ends. Without the wait the child would end at once, silent. */
static int exit_pipe[2];
static nhttps_server *exit_server; /* still reachable at exit (valgrind) */
static atomic_int exit_taking;

static void *take_then_report(void *arg) {
    (void)arg;
    nhttps_incoming_message *req = NULL;
    nhttps_server_response *res = NULL;
    atomic_store(&exit_taking, 1);
    nhttps_result rc = nhttps_server_take_request(exit_server, 500, &req, &res);
    const char *said = rc == NHTTPS_ERR_TIMEOUT ? "returned" : "other";
    ssize_t written = write(exit_pipe[1], said, strlen(said));
    (void)written;
    return NULL;
}

static int child_exits_during_a_take(void) {
    exit_server = start_with(NULL, NULL, NULL);
    if (exit_server == NULL || nhttps_server_queue_requests(exit_server) != NHTTPS_OK) {
        return 5;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, take_then_report, NULL);
    h_wait_for(&exit_taking, 10000);
    h_sleep_ms(50); /* inside the take */
    exit(0);
}

static void exit_waits_for_a_call_in_progress_on_another_thread(void) {
    CHECK(pipe(exit_pipe) == 0);
    char why[300];
    CHECK_MSG(in_child(child_exits_during_a_take, why, sizeof why), "%s", why);
    close(exit_pipe[1]);
    char said[16] = {0};
    CHECK(read(exit_pipe[0], said, sizeof said - 1) >= 0);
    close(exit_pipe[0]);
    CHECK_STR(said, "returned");
}

/* ---- state errors: defined results ------------------------------------- */

static atomic_int rc_head_again, rc_header_late, rc_status_late, rc_append_late,
    rc_remove_late, rc_after_write_header, rc_after_write_head;
static atomic_bool sent_flag;

static void head_then_changes(void *userdata, nhttps_incoming_message *req,
                              nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_set_header(res, "Content-Type", "text/plain");
    nhttps_server_response_write_head(res, 200, NULL);
    atomic_store(&rc_head_again, nhttps_server_response_write_head(res, 201, NULL));
    atomic_store(&rc_header_late, nhttps_server_response_set_header(res, "X-Late", "1"));
    atomic_store(&rc_status_late, nhttps_server_response_set_status(res, 404));
    atomic_store(&rc_append_late, nhttps_server_response_append_header(res, "X-Late", "2"));
    atomic_store(&rc_remove_late, nhttps_server_response_remove_header(res, "Content-Type"));
    atomic_store(&sent_flag, nhttps_server_response_headers_sent(res));
    nhttps_server_response_write(res, (const uint8_t *)"body\n", 5);
    nhttps_server_response_end(res, NULL, 0);
}

static void write_then_changes(void *userdata, nhttps_incoming_message *req,
                               nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_write(res, (const uint8_t *)"first\n", 6);
    atomic_store(&rc_after_write_header, nhttps_server_response_set_header(res, "X-Late", "1"));
    atomic_store(&rc_after_write_head, nhttps_server_response_write_head(res, 500, NULL));
    nhttps_server_response_end(res, (const uint8_t *)"second\n", 7);
}

static void write_head_and_set_header_after_the_head_are_invalid_state(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = h_start_server(head_then_changes, NULL);
    CHECK(server != NULL);
    char *out = h_capture(NULL, CURL " -i https://127.0.0.1:%u/", h_port);
    nhttps_server_free(server);
    CHECK_RC((nhttps_result)atomic_load(&rc_head_again), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC((nhttps_result)atomic_load(&rc_header_late), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC((nhttps_result)atomic_load(&rc_status_late), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC((nhttps_result)atomic_load(&rc_append_late), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC((nhttps_result)atomic_load(&rc_remove_late), NHTTPS_ERR_INVALID_STATE);
    CHECK(atomic_load(&sent_flag));
    CHECK_CONTAINS(out, "HTTP/1.1 200 OK");
    CHECK_CONTAINS(out, "body\n");
    CHECK(strstr(out, "X-Late") == NULL);
    free(out);
}

static void set_header_and_write_head_after_a_write_are_invalid_state(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = h_start_server(write_then_changes, NULL);
    CHECK(server != NULL);
    char *out = h_capture(NULL, CURL " -i https://127.0.0.1:%u/", h_port);
    nhttps_server_free(server);
    CHECK_RC((nhttps_result)atomic_load(&rc_after_write_header), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC((nhttps_result)atomic_load(&rc_after_write_head), NHTTPS_ERR_INVALID_STATE);
    CHECK_CONTAINS(out, "HTTP/1.1 200 OK");
    CHECK_CONTAINS(out, "first\nsecond\n");
    free(out);
}

static atomic_int rc_read_again, rc_read_third;
static atomic_size_t n_read_again, n_read_third, body_length;

static void read_body_twice(void *userdata, nhttps_incoming_message *req,
                            nhttps_server_response *res) {
    (void)userdata;
    size_t len = 0;
    char *body = h_read_body(req, &len);
    atomic_store(&body_length, len);
    uint8_t buffer[64];
    size_t n = 999;
    atomic_store(&rc_read_again, nhttps_incoming_message_read(req, buffer, sizeof buffer, &n));
    atomic_store(&n_read_again, n);
    n = 999;
    atomic_store(&rc_read_third, nhttps_incoming_message_read(req, buffer, sizeof buffer, &n));
    atomic_store(&n_read_third, n);
    nhttps_server_response_end(res, (const uint8_t *)body, len);
    free(body);
}

static void reading_a_body_again_after_its_end_gives_zero_bytes(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = h_start_server(read_body_twice, NULL);
    CHECK(server != NULL);
    char *out = h_capture(NULL, CURL " --data-binary 'the body' https://127.0.0.1:%u/", h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "the body");
    CHECK_INT(atomic_load(&body_length), 8);
    CHECK_RC((nhttps_result)atomic_load(&rc_read_again), NHTTPS_OK);
    CHECK_INT(atomic_load(&n_read_again), 0);
    CHECK_RC((nhttps_result)atomic_load(&rc_read_third), NHTTPS_OK);
    CHECK_INT(atomic_load(&n_read_third), 0);
    free(out);
}

static atomic_int rc_write_after_end, rc_end_again, rc_header_after_end, rc_status_after_end;
static atomic_bool sent_after_end, header_after_end;
static nhttps_server_response *ended_response;

static void end_then_use_again(void *userdata, nhttps_incoming_message *req,
                               nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_end(res, (const uint8_t *)"done\n", 5);
    ended_response = res;
    atomic_store(&rc_write_after_end, nhttps_server_response_write(res, (const uint8_t *)"late", 4));
    atomic_store(&rc_end_again, nhttps_server_response_end(res, (const uint8_t *)"again", 5));
    atomic_store(&rc_header_after_end, nhttps_server_response_set_header(res, "X-Late", "1"));
    atomic_store(&rc_status_after_end, nhttps_server_response_set_status(res, 404));
    atomic_store(&sent_after_end, nhttps_server_response_headers_sent(res));
    atomic_store(&header_after_end, nhttps_server_response_get_header(res, "Content-Length") != NULL);
}

static void using_a_response_after_its_end_is_invalid_state_and_sends_nothing(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = h_start_server(end_then_use_again, NULL);
    CHECK(server != NULL);
    /* Two requests on one connection: the second gets a new response (and
     * may reuse the first one's slot), which the stale handle must not reach. */
    char *out = h_capture(NULL, CURL " -i https://127.0.0.1:%u/a https://127.0.0.1:%u/b",
                          h_port, h_port);
    CHECK_RC(nhttps_server_response_write(ended_response, (const uint8_t *)"x", 1),
             NHTTPS_ERR_INVALID_STATE);
    CHECK_CONTAINS(nhttps_last_error_message(), "already ended");
    nhttps_server_free(server);
    CHECK_RC((nhttps_result)atomic_load(&rc_write_after_end), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC((nhttps_result)atomic_load(&rc_end_again), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC((nhttps_result)atomic_load(&rc_header_after_end), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC((nhttps_result)atomic_load(&rc_status_after_end), NHTTPS_ERR_INVALID_STATE);
    CHECK(!atomic_load(&sent_after_end));
    CHECK(!atomic_load(&header_after_end));
    /* Each response is exactly "done\n": nothing late, nothing twice. */
    CHECK_CONTAINS(out, "HTTP/1.1 200 OK");
    CHECK_CONTAINS(out, "done\nHTTP/1.1 200 OK");
    CHECK(strstr(out, "late") == NULL && strstr(out, "again") == NULL && strstr(out, "X-Late") == NULL);
    free(out);
}

static void a_handle_that_nhttps_never_made_is_invalid_state(void) {
    nhttps_server_response *bogus = (nhttps_server_response *)(uintptr_t)0x12345678;
    CHECK_RC(nhttps_server_response_write(bogus, (const uint8_t *)"x", 1), NHTTPS_ERR_INVALID_STATE);
    CHECK_RC(nhttps_server_response_end(bogus, NULL, 0), NHTTPS_ERR_INVALID_STATE);
}

static void listening_twice_or_after_close_is_invalid_state(void) {
    nhttps_server *server = h_start_server(answer_ok, NULL);
    CHECK(server != NULL);
    nhttps_result again = nhttps_server_listen(server, "127.0.0.1", 0);
    nhttps_result unix_again = nhttps_server_listen_unix(server, h_path("misuse.sock"));
    nhttps_result closed = nhttps_server_close(server);
    nhttps_result after_close = nhttps_server_listen(server, "127.0.0.1", 0);
    nhttps_server_free(server);
    CHECK_RC(again, NHTTPS_ERR_INVALID_STATE);
    CHECK_RC(unix_again, NHTTPS_ERR_INVALID_STATE);
    CHECK_RC(closed, NHTTPS_OK);
    CHECK_RC(after_close, NHTTPS_ERR_INVALID_STATE);
}

static void closing_twice_and_closing_an_idle_server_are_harmless(void) {
    int before = h_threads_now();
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *never = NULL;
    CHECK_OK(nhttps_server_new(options, &never));
    nhttps_server_options_free(options);
    nhttps_result a = nhttps_server_close(never);
    nhttps_result b = nhttps_server_close(never);
    nhttps_server_free(never);
    nhttps_server *server = h_start_server(answer_ok, NULL);
    CHECK(server != NULL);
    nhttps_result c = nhttps_server_close(server);
    nhttps_result d = nhttps_server_close(server);
    nhttps_server_free(server);
    CHECK_RC(a, NHTTPS_OK);
    CHECK_RC(b, NHTTPS_OK);
    CHECK_RC(c, NHTTPS_OK);
    CHECK_RC(d, NHTTPS_OK);
    CHECK_INT(h_threads_settle(before, 3000), before);
}

static atomic_int connections_seen;

static bool count_connection(void *userdata, const nhttps_socket_info *info) {
    (void)userdata;
    (void)info;
    atomic_fetch_add(&connections_seen, 1);
    return true;
}

/* nhttps_server_free on a listening server with an idle kept-alive
 * connection and one that never started its handshake: free closes both
 * and returns promptly (not after keepAliveTimeout/handshakeTimeout). */
static void freeing_a_listening_server_with_connections_open_closes_them(void) {
    REQUIRE_TOOL("python3");
    int before = h_threads_now();
    atomic_store(&connections_seen, 0);
    nhttps_server *server = start_with(NULL, answer_ok, NULL);
    CHECK(server != NULL);
    nhttps_server_on_connection(server, count_connection, NULL);
    struct peer idle = {0}, silent = {0};
    CHECK(peer_start(&idle, PEER "idle --hold 30", (unsigned)h_port));
    CHECK(peer_start(&silent, PEER "silent --hold 30", (unsigned)h_port));
    const char *got = peer_wait_line(&idle, "response", 30000);
    bool connected = peer_wait_line(&silent, "connected", 30000) != NULL;
    for (int i = 0; i < 500 && atomic_load(&connections_seen) < 2; i++) {
        h_sleep_ms(20);
    }
    int during = h_threads_now();
    long long t0 = h_now_ms();
    nhttps_server_free(server);
    long long took = h_now_ms() - t0;
    const char *idle_closed = peer_wait_line(&idle, "closed_after=", 10000);
    const char *silent_closed = peer_wait_line(&silent, "closed_after=", 10000);
    peer_finish(&idle, true);
    peer_finish(&silent, true);
    CHECK_MSG(got != NULL && strstr(got, "status=200") != NULL, "the idle peer got no response: %s",
              flat(&idle));
    CHECK(connected);
    CHECK_INT(atomic_load(&connections_seen), 2);
    CHECK_MSG(during >= before + 3, "threads during: %d, before: %d (expected accept + 2 connections)",
              during, before);
    CHECK_MSG(took < 5000, "nhttps_server_free took %lld ms with two connections open", took);
    CHECK_MSG(idle_closed != NULL, "the idle kept-alive connection was not closed: %s", flat(&idle));
    CHECK_MSG(silent_closed != NULL, "the connection without a handshake was not closed: %s",
              flat(&silent));
    CHECK_INT(h_threads_settle(before, 3000), before);
}

/* ---- upgraded sockets ---------------------------------------------------- */

static atomic_int rc_sock_close, rc_sock_write, rc_sock_read, rc_sock_close_again;
static atomic_size_t n_sock_read;
static atomic_int upgraded;

static void upgrade_close_then_write(void *userdata, nhttps_incoming_message *req,
                                     nhttps_socket *socket, const uint8_t *head, size_t head_len) {
    (void)userdata;
    (void)req;
    (void)head;
    (void)head_len;
    const char *answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n";
    nhttps_socket_write(socket, (const uint8_t *)answer, strlen(answer));
    atomic_store(&rc_sock_close, nhttps_socket_close(socket));
    atomic_store(&rc_sock_write, nhttps_socket_write(socket, (const uint8_t *)"late", 4));
    uint8_t buffer[32];
    size_t n = 999;
    atomic_store(&rc_sock_read, nhttps_socket_read(socket, buffer, sizeof buffer, &n));
    atomic_store(&n_sock_read, n);
    atomic_store(&rc_sock_close_again, nhttps_socket_close(socket));
    nhttps_socket_free(socket);
    atomic_store(&upgraded, 1);
}

static void writing_to_a_closed_upgraded_socket_fails_and_reads_give_zero(void) {
    REQUIRE_TOOL("python3");
    atomic_store(&upgraded, 0);
    nhttps_server *server = h_start_server(answer_ok, NULL);
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_upgrade(server, upgrade_close_then_write, NULL));
    const char *request = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    h_wait_for(&upgraded, 10000);
    nhttps_server_free(server);
    CHECK(atomic_load(&upgraded));
    CHECK_CONTAINS(out, "101 Switching Protocols");
    CHECK(strstr(out, "late") == NULL);
    CHECK_RC((nhttps_result)atomic_load(&rc_sock_close), NHTTPS_OK);
    nhttps_result w = (nhttps_result)atomic_load(&rc_sock_write);
    CHECK_MSG(w != NHTTPS_OK && w != NHTTPS_ERR_PANIC, "write after close -> %s",
              nhttps_result_name((int)w));
    CHECK_RC((nhttps_result)atomic_load(&rc_sock_read), NHTTPS_OK);
    CHECK_INT(atomic_load(&n_sock_read), 0);
    CHECK_RC((nhttps_result)atomic_load(&rc_sock_close_again), NHTTPS_OK);
    free(out);
}

/* ---- a response ended late, from another thread, during close ----------- */

static nhttps_server_response *held_response;
static atomic_int held;
static atomic_int late_end_rc;
static atomic_llong late_end_at;

static void hold_response(void *userdata, nhttps_incoming_message *req,
                          nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    held_response = res;
    atomic_store(&held, 1);
    /* Returns without ending: a helper thread ends it later. */
}

static void *end_held_response_later(void *arg) {
    (void)arg;
    h_sleep_ms(1000);
    nhttps_server_response_set_header(held_response, "Content-Type", "text/plain");
    atomic_store(&late_end_at, h_now_ms());
    atomic_store(&late_end_rc,
                 nhttps_server_response_end(held_response, (const uint8_t *)"late\n", 5));
    return NULL;
}

/* Documented result: nhttps_server_close waits for a response in flight,
 * however long its callback takes to end it; the response, ended from
 * another thread, arrives complete and says Connection: close. */
static void close_waits_for_a_response_ended_later_from_another_thread(void) {
    REQUIRE_TOOL("curl");
    int before = h_threads_now();
    atomic_store(&held, 0);
    atomic_store(&late_end_rc, -1);
    nhttps_server *server = h_start_server(hold_response, NULL);
    CHECK(server != NULL);
    struct peer client = {0};
    CHECK(peer_start(&client, CURL " -i https://127.0.0.1:%u/", (unsigned)h_port));
    bool arrived = h_wait_for(&held, 30000);
    pthread_t helper;
    bool started = arrived && pthread_create(&helper, NULL, end_held_response_later, NULL) == 0;
    long long t0 = h_now_ms();
    nhttps_result rc = nhttps_server_close(server);
    long long t1 = h_now_ms();
    if (started) {
        pthread_join(helper, NULL);
    }
    peer_finish(&client, false);
    nhttps_server_free(server);
    CHECK(arrived);
    CHECK(started);
    CHECK_RC(rc, NHTTPS_OK);
    CHECK_MSG(t1 >= atomic_load(&late_end_at), "close returned before the response was ended");
    CHECK_MSG(t1 - t0 >= 800, "close returned after %lld ms, before the response ended", t1 - t0);
    CHECK_RC((nhttps_result)atomic_load(&late_end_rc), NHTTPS_OK);
    CHECK_CONTAINS(client.buf, "HTTP/1.1 200 OK");
    CHECK_CONTAINS(client.buf, "Connection: close");
    CHECK_CONTAINS(client.buf, "\r\n\r\nlate\n");
    CHECK_INT(h_threads_settle(before, 3000), before);
}

/* ---- the whole life of a server ----------------------------------------- */

static atomic_int lifecycle_requests;

static void lifecycle_answer(void *userdata, nhttps_incoming_message *req,
                             nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    atomic_fetch_add(&lifecycle_requests, 1);
    nhttps_server_response_set_header(res, "Content-Type", "text/plain");
    nhttps_server_response_end(res, (const uint8_t *)"lifecycle", 9);
}

static void a_server_serves_1000_requests_then_closes_and_frees_leaving_no_thread(void) {
    REQUIRE_TOOL("python3");
    int before = h_threads_now();
    atomic_store(&lifecycle_requests, 0);
    nhttps_server *server = h_start_server(lifecycle_answer, NULL);
    CHECK(server != NULL);
    long long t0 = h_now_ms();
    char *out = h_capture(NULL,
                          "python3 c-tests/peers/keepalive_loop.py --port %u --requests 1000 "
                          "--connections 4 --expect-body lifecycle",
                          (unsigned)h_port);
    long long took = h_now_ms() - t0;
    int during = h_threads_now();
    nhttps_result rc = nhttps_server_close(server);
    nhttps_server_free(server);
    int after = h_threads_settle(before, 3000);
    fprintf(stderr, "lifecycle: 1000 requests in %lld ms; threads %d -> %d -> %d\n", took,
            before, during, after);
    CHECK_CONTAINS(out, "ok=1000 bad=0 errors=0 connections=4");
    CHECK_INT(atomic_load(&lifecycle_requests), 1000);
    CHECK_RC(rc, NHTTPS_OK);
    CHECK_INT(after, before);
    free(out);
}

/* ---- headersTimeout: slow heads are cut off ----------------------------- */

static void headers_timeout_1s(nhttps_server_options *options) {
    nhttps_server_options_set_headers_timeout_ms(options, 1000);
}

static double value_after(const char *text, const char *key) {
    const char *p = text ? strstr(text, key) : NULL;
    return p ? atof(p + strlen(key)) : -1.0;
}

/* A head trickled one byte every 200 ms never stalls a single read for
 * headersTimeout, yet the whole head takes far longer: Node closes such a
 * connection when headersTimeout has passed since it began (issue 7: "the
 * whole head must arrive in time, not merely each byte"). */
static void a_head_trickled_byte_by_byte_is_cut_off_at_headers_timeout(void) {
    REQUIRE_TOOL("python3");
    int before = h_threads_now();
    nhttps_server *server = start_with(headers_timeout_1s, answer_ok, NULL);
    CHECK(server != NULL);
    struct peer fast = {0}, slow = {0};
    CHECK(peer_start(&fast, PEER "trickle --interval 0.2 --max-time 8", (unsigned)h_port));
    CHECK(peer_start(&slow, PEER "trickle --interval 3 --max-time 8", (unsigned)h_port));
    bool fast_done = peer_wait_line(&fast, "closed_after=", 15000) != NULL ||
                     peer_wait_line(&fast, "open_after=", 1000) != NULL;
    bool slow_done = peer_wait_line(&slow, "closed_after=", 15000) != NULL ||
                     peer_wait_line(&slow, "open_after=", 1000) != NULL;
    nhttps_server_free(server);
    peer_finish(&fast, true);
    peer_finish(&slow, true);
    double fast_closed = value_after(fast.buf, "closed_after=");
    double slow_closed = value_after(slow.buf, "closed_after=");
    fprintf(stderr, "headersTimeout: byte every 200 ms: %s\n", flat(&fast));
    fprintf(stderr, "headersTimeout: byte every 3 s: %s\n", flat(&slow));
    CHECK(fast_done && slow_done);
    CHECK_MSG(slow_closed >= 0.5 && slow_closed < 3.0,
              "a head stalled for 3 s was not closed ~1 s after the handshake: %s", flat(&slow));
    CHECK_MSG(fast_closed >= 0.5 && fast_closed < 3.0,
              "headersTimeout is 1 s, but a head trickled a byte every 200 ms was not closed "
              "in time (the timeout applies per read, not to the whole head): %s", flat(&fast));
    CHECK_INT(h_threads_settle(before, 3000), before);
}

static void headers_1s_keep_alive_3s(nhttps_server_options *options) {
    nhttps_server_options_set_headers_timeout_ms(options, 1000);
    nhttps_server_options_set_keep_alive_timeout_ms(options, 3000);
}

/* Node counts headersTimeout from a request's first byte: a kept-alive
 * connection idle for longer than headersTimeout (but less than
 * keepAliveTimeout) may still send a head, and a head trickled after it is
 * cut off headersTimeout after its first byte, not after the idle time
 * plus headersTimeout. */
static void on_a_kept_alive_connection_headers_timeout_counts_from_the_first_byte(void) {
    REQUIRE_TOOL("python3");
    nhttps_server *server = start_with(headers_1s_keep_alive_3s, answer_ok, NULL);
    CHECK(server != NULL);
    struct peer p = {0};
    CHECK(peer_start(&p, PEER "trickle --first-idle 1.5 --interval 0.2 --max-time 6",
                     (unsigned)h_port));
    bool done = peer_wait_line(&p, "closed_after=", 15000) != NULL ||
                peer_wait_line(&p, "open_after=", 1000) != NULL;
    nhttps_server_free(server);
    peer_finish(&p, true);
    fprintf(stderr, "headersTimeout after 1.5 s idle: %s\n", flat(&p));
    double closed = value_after(p.buf, "closed_after=");
    CHECK(done);
    CHECK_CONTAINS(p.buf, "response status=200");
    CHECK_MSG(closed >= 0.5 && closed < 2.0,
              "the trickled second head was not cut off ~1 s after its first byte: %s", flat(&p));
    CHECK_CONTAINS(p.buf, "408");
}

static void two_requests_per_socket(nhttps_server_options *options) {
    nhttps_server_options_set_max_requests_per_socket(options, 2);
}

/* Node's maxRequestsPerSocket: the response to the last allowed request
 * says Connection: close; the client opens a new connection for more. */
static void max_requests_per_socket_closes_the_connection_after_the_last_one(void) {
    REQUIRE_TOOL("curl");
    atomic_store(&connections_seen, 0);
    nhttps_server *server = start_with(two_requests_per_socket, answer_ok, NULL);
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_connection(server, count_connection, NULL));
    char *out = h_capture(NULL, CURL " -i https://127.0.0.1:%u/1 https://127.0.0.1:%u/2 "
                                     "https://127.0.0.1:%u/3",
                          h_port, h_port, h_port);
    nhttps_server_free(server);
    CHECK_INT(atomic_load(&connections_seen), 2);
    /* First response keep-alive, second close, third (a new connection) keep-alive. */
    const char *second = strstr(out, "ok") ? strstr(strstr(out, "ok") + 2, "HTTP/1.1") : NULL;
    CHECK(second != NULL);
    CHECK(second != NULL && strstr(second, "Connection: close") != NULL &&
          strstr(second, "Connection: close") < strstr(second, "ok"));
    CHECK_CONTAINS(out, "Connection: keep-alive");
    free(out);
}

static void two_connections_per_ip(nhttps_server_options *options) {
    nhttps_server_options_set_max_connections_per_ip(options, 2);
}

/* The per-address cap: with two connections from 127.0.0.1 open (silent,
 * before their handshakes), a third from it is closed at once; when one
 * of the two ends, a new one is served again. */
static void max_connections_per_ip_closes_extra_connections_from_one_address(void) {
    REQUIRE_TOOL("python3");
    REQUIRE_TOOL("curl");
    nhttps_server *server = start_with(two_connections_per_ip, answer_ok, NULL);
    CHECK(server != NULL);
    struct peer a = {0}, b = {0};
    CHECK(peer_start(&a, PEER "silent --hold 20", (unsigned)h_port));
    CHECK(peer_start(&b, PEER "silent --hold 20", (unsigned)h_port));
    CHECK(peer_wait_line(&a, "connected", 10000) != NULL);
    CHECK(peer_wait_line(&b, "connected", 10000) != NULL);
    h_sleep_ms(200); /* both accepted and counted */
    int refused_status = 0, served_status = 0;
    char *refused = h_capture(&refused_status, CURL " https://127.0.0.1:%u/ 2>&1", h_port);
    peer_finish(&a, true);
    char *served = NULL;
    for (int i = 0; i < 50; i++) { /* until the server has seen `a` close */
        free(served);
        served = h_capture(&served_status, CURL " https://127.0.0.1:%u/ 2>&1", h_port);
        if (served_status == 0) {
            break;
        }
        h_sleep_ms(100);
    }
    nhttps_server_free(server);
    peer_finish(&b, true);
    CHECK_MSG(refused_status != 0, "a third connection from one address was served: %s", refused);
    CHECK_INT(served_status, 0);
    CHECK_STR(served, "ok");
    free(refused);
    free(served);
}

/* ---- handshakeTimeout: slow handshakes are cut off ------------------------ */

static void handshake_timeout_1s(nhttps_server_options *options) {
    nhttps_server_options_set_handshake_timeout_ms(options, 1000);
}

/* Half a ClientHello and then nothing: dropped when handshakeTimeout
 * passes. A ClientHello trickled a byte every 200 ms: Node's
 * handshakeTimeout bounds the whole handshake, so it is dropped then too. */
static void a_stalled_or_trickled_handshake_is_cut_off_at_handshake_timeout(void) {
    REQUIRE_TOOL("python3");
    int before = h_threads_now();
    nhttps_server *server = start_with(handshake_timeout_1s, answer_ok, NULL);
    CHECK(server != NULL);
    struct peer stall = {0}, trickle = {0};
    CHECK(peer_start(&stall, PEER "stall --fraction 0.5 --hold 8", (unsigned)h_port));
    CHECK(peer_start(&trickle, PEER "hello-trickle --interval 0.2 --max-time 8", (unsigned)h_port));
    bool stall_done = peer_wait_line(&stall, "closed_after=", 15000) != NULL ||
                      peer_wait_line(&stall, "open_after=", 1000) != NULL;
    bool trickle_done = peer_wait_line(&trickle, "closed_after=", 15000) != NULL ||
                        peer_wait_line(&trickle, "open_after=", 1000) != NULL;
    nhttps_server_free(server);
    peer_finish(&stall, true);
    peer_finish(&trickle, true);
    double stall_closed = value_after(stall.buf, "closed_after=");
    double trickle_closed = value_after(trickle.buf, "closed_after=");
    fprintf(stderr, "handshakeTimeout: half a ClientHello: %s\n", flat(&stall));
    fprintf(stderr, "handshakeTimeout: ClientHello byte by byte: %s\n", flat(&trickle));
    CHECK(stall_done && trickle_done);
    CHECK_MSG(stall_closed >= 0.5 && stall_closed < 3.0,
              "a handshake stalled after half a ClientHello was not dropped ~1 s later: %s",
              flat(&stall));
    CHECK_MSG(trickle_closed >= 0.5 && trickle_closed < 3.0,
              "handshakeTimeout is 1 s, but a ClientHello trickled a byte every 200 ms was not "
              "dropped in time (the timeout applies per read, not to the whole handshake): %s",
              flat(&trickle));
    CHECK_INT(h_threads_settle(before, 3000), before);
}

/* ---- requestTimeout: a client that never reads -------------------------- */

static void request_timeout_1s(nhttps_server_options *options) {
    nhttps_server_options_set_request_timeout_ms(options, 1000);
}

static atomic_int big_write_rc, big_end_rc, big_done;
static atomic_llong big_sent, big_blocked_ms;

static void write_50_mb(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    enum { CHUNK = 64 * 1024, TOTAL = 50 * 1024 * 1024 };
    uint8_t *chunk = calloc(1, CHUNK);
    nhttps_server_response_set_header(res, "Content-Length", "52428800");
    nhttps_result rc = NHTTPS_OK;
    long long sent = 0, last = h_now_ms();
    while (sent < TOTAL) {
        last = h_now_ms();
        rc = nhttps_server_response_write(res, chunk, CHUNK);
        if (rc != NHTTPS_OK) {
            break;
        }
        sent += CHUNK;
    }
    atomic_store(&big_blocked_ms, h_now_ms() - last);
    atomic_store(&big_sent, sent);
    atomic_store(&big_write_rc, rc);
    atomic_store(&big_end_rc, nhttps_server_response_end(res, NULL, 0));
    free(chunk);
    atomic_store(&big_done, 1);
}

/* The writer gives up after requestTimeout instead of hanging, and the
 * connection's thread is let go: nhttps_server_close, which waits for every
 * connection thread (it never interrupts a response in flight), returns at
 * once although the client is still connected and still not reading. */
static void a_client_that_never_reads_is_dropped_after_request_timeout(void) {
    REQUIRE_TOOL("python3");
    int before = h_threads_now();
    atomic_store(&big_done, 0);
    nhttps_server *server = start_with(request_timeout_1s, write_50_mb, NULL);
    CHECK(server != NULL);
    struct peer client = {0};
    CHECK(peer_start(&client, PEER "noread --path /big --hold 60", (unsigned)h_port));
    bool sent = peer_wait_line(&client, "sent", 30000) != NULL;
    bool done = h_wait_for(&big_done, 60000);
    long long t0 = h_now_ms();
    nhttps_result close_rc = nhttps_server_close(server);
    long long close_ms = h_now_ms() - t0;
    peer_finish(&client, true); /* only now does the client go */
    nhttps_server_free(server);
    int after = h_threads_settle(before, 3000);
    nhttps_result wrc = (nhttps_result)atomic_load(&big_write_rc);
    fprintf(stderr, "requestTimeout: wrote %lld bytes, then %s after %lld ms blocked; close "
            "took %lld ms with the client still connected\n",
            atomic_load(&big_sent), nhttps_result_name((int)wrc), atomic_load(&big_blocked_ms),
            close_ms);
    CHECK(sent);
    CHECK_MSG(done, "the writer was still blocked 60 s after the client stopped reading");
    CHECK_MSG(wrc != NHTTPS_OK && wrc != NHTTPS_ERR_PANIC, "the write gave %s",
              nhttps_result_name((int)wrc));
    CHECK_MSG(atomic_load(&big_sent) < 50LL * 1024 * 1024, "all 50 MB were written");
    CHECK_MSG(atomic_load(&big_blocked_ms) < 10000, "the last write blocked %lld ms (timeout 1 s)",
              atomic_load(&big_blocked_ms));
    CHECK((nhttps_result)atomic_load(&big_end_rc) != NHTTPS_OK);
    CHECK_RC(close_rc, NHTTPS_OK);
    CHECK_MSG(close_ms < 5000,
              "nhttps_server_close took %lld ms: the connection of the client that never reads "
              "was still held after its writer gave up", close_ms);
    CHECK_INT(after, before);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(reading_the_body_after_end_in_the_callback_gives_a_defined_result);
    RUN(exit_waits_for_a_call_in_progress_on_another_thread);
    RUN(write_head_and_set_header_after_the_head_are_invalid_state);
    RUN(set_header_and_write_head_after_a_write_are_invalid_state);
    RUN(reading_a_body_again_after_its_end_gives_zero_bytes);
    RUN(using_a_response_after_its_end_is_invalid_state_and_sends_nothing);
    RUN(a_handle_that_nhttps_never_made_is_invalid_state);
    RUN(listening_twice_or_after_close_is_invalid_state);
    RUN(closing_twice_and_closing_an_idle_server_are_harmless);
    RUN(freeing_a_listening_server_with_connections_open_closes_them);
    RUN(writing_to_a_closed_upgraded_socket_fails_and_reads_give_zero);
    RUN(close_waits_for_a_response_ended_later_from_another_thread);
    RUN(a_server_serves_1000_requests_then_closes_and_frees_leaving_no_thread);
    RUN(a_head_trickled_byte_by_byte_is_cut_off_at_headers_timeout);
    RUN(on_a_kept_alive_connection_headers_timeout_counts_from_the_first_byte);
    RUN(max_requests_per_socket_closes_the_connection_after_the_last_one);
    RUN(max_connections_per_ip_closes_extra_connections_from_one_address);
    RUN(a_stalled_or_trickled_handshake_is_cut_off_at_handshake_timeout);
    RUN(a_client_that_never_reads_is_dropped_after_request_timeout);
    return h_finish();
}
