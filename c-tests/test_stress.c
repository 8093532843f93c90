/* Stress (issue 7): 200 concurrent TLS clients doing keep-alive requests
 * while nhttps_server_close is called. No crash; every response in flight
 * arrives whole or its connection is closed cleanly before it starts (no
 * truncated response); no thread is left behind.
 *
 * The clients are Python's http.client in 200 threads
 * (c-tests/peers/stress_clients.py). The server is closed once ~1 s has
 * passed and every client has connected, so that the close meets all 200
 * connections, idle and busy, even under valgrind, where handshakes are
 * slow. */
#include "harness.h"

#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>

#define CLIENTS 200
#define BODY_LENGTH 32768

static uint8_t body[BODY_LENGTH];
static atomic_int served, failed_writes, connections, max_busy, busy;

static bool count_connection(void *userdata, const nhttps_socket_info *info) {
    (void)userdata;
    (void)info;
    atomic_fetch_add(&connections, 1);
    return true;
}

/* The body in two writes with a pause between, so that responses are in
 * flight when the close comes. */
static void answer(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    int now = atomic_fetch_add(&busy, 1) + 1;
    int seen = atomic_load(&max_busy);
    while (now > seen && !atomic_compare_exchange_weak(&max_busy, &seen, now)) {
    }
    char length[32];
    snprintf(length, sizeof length, "%d", BODY_LENGTH);
    nhttps_server_response_set_header(res, "Content-Length", length);
    nhttps_result a = nhttps_server_response_write(res, body, BODY_LENGTH / 2);
    h_sleep_ms(2);
    atomic_fetch_sub(&busy, 1);
    nhttps_result b = nhttps_server_response_end(res, body + BODY_LENGTH / 2, BODY_LENGTH / 2);
    if (a != NHTTPS_OK || b != NHTTPS_OK) {
        atomic_fetch_add(&failed_writes, 1);
    } else {
        atomic_fetch_add(&served, 1);
    }
}

#define CLOSE_LIMIT_MS 15000

/* Where this process's other threads are blocked: the system call each is
 * in (from /proc/self/task/TID/syscall), e.g. "connect futex". */
static void blocked_syscalls(char *out, size_t size) {
    out[0] = '\0';
    DIR *dir = opendir("/proc/self/task");
    if (dir == NULL) {
        return;
    }
    long self = (long)syscall(SYS_gettid);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        long tid = atol(entry->d_name);
        if (tid <= 0 || tid == self) {
            continue;
        }
        char path[64], text[256] = "";
        snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(text, sizeof text, f) == NULL) {
                text[0] = '\0';
            }
            fclose(f);
        }
        long nr = atol(text);
        const char *name = nr == SYS_connect ? "connect"
                           : nr == SYS_accept4 || nr == SYS_accept ? "accept"
                           : nr == SYS_futex ? "futex"
                           : nr == SYS_read ? "read"
                           : nr == SYS_recvfrom ? "recvfrom"
                           : nr == SYS_poll ? "poll"
                           : NULL;
        size_t len = strlen(out);
        if (name != NULL) {
            snprintf(out + len, size - len, "%s%s", len ? " " : "", name);
        } else {
            snprintf(out + len, size - len, "%s#%ld", len ? " " : "", nr);
        }
    }
    closedir(dir);
}

static nhttps_server *closing_server;
static atomic_int closed, close_rc;

static void *close_server(void *arg) {
    (void)arg;
    atomic_store(&close_rc, nhttps_server_close(closing_server));
    atomic_store(&closed, 1);
    return NULL;
}

static long value_of(const char *text, const char *key) {
    const char *p = strstr(text, key);
    return p ? atol(p + strlen(key)) : -1;
}

