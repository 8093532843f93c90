/* Connections parked between requests: a keep-alive connection waiting for
 * its next request holds no thread, and a thread of the pool takes it up
 * when the request comes. With real clients: Python's http.client in
 * c-tests/peers/idle_clients.py. */
#include "harness.h"

#include <signal.h>
#include <sys/resource.h>

static atomic_int requests;
/* Handlers of /block waiting, and whether they may go on. */
static atomic_int blocked;
static atomic_bool released;

/* Answers "ok"; /slow after 500 ms, /block once `released` (60 s at most). */
static void answer(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    atomic_fetch_add(&requests, 1);
    const char *url = nhttps_incoming_message_url(req);
    if (strcmp(url, "/slow") == 0) {
        h_sleep_ms(500);
    } else if (strcmp(url, "/block") == 0) {
        atomic_fetch_add(&blocked, 1);
        for (int i = 0; i < 12000 && !atomic_load(&released); i++) h_sleep_ms(5);
    }
    nhttps_server_response_end(res, (const uint8_t *)"ok", 2);
}

/* A server with the development certificate, the keep-alive timeout given,
 * at most `max_connections` in all and `max_per_ip` from one address (0: no
 * limit), listening (port in h_port). */
static nhttps_server *start_limited(uint32_t keep_alive_ms, uint32_t max_connections,
                                    uint32_t max_per_ip) {
    atomic_store(&requests, 0);
    atomic_store(&blocked, 0);
    atomic_store(&released, false);
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server_options_set_keep_alive_timeout_ms(options, keep_alive_ms);
    nhttps_server_options_set_max_connections(options, max_connections);
    nhttps_server_options_set_max_connections_per_ip(options, max_per_ip);
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) return NULL;
    nhttps_server_on_request(server, answer, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", 0) != NHTTPS_OK) {
        nhttps_server_free(server);
        return NULL;
    }
    h_port = nhttps_server_port(server);
    return server;
}

static nhttps_server *start(uint32_t keep_alive_ms, uint32_t max_connections) {
    return start_limited(keep_alive_ms, max_connections, 0);
}

/* `idle_clients.py hold`: connections that each got an answer and now
 * idle until `go` exists. */
struct holders {
    FILE *out;
    char go[512];
    int idle; /* connections answered before idling */
};

static void hold_start(struct holders *h, int connections) {
    snprintf(h->go, sizeof h->go, "%s", h_path("go"));
    unlink(h->go);
    char command[1024];
    snprintf(command, sizeof command,
             "timeout 300 python3 c-tests/peers/idle_clients.py hold --port %u --connections %d "
             "--go %s 2>&1",
             (unsigned)h_port, connections, h->go);
    h->out = popen(command, "r");
    h->idle = -1;
    char line[256];
    if (h->out != NULL && fgets(line, sizeof line, h->out) != NULL) {
        sscanf(line, "idle %d", &h->idle);
    }
}

/* Lets the holders send their second request; their report in `out`. */
static void hold_finish(struct holders *h, char *out, size_t size) {
    h_write_file(h->go, "go", 2);
    out[0] = '\0';
    if (h->out == NULL) return;
    size_t len = fread(out, 1, size - 1, h->out);
    out[len] = '\0';
    pclose(h->out);
    h->out = NULL;
}

static char *sweep(int requests_, int from_ms, int to_ms) {
    return h_capture(NULL,
                     "timeout 300 python3 c-tests/peers/idle_clients.py sweep --port %u "
                     "--requests %d --from-ms %d --to-ms %d 2>&1",
                     (unsigned)h_port, requests_, from_ms, to_ms);
}

/* The server's threads beyond the caller's when nothing happens: accept,
 * watchdog, and the pool's last idle thread, waiting on the poller. */
#define SERVER_THREADS 3

