/* Requests taken instead of handed out: nhttps_server_queue_requests and
 * nhttps_server_take_request, with curl as the client. */
#include "harness.h"

#include <pthread.h>

static nhttps_server *queued_server(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) return NULL;
    nhttps_server_queue_requests(server);
    if (nhttps_server_listen(server, "127.0.0.1", 0) != NHTTPS_OK) {
        nhttps_server_free(server);
        return NULL;
    }
    h_port = nhttps_server_port(server);
    return server;
}

/* A taker: answers each request with its URL until the server closes. */
struct taker {
    nhttps_server *server;
    atomic_int answered;
    nhttps_result last;
};

static void *take_until_closed(void *arg) {
    struct taker *t = arg;
    for (;;) {
        nhttps_incoming_message *req = NULL;
        nhttps_server_response *res = NULL;
        nhttps_result rc = nhttps_server_take_request(t->server, 1000, &req, &res);
        if (rc == NHTTPS_ERR_TIMEOUT) continue;
        if (rc != NHTTPS_OK) {
            t->last = rc;
            return NULL;
        }
        const char *url = nhttps_incoming_message_url(req);
        nhttps_server_response_end(res, (const uint8_t *)url, strlen(url));
        atomic_fetch_add(&t->answered, 1);
    }
}

static void queued_requests_are_answered_by_the_threads_that_take_them(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = queued_server();
    CHECK(server != NULL);
    struct taker t = {.server = server};
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) pthread_create(&threads[i], NULL, take_until_closed, &t);
    int status = -1;
    char *body = h_capture(&status, CURL " https://127.0.0.1:%u/a https://127.0.0.1:%u/b "
                                         "https://127.0.0.1:%u/c",
                           (unsigned)h_port, (unsigned)h_port, (unsigned)h_port);
    CHECK_STR(body, "/a/b/c");
    free(body);
    /* Close returns once every queued request was answered; then every
     * taker hears that the server has closed. */
    nhttps_server_close(server);
    for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);
    CHECK_INT(atomic_load(&t.answered), 3);
    CHECK_INT(t.last, NHTTPS_ERR_INVALID_STATE);
    nhttps_server_free(server);
}

static void take_request_times_out_when_nothing_comes(void) {
    nhttps_server *server = queued_server();
    nhttps_incoming_message *req = (nhttps_incoming_message *)1;
    nhttps_server_response *res = (nhttps_server_response *)1;
    long long start = h_now_ms();
    CHECK_RC(nhttps_server_take_request(server, 100, &req, &res), NHTTPS_ERR_TIMEOUT);
    CHECK(h_now_ms() - start >= 90);
    CHECK(req == NULL && res == NULL);
    CHECK_RC(nhttps_server_take_request(server, 0, &req, &res), NHTTPS_ERR_TIMEOUT);
    nhttps_server_free(server);
}

static void take_request_refuses_a_server_that_does_not_queue(void) {
    nhttps_server *server = h_start_server(h_hello, NULL);
    nhttps_incoming_message *req = NULL;
    nhttps_server_response *res = NULL;
    CHECK_RC(nhttps_server_take_request(server, 0, &req, &res), NHTTPS_ERR_INVALID_STATE);
    CHECK_CONTAINS(nhttps_last_error_message(), "not queued");
    nhttps_server_free(server);
}

/* A request taken and kept: close waits for its answer, which still goes
 * out, then the taker hears the server has closed. */
struct held {
    nhttps_server *server;
    atomic_int taken;
};

static void *take_one_and_answer_late(void *arg) {
    struct held *h = arg;
    nhttps_incoming_message *req = NULL;
    nhttps_server_response *res = NULL;
    if (nhttps_server_take_request(h->server, -1, &req, &res) != NHTTPS_OK) return NULL;
    atomic_store(&h->taken, 1);
    h_sleep_ms(300);
    nhttps_server_response_end(res, (const uint8_t *)"late", 4);
    return NULL;
}

static void close_waits_for_a_taken_request(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = queued_server();
    struct held h = {.server = server};
    pthread_t taker;
    pthread_create(&taker, NULL, take_one_and_answer_late, &h);
    char command[256];
    snprintf(command, sizeof command, CURL " https://127.0.0.1:%u/ 2>&1", (unsigned)h_port);
    FILE *client = popen(command, "r");
    for (int i = 0; i < 1000 && !atomic_load(&h.taken); i++) h_sleep_ms(5);
    CHECK(atomic_load(&h.taken));
    nhttps_server_close(server);
    char body[64] = "";
    size_t n = fread(body, 1, sizeof body - 1, client);
    body[n] = '\0';
    pclose(client);
    pthread_join(taker, NULL);
    CHECK_STR(body, "late");
    nhttps_incoming_message *req = NULL;
    nhttps_server_response *res = NULL;
    CHECK_RC(nhttps_server_take_request(server, -1, &req, &res), NHTTPS_ERR_INVALID_STATE);
    CHECK_CONTAINS(nhttps_last_error_message(), "closed");
    nhttps_server_free(server);
}