static void close_during_200_keep_alive_clients_truncates_nothing_and_leaks_no_thread(void) {
    REQUIRE_TOOL("python3");
    for (int i = 0; i < BODY_LENGTH; i++) {
        body[i] = (uint8_t)(i % 251);
    }
    int before = h_threads_now();
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *server = NULL;
    CHECK_OK(nhttps_server_new(options, &server));
    nhttps_server_options_free(options);
    CHECK_OK(nhttps_server_on_request(server, answer, NULL));
    CHECK_OK(nhttps_server_on_connection(server, count_connection, NULL));
    CHECK_OK(nhttps_server_listen(server, "127.0.0.1", 0));
    unsigned port = nhttps_server_port(server);

    char command[512];
    snprintf(command, sizeof command,
             "python3 c-tests/peers/stress_clients.py --port %u --clients %d --length %d "
             "--max-seconds 100 2>&1",
             port, CLIENTS, BODY_LENGTH);
    fflush(stdout);
    FILE *clients = popen(command, "r");
    CHECK(clients != NULL);
    char first[128] = "";
    if (fgets(first, sizeof first, clients) == NULL) {
        first[0] = '\0';
    }
    long clients_pid = value_of(first, "pid=");

    /* ~1 s, and every client connected (at most 40 s: valgrind is slow). */
    long long start = h_now_ms();
    while (h_now_ms() - start < 1000 ||
           (atomic_load(&connections) < CLIENTS && h_now_ms() - start < 40000)) {
        h_sleep_ms(20);
    }
    int served_before_close = atomic_load(&served);
    int connected_at_close = atomic_load(&connections);
    int during = h_threads_now();

    /* Close on a thread of its own, watched: a close that hangs is told,
     * and the test ends instead of waiting for it. */
    closing_server = server;
    long long t0 = h_now_ms();
    pthread_t closer;
    CHECK(pthread_create(&closer, NULL, close_server, NULL) == 0);
    if (!h_wait_for(&closed, CLOSE_LIMIT_MS)) {
        char where[512];
        blocked_syscalls(where, sizeof where);
        h_fail(__FILE__, __LINE__,
               "nhttps_server_close has not returned %d s after it was called (%d connections "
               "open; %d threads now, blocked in: %s); clients that reconnect while it runs "
               "are left unanswered in the listen backlog, and the accept thread's wake-up "
               "connect can block in SYN retries (~127 s) when that backlog (128) is full; "
               "the test stops here",
               CLOSE_LIMIT_MS / 1000, connected_at_close, h_threads_now(), where);
        if (clients_pid > 0) {
            kill((pid_t)clients_pid, SIGKILL);
        }
        printf("done: 0 passed, 1 failed, 0 skipped\n");
        fflush(stdout);
        _exit(1);
    }
    pthread_join(closer, NULL);
    long long close_ms = h_now_ms() - t0;
    nhttps_result rc = (nhttps_result)atomic_load(&close_rc);
    int after_close = h_threads_settle(before, 3000);

    /* The clients stop once connections are refused. */
    char output[8192];
    size_t len = fread(output, 1, sizeof output - 1, clients);
    output[len] = '\0';
    int status = pclose(clients);
    nhttps_server_free(server);
    int after_free = h_threads_settle(before, 3000);
    fprintf(stderr,
            "stress: %d connections, %d responses before close (at %lld ms), %d in all, max %d "
            "handlers at once, %d failed writes; close from %lld to %lld ms (monotonic) took "
            "%lld ms; threads %d -> %d -> %d -> %d\n"
            "stress clients: %s%s",
            atomic_load(&connections), served_before_close, t0 - start, atomic_load(&served),
            atomic_load(&max_busy), atomic_load(&failed_writes), t0, t0 + close_ms, close_ms,
            before, during, after_close, after_free, first, output);

    CHECK_MSG(close_ms < 10000,
              "nhttps_server_close took %lld ms (clients that reconnect while it runs wait in "
              "the listen backlog; the accept thread's wake-up connect may block in SYN "
              "retries when the backlog is full): %s", close_ms, output);
    CHECK_RC(rc, NHTTPS_OK);
    CHECK_MSG(status == 0, "the clients exited with %d: %s", status, output);
    CHECK_MSG(value_of(output, "truncated=") == 0, "truncated responses: %s", output);
    CHECK_MSG(value_of(output, "error=") == 0,
              "client errors (a handshake that timed out is a connection made while close ran, "
              "neither served nor refused): %s", output);
    CHECK_MSG(value_of(output, "complete=") > 0, "no complete response: %s", output);
    CHECK_MSG(value_of(output, "refused=") == CLIENTS,
              "not every client ended with a refused connection (some timed out?): %s", output);
    /* All 200 normally; on a loaded machine under valgrind some may still be
     * on their way in after 40 s, and are then refused: that is no failure. */
    CHECK_MSG(connected_at_close >= CLIENTS / 2, "only %d of %d clients connected before close",
              connected_at_close, CLIENTS);
    /* A thread per active connection (one parked between requests holds
     * none), the server's accept, watchdog and poller threads, and a few
     * that have just finished a job and are on their way to wait for the
     * next (a job finds no idle thread then and starts one). */
    CHECK_MSG(during > before && during <= before + CLIENTS + 10,
              "threads while serving: %d (before: %d, %d connections)", during, before,
              connected_at_close);
    CHECK_MSG(atomic_load(&failed_writes) == 0,
              "%d responses failed on the server's side during the close",
              atomic_load(&failed_writes));
    CHECK_INT(after_close, before);
    CHECK_INT(after_free, before);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(close_during_200_keep_alive_clients_truncates_nothing_and_leaks_no_thread);
    return h_finish();
}