static void idle_keep_alive_connections_hold_no_thread(void) {
    int before = h_threads_now();
    nhttps_server *server = start(60000, 0);
    CHECK(server != NULL);
    struct holders h;
    hold_start(&h, 50);
    /* A thread without work leaves the pool after 10 s. */
    int parked = h_threads_settle(before + SERVER_THREADS, 20000);
    char again[1024];
    hold_finish(&h, again, sizeof again);
    nhttps_server_free(server);
    int after = h_threads_settle(before, 5000);
    printf("# threads: %d before, %d with 50 connections parked\n", before, parked);
    CHECK_INT(h.idle, 50);
    CHECK_MSG(parked == before + SERVER_THREADS,
              "%d threads with 50 idle connections (%d before the server started)", parked,
              before);
    CHECK_CONTAINS(again, "again ok=50 closed=0 bad=0");
    CHECK_INT(after, before);
}

/* The next request comes about when its connection parks (at once after a
 * response, unless the request is there already): every one is answered,
 * on the same connection. */
static void a_request_arriving_as_its_connection_parks_is_served(void) {
    nhttps_server *server = start(60000, 0);
    CHECK(server != NULL);
    char *out = sweep(80, 0, 4);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "ok=80 closed=0 bad=0 connections=1");
    free(out);
}

/* Requests that come about when the keep-alive timeout (200 ms, enforced
 * within 100 ms) closes the connection: each one is answered, or finds
 * its connection closed before any byte of an answer and is answered on
 * a new one. */
static void a_request_racing_the_keep_alive_timeout_is_answered_or_finds_the_connection_closed(void) {
    nhttps_server *server = start(200, 0);
    CHECK(server != NULL);
    char *out = sweep(40, 150, 350);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "ok=40 closed=");
    CHECK_CONTAINS(out, " bad=0 ");
    CHECK_MSG(strstr(out, "closed=0 ") == NULL, "the keep-alive timeout never closed: %s", out);
    free(out);
}

struct sent_request {
    const char *path;
    char *reply;
};

/* A thread's request, with curl: the reply's head and body. */
static void *send_request(void *arg) {
    struct sent_request *sent = arg;
    sent->reply =
        h_capture(NULL, CURL " --http1.1 -i https://127.0.0.1:%u%s 2>&1", (unsigned)h_port, sent->path);
    return NULL;
}

/* close with 1,000 parked connections and a handler in flight: the handler
 * finishes and its answer arrives, every parked connection is closed, and
 * close returns once they are all gone. */
static int PARKED_AT_CLOSE = 1000;
static void close_ends_parked_connections_and_lets_a_handler_finish(void) {
    REQUIRE_TOOL("curl");
    int before = h_threads_now();
    nhttps_server *server = start(60000, 0);
    CHECK(server != NULL);
    struct holders h;
    hold_start(&h, PARKED_AT_CLOSE);
    struct sent_request slow = {"/slow", NULL};
    pthread_t sender;
    pthread_create(&sender, NULL, send_request, &slow);
    for (int i = 0; i < 1000 && atomic_load(&requests) < PARKED_AT_CLOSE + 1; i++) h_sleep_ms(10);
    long long t0 = h_now_ms();
    nhttps_server_close(server);
    long long close_ms = h_now_ms() - t0;
    pthread_join(sender, NULL);
    char again[1024];
    hold_finish(&h, again, sizeof again);
    nhttps_server_free(server);
    int after = h_threads_settle(before, 5000);
    printf("# close with %d parked connections and a 500 ms handler in flight: %lld ms\n",
           PARKED_AT_CLOSE, close_ms);
    CHECK_INT(h.idle, PARKED_AT_CLOSE);
    CHECK_INT(atomic_load(&requests), PARKED_AT_CLOSE + 1);
    CHECK_MSG(close_ms < 10000, "close took %lld ms", close_ms);
    CHECK(slow.reply != NULL);
    if (slow.reply) CHECK_CONTAINS(slow.reply, "HTTP/1.1 200 OK");
    char expected[64];
    snprintf(expected, sizeof expected, "again ok=0 closed=%d bad=0", PARKED_AT_CLOSE);
    CHECK_CONTAINS(again, expected);
    CHECK_INT(after, before);
    free(slow.reply);
}