/* Responses the program holds after taking their requests hold no thread
 * of the server meanwhile: the connection's turn goes on on the thread
 * that ends them, and the connection carries the next request. */
#define HELD 60

static int take_and_hold(nhttps_server *server, nhttps_incoming_message **reqs,
                         nhttps_server_response **ress) {
    int taken = 0;
    while (taken < HELD &&
           nhttps_server_take_request(server, 20000, &reqs[taken], &ress[taken]) == NHTTPS_OK)
        taken++;
    return taken;
}

static void end_with_urls(int n, nhttps_incoming_message **reqs, nhttps_server_response **ress) {
    for (int i = 0; i < n; i++) {
        const char *url = nhttps_incoming_message_url(reqs[i]);
        CHECK_RC(nhttps_server_response_end(ress[i], (const uint8_t *)url, strlen(url)), NHTTPS_OK);
    }
}

static void held_responses_hold_no_server_thread(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = queued_server();
    CHECK(server != NULL);
    int before = h_threads_now();
    /* 2 x HELD requests, HELD at a time: the second HELD go on the
     * connections the first ones leave. */
    char command[32768];
    int n = snprintf(command, sizeof command,
                     CURL " --parallel --parallel-immediate --parallel-max %d "
                          "-w '%%{http_code} %%{num_connects}\\n'",
                     HELD);
    for (int i = 0; i < 2 * HELD; i++)
        n += snprintf(command + n, sizeof command - n, " -o /dev/null https://127.0.0.1:%u/%d",
                      (unsigned)h_port, i);
    FILE *client = popen(command, "r");
    nhttps_incoming_message *reqs[HELD];
    nhttps_server_response *ress[HELD];
    int taken = take_and_hold(server, reqs, ress);
    CHECK_INT(taken, HELD);
    int during = h_threads_now();
    printf("# threads: %d before, %d with %d responses held\n", before, during, HELD);
    /* Held, each would keep a thread (HELD more); the burst of handshakes
     * may have started some, idle now (they leave after 10 s). */
    CHECK_MSG(during - before < HELD / 2, "%d threads with %d responses held (%d before)", during, HELD,
              before);
    end_with_urls(taken, reqs, ress);
    taken = take_and_hold(server, reqs, ress);
    CHECK_INT(taken, HELD);
    end_with_urls(taken, reqs, ress);
    char line[64];
    int ok = 0, reused = 0;
    while (fgets(line, sizeof line, client) != NULL) {
        ok += strncmp(line, "200 ", 4) == 0;
        reused += strcmp(line, "200 0\n") == 0;
    }
    pclose(client);
    CHECK_INT(ok, 2 * HELD);
    printf("# %d of %d requests on a kept-alive connection\n", reused, HELD);
    CHECK(reused > 0);
    nhttps_server_free(server);
}

/* A taker may end a response before the server's thread that queued its
 * request has let go of it: every response still goes out whole, on a
 * connection kept alive (300 requests, one curl, one connection). */
static void responses_ended_at_once_by_the_taker_all_arrive(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = queued_server();
    CHECK(server != NULL);
    struct taker t = {.server = server};
    pthread_t thread;
    pthread_create(&thread, NULL, take_until_closed, &t);
    char command[256];
    snprintf(command, sizeof command,
             CURL " -w '%%{http_code} %%{num_connects}\\n' -o /dev/null "
                  "'https://127.0.0.1:%u/[1-300]'",
             (unsigned)h_port);
    FILE *client = popen(command, "r");
    char line[64];
    int ok = 0, connects = 0;
    while (fgets(line, sizeof line, client) != NULL) {
        ok += strncmp(line, "200 ", 4) == 0;
        connects += atoi(line + 4);
    }
    pclose(client);
    CHECK_INT(ok, 300);
    CHECK_INT(connects, 1);
    nhttps_server_close(server);
    pthread_join(thread, NULL);
    CHECK_INT(atomic_load(&t.answered), 300);
    nhttps_server_free(server);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(queued_requests_are_answered_by_the_threads_that_take_them);
    RUN(take_request_times_out_when_nothing_comes);
    RUN(take_request_refuses_a_server_that_does_not_queue);
    RUN(close_waits_for_a_taken_request);
    RUN(held_responses_hold_no_server_thread);
    RUN(responses_ended_at_once_by_the_taker_all_arrive);
    return h_finish();
}
