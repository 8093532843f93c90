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

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(queued_requests_are_answered_by_the_threads_that_take_them);
    RUN(take_request_times_out_when_nothing_comes);
    RUN(take_request_refuses_a_server_that_does_not_queue);
    RUN(close_waits_for_a_taken_request);
    return h_finish();
}