/* Five connections parked on a server that admits five (in all, or from
 * one address): a sixth is refused, and the five are served again. */
static void five_parked_connections_fill(uint32_t max_connections, uint32_t max_per_ip) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = start_limited(60000, max_connections, max_per_ip);
    CHECK(server != NULL);
    struct holders h;
    hold_start(&h, 5);
    h_sleep_ms(200); /* every one parked */
    int status = -1;
    free(h_capture(&status, CURL " https://127.0.0.1:%u/ 2>&1", (unsigned)h_port));
    int answered = atomic_load(&requests);
    char again[1024];
    hold_finish(&h, again, sizeof again);
    nhttps_server_free(server);
    CHECK_INT(h.idle, 5);
    CHECK_MSG(status != 0, "a sixth connection was served");
    CHECK_INT(answered, 5);
    CHECK_CONTAINS(again, "again ok=5 closed=0 bad=0");
}

static void parked_connections_count_against_max_connections(void) {
    five_parked_connections_fill(5, 0);
}

static void parked_connections_count_against_max_connections_per_ip(void) {
    five_parked_connections_fill(0, 5);
}

#define BLOCKERS 16

/* Handlers blocked on more connections than the machine has cores: a
 * request on another connection is answered while they all still block
 * (the pool sees its threads get nothing done and lets another serve). */
static void handlers_that_block_delay_no_other_connection(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = start(60000, 0);
    CHECK(server != NULL);
    struct sent_request sent[BLOCKERS];
    pthread_t senders[BLOCKERS];
    for (int i = 0; i < BLOCKERS; i++) {
        sent[i] = (struct sent_request){"/block", NULL};
        pthread_create(&senders[i], NULL, send_request, &sent[i]);
    }
    for (int i = 0; i < 6000 && atomic_load(&blocked) < BLOCKERS; i++) h_sleep_ms(10);
    int blocking = atomic_load(&blocked);
    int status = -1;
    char *other = h_capture(&status, CURL " https://127.0.0.1:%u/ 2>&1", (unsigned)h_port);
    bool still_blocked = !atomic_load(&released) && atomic_load(&requests) == BLOCKERS + 1;
    atomic_store(&released, true);
    int answered = 0;
    for (int i = 0; i < BLOCKERS; i++) {
        pthread_join(senders[i], NULL);
        if (sent[i].reply != NULL && strstr(sent[i].reply, "HTTP/1.1 200 OK") != NULL) answered++;
        free(sent[i].reply);
    }
    nhttps_server_free(server);
    CHECK_INT(blocking, BLOCKERS);
    CHECK_INT(status, 0);
    CHECK_CONTAINS(other, "ok");
    CHECK(still_blocked);
    CHECK_INT(answered, BLOCKERS);
    free(other);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    /* A thousand connections need that many descriptors in this process
     * and in the client's; fewer where the system does not allow it. */
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
        if (files.rlim_cur < files.rlim_max) {
            files.rlim_cur = files.rlim_max;
            setrlimit(RLIMIT_NOFILE, &files);
        }
        if (files.rlim_cur < 2200) PARKED_AT_CLOSE = (int)files.rlim_cur / 2 - 100;
    }
    RUN(idle_keep_alive_connections_hold_no_thread);
    RUN(a_request_arriving_as_its_connection_parks_is_served);
    RUN(a_request_racing_the_keep_alive_timeout_is_answered_or_finds_the_connection_closed);
    RUN(close_ends_parked_connections_and_lets_a_handler_finish);
    RUN(parked_connections_count_against_max_connections);
    RUN(parked_connections_count_against_max_connections_per_ip);
    RUN(handlers_that_block_delay_no_other_connection);
    return h_finish();
}
