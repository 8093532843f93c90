/* The server's events and HTTP/1.1 behaviour, through the header, with
 * real clients: curl, Python's ssl and http.client, Node's https. */
#include "harness.h"

#include <signal.h>
#include <sys/socket.h>

/* What the callbacks saw, as text the tests search. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen[16384];
static atomic_int requests, connections, closes, listenings, client_errors;

static void reset(void) {
    pthread_mutex_lock(&seen_lock);
    seen[0] = '\0';
    pthread_mutex_unlock(&seen_lock);
    atomic_store(&requests, 0);
    atomic_store(&connections, 0);
    atomic_store(&closes, 0);
    atomic_store(&listenings, 0);
    atomic_store(&client_errors, 0);
}

static void note(const char *fmt, ...) {
    pthread_mutex_lock(&seen_lock);
    size_t len = strlen(seen);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(seen + len, sizeof seen - len, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&seen_lock);
}

/* A server with the development certificate, not yet listening. */
static nhttps_server *new_server(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *server = NULL;
    nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    return server;
}

static nhttps_result listen_local(nhttps_server *server) {
    nhttps_result rc = nhttps_server_listen(server, "127.0.0.1", 0);
    h_port = nhttps_server_port(server);
    return rc;
}

/* ---- callbacks ---------------------------------------------------------- */

/* Echoes what it saw of the request: method, url, version, headers, body. */
static void echo_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    atomic_fetch_add(&requests, 1);
    size_t body_len = 0;
    char *body = h_read_body(req, &body_len);
    char out[8192];
    int n = snprintf(out, sizeof out, "%s %s HTTP/%s\n", nhttps_incoming_message_method(req),
                     nhttps_incoming_message_url(req), nhttps_incoming_message_http_version(req));
    for (size_t i = 0; i < nhttps_incoming_message_header_count(req); i++) {
        const char *name = NULL, *value = NULL;
        nhttps_incoming_message_header_at(req, i, &name, &value);
        n += snprintf(out + n, sizeof out - (size_t)n, "%s: %s\n", name, value);
    }
    n += snprintf(out + n, sizeof out - (size_t)n, "body-length: %zu\nbody: %.200s\n", body_len,
                  body);
    free(body);
    nhttps_server_response_set_header(res, "Content-Type", "text/plain");
    nhttps_server_response_end(res, (const uint8_t *)out, (size_t)n);
}

/* Answers "same" when the header block holds exactly the fields that
 * header_at gives, in order, and "different" otherwise. */
static void compare_header_block(void *userdata, nhttps_incoming_message *req,
                                 nhttps_server_response *res) {
    (void)userdata;
    const uint8_t *block = NULL;
    size_t len = 0;
    bool same = nhttps_incoming_message_header_block(req, &block, &len) == NHTTPS_OK;
    size_t at = 0;
    for (size_t i = 0; same && i < nhttps_incoming_message_header_count(req); i++) {
        const char *name = NULL, *value = NULL;
        nhttps_incoming_message_header_at(req, i, &name, &value);
        size_t name_len = strlen(name) + 1, value_len = strlen(value) + 1;
        same = at + name_len + value_len <= len && memcmp(block + at, name, name_len) == 0 &&
               memcmp(block + at + name_len, value, value_len) == 0;
        at += name_len + value_len;
    }
    same = same && at == len;
    const char *answer = same ? "same" : "different";
    nhttps_server_response_end(res, (const uint8_t *)answer, strlen(answer));
}

static void the_header_block_holds_every_field_in_order(void) {
    reset();
    nhttps_server *server = h_start_server(compare_header_block, NULL);
    CHECK(server != NULL);
    const char *request = "GET / HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nx-dup: 2\r\nEmpty:\r\n"
                          "Connection: close\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "same");
    free(out);
}

/* Answers the CGI block as NAME=VALUE lines. */
static void echo_cgi_variables(void *userdata, nhttps_incoming_message *req,
                               nhttps_server_response *res) {
    (void)userdata;
    const uint8_t *block = NULL;
    size_t len = 0;
    if (nhttps_incoming_message_cgi_variables(req, &block, &len) != NHTTPS_OK) {
        nhttps_server_response_end(res, (const uint8_t *)"failed", 6);
        return;
    }
    char *out = malloc(len + 1);
    bool name = true;
    for (size_t i = 0; i < len; i++) {
        out[i] = block[i] != 0 ? (char)block[i] : name ? '=' : '\n';
        if (block[i] == 0) name = !name;
    }
    /* The same block again: made once, kept by the request. */
    const uint8_t *again = NULL;
    size_t again_len = 0;
    nhttps_incoming_message_cgi_variables(req, &again, &again_len);
    nhttps_server_response_end(res, (const uint8_t *)out, again == block ? len : 0);
    free(out);
}

static void the_cgi_variables_name_the_request_and_its_tls_facts(void) {
    reset();
    nhttps_server *server = h_start_server(echo_cgi_variables, NULL);
    CHECK(server != NULL);
    const char *request = "POST /a%20b/c?x=1&y=2 HTTP/1.1\r\nHost: example.test:8443\r\n"
                          "X-Dup: 1\r\nx-dup: 2\r\nX_Under: evil\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 0\r\nConnection: close\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    const char *expected[] = {
        "\r\n\r\nREQUEST_METHOD=POST\nREQUEST_URI=/a%20b/c?x=1&y=2\nQUERY_STRING=x=1&y=2\n"
        "SERVER_PROTOCOL=HTTP/1.1\nREMOTE_ADDR=127.0.0.1\nREMOTE_PORT=",
        "\nSERVER_NAME=example.test\nSERVER_PORT=8443\nHTTP_HOST=example.test:8443\n"
        "HTTP_X_DUP=1, 2\nCONTENT_TYPE=text/plain\nCONTENT_LENGTH=0\nHTTP_CONNECTION=close\n"
        "HTTPS=on\nSSL_PROTOCOL=TLSv1.3\nSSL_CIPHER=",
        "\nSSL_CLIENT_VERIFY=NONE\n",
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) CHECK_CONTAINS(out, expected[i]);
    CHECK(strstr(out, "UNDER") == NULL);
    free(out);
}

static bool on_connection(void *userdata, const nhttps_socket_info *info) {
    atomic_fetch_add(&connections, 1);
    note("connection from %s tls=%s;", nhttps_socket_info_remote_address(info),
         nhttps_socket_info_tls_version(info) ? "yes" : "none-yet");
    return userdata == NULL; /* userdata non-NULL: refuse */
}

static void on_close(void *userdata) {
    (void)userdata;
    atomic_fetch_add(&closes, 1);
}

static void on_listening(void *userdata) {
    (void)userdata;
    atomic_fetch_add(&listenings, 1);
}

static void on_client_error(void *userdata, const nhttps_error *error,
                            const nhttps_socket_info *info) {
    (void)userdata;
    (void)info;
    note("clientError %s status=%u message=%s;", nhttps_result_name((int)nhttps_error_code(error)),
         (unsigned)nhttps_error_http_status(error), nhttps_error_message(error));
    atomic_fetch_add(&client_errors, 1);
}

/* ---- events ------------------------------------------------------------- */

static void request_gives_method_url_version_and_headers_in_order(void) {
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    const char *request =
        "GET /path/x?q=1&r=2 HTTP/1.1\r\nHost: localhost\r\nX-Dup: a\r\nx-dup: b\r\n"
        "Connection: close\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 200 OK\r\n");
    CHECK_CONTAINS(out, "GET /path/x?q=1&r=2 HTTP/1.1\nHost: localhost\nX-Dup: a\nx-dup: b\n");
    CHECK_CONTAINS(out, "\r\nDate: ");
    free(out);
}

static void connection_fires_before_the_handshake_with_the_remote_address(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    nhttps_server_on_request(server, h_hello, NULL);
    CHECK_OK(nhttps_server_on_connection(server, on_connection, NULL));
    CHECK_OK(listen_local(server));
    char *out = h_capture(NULL, CURL " https://127.0.0.1:%u/", h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    CHECK_INT(atomic_load(&connections), 1);
    CHECK_CONTAINS(seen, "connection from 127.0.0.1 tls=none-yet;");
    free(out);
}

static void connection_callback_returning_false_refuses_the_connection(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    nhttps_server_on_request(server, echo_request, NULL);
    CHECK_OK(nhttps_server_on_connection(server, on_connection, (void *)1));
    CHECK_OK(listen_local(server));
    int status = 0;
    char *out = h_capture(&status, CURL " https://127.0.0.1:%u/ 2>/dev/null", h_port);
    nhttps_server_free(server);
    CHECK(status != 0);
    CHECK_INT(atomic_load(&requests), 0);
    free(out);
}

static void listening_fires_before_listen_returns_and_close_after_close(void) {
    reset();
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_listening(server, on_listening, NULL));
    CHECK_OK(nhttps_server_on_close(server, on_close, NULL));
    CHECK_OK(listen_local(server));
    CHECK_INT(atomic_load(&listenings), 1);
    CHECK_INT(atomic_load(&closes), 0);
    CHECK_OK(nhttps_server_close(server));
    CHECK_INT(atomic_load(&closes), 1);
    CHECK_OK(nhttps_server_close(server)); /* twice is harmless */
    nhttps_server_free(server);
    CHECK_INT(atomic_load(&closes), 1);
}

/* Threads that ran a request callback, and how often each left the pool. */
#define MAX_SEEN_THREADS 64
static pthread_t served_on[MAX_SEEN_THREADS];
static int exits_of[MAX_SEEN_THREADS];
static int served_threads;
static atomic_int thread_exits;

static int seen_thread(pthread_t t) {
    for (int i = 0; i < served_threads; i++) {
        if (pthread_equal(served_on[i], t)) return i;
    }
    return -1;
}

static void note_serving_thread(void *userdata, nhttps_incoming_message *req,
                                nhttps_server_response *res) {
    pthread_mutex_lock(&seen_lock);
    if (seen_thread(pthread_self()) < 0 && served_threads < MAX_SEEN_THREADS) {
        served_on[served_threads++] = pthread_self();
    }
    pthread_mutex_unlock(&seen_lock);
    h_hello(userdata, req, res);
}

static void on_thread_exit(void *userdata) {
    (void)userdata;
    pthread_mutex_lock(&seen_lock);
    int i = seen_thread(pthread_self());
    if (i >= 0) exits_of[i]++;
    pthread_mutex_unlock(&seen_lock);
    atomic_fetch_add(&thread_exits, 1);
}

static void thread_exit_runs_on_each_pool_thread_before_close_returns(void) {
    REQUIRE_TOOL("curl");
    reset();
    served_threads = 0;
    memset(exits_of, 0, sizeof exits_of);
    atomic_store(&thread_exits, 0);
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_request(server, note_serving_thread, NULL));
    CHECK_OK(nhttps_server_on_thread_exit(server, on_thread_exit, NULL));
    CHECK_OK(listen_local(server));
    /* Four clients at once: more than one pool thread. */
    free(h_capture(NULL,
                   "for i in 1 2 3 4; do " CURL " -o /dev/null https://127.0.0.1:%u/ & done; wait",
                   h_port));
    int before_close = atomic_load(&thread_exits);
    CHECK_OK(nhttps_server_close(server));
    int after_close = atomic_load(&thread_exits);
    nhttps_server_free(server);
    CHECK(served_threads >= 1);
    CHECK_INT(before_close, 0);
    CHECK_MSG(after_close >= served_threads, "%d exits for %d threads that served",
              after_close, served_threads);
    for (int i = 0; i < served_threads; i++) {
        CHECK_MSG(exits_of[i] == 1, "a thread that served ran thread_exit %d times", exits_of[i]);
    }
}

static void malformed_request_gets_400_and_client_error(void) {
    reset();
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    nhttps_server_on_request(server, echo_request, NULL);
    CHECK_OK(nhttps_server_on_client_error(server, on_client_error, NULL));
    CHECK_OK(listen_local(server));
    const char *request = "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 400 Bad Request\r\n");
    CHECK_CONTAINS(out, "Connection: close");
    CHECK_INT(atomic_load(&client_errors), 1);
    CHECK_CONTAINS(seen, "clientError NHTTPS_ERR_HTTP_PARSE status=400");
    CHECK_INT(atomic_load(&requests), 0);
    free(out);
}

static void answer_without_reading(void *userdata, nhttps_incoming_message *req,
                                   nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    atomic_fetch_add(&requests, 1);
    nhttps_server_response_end(res, (const uint8_t *)"ok", 2);
}

/* A chunked body the handler did not read, already read ahead whole, is
 * checked when the response head goes out: malformed, the head says
 * `Connection: close`, the connection ends after the response and the
 * malformed body is reported (as Node's clientError) — no second answer
 * follows the response. */
static void a_malformed_body_left_unread_closes_after_the_response_and_is_a_client_error(void) {
    reset();
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    nhttps_server_on_request(server, answer_without_reading, NULL);
    CHECK_OK(nhttps_server_on_client_error(server, on_client_error, NULL));
    CHECK_OK(listen_local(server));
    const char *request = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "zz\r\nhello\r\n0\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 200 OK\r\n");
    CHECK_CONTAINS(out, "\r\nConnection: close\r\n");
    CHECK(strstr(out, "400 Bad Request") == NULL);
    CHECK_INT(atomic_load(&requests), 1);
    CHECK_INT(atomic_load(&client_errors), 1);
    CHECK_CONTAINS(seen, "clientError NHTTPS_ERR_HTTP_PARSE status=400");
    free(out);
}

static void bare_lf_line_endings_are_rejected(void) {
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    const char *request = "GET / HTTP/1.1\nHost: x\n\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 400 Bad Request\r\n");
    CHECK_INT(atomic_load(&requests), 0);
    free(out);
}

static void a_tls_handshake_failure_is_a_client_error(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_client_error(server, on_client_error, NULL));
    CHECK_OK(listen_local(server));
    /* Plain HTTP to the TLS port. */
    free(h_capture(NULL, "curl -sS --max-time 20 http://127.0.0.1:%u/ 2>/dev/null", h_port));
    nhttps_server_free(server);
    CHECK_INT(atomic_load(&client_errors), 1);
    CHECK_CONTAINS(seen, "clientError NHTTPS_ERR_TLS_HANDSHAKE status=0");
}

/* ---- checkContinue ------------------------------------------------------ */

static void check_continue_accepting(void *userdata, nhttps_incoming_message *req,
                                     nhttps_server_response *res) {
    note("checkContinue %s;", nhttps_incoming_message_header(req, "expect"));
    nhttps_server_response_write_continue(res);
    echo_request(userdata, req, res);
}

static void check_continue_refusing(void *userdata, nhttps_incoming_message *req,
                                    nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    note("checkContinue refused;");
    nhttps_server_response_set_header(res, "Connection", "close");
    nhttps_server_response_write_head(res, 417, NULL);
    nhttps_server_response_end(res, NULL, 0);
}

static void without_a_check_continue_handler_100_is_sent_and_request_follows(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    char *out = h_capture(NULL,
                          CURL " -v -H 'Expect: 100-continue' --expect100-timeout 30 "
                               "--data-binary 'the body' https://127.0.0.1:%u/up 2>&1",
                          h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 100 Continue");
    CHECK_CONTAINS(out, "body: the body\n");
    CHECK_INT(atomic_load(&requests), 1);
    free(out);
}

static void check_continue_handler_sends_100_and_reads_the_body(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_check_continue(server, check_continue_accepting, NULL));
    char *out = h_capture(NULL,
                          CURL " -v -H 'Expect: 100-continue' --expect100-timeout 30 "
                               "--data-binary 'the body' https://127.0.0.1:%u/up 2>&1",
                          h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 100 Continue");
    CHECK_CONTAINS(out, "body: the body\n");
    CHECK_CONTAINS(seen, "checkContinue 100-continue;");
    free(out);
}

static void check_continue_handler_may_refuse_without_reading_the_body(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_check_continue(server, check_continue_refusing, NULL));
    char *out = h_capture(NULL,
                          CURL " -v -H 'Expect: 100-continue' --expect100-timeout 30 "
                               "--data-binary 'the body' https://127.0.0.1:%u/up 2>&1",
                          h_port);
    nhttps_server_free(server);
    CHECK(strstr(out, "100 Continue") == NULL);
    CHECK_CONTAINS(out, "HTTP/1.1 417 Expectation Failed");
    CHECK_INT(atomic_load(&requests), 0);
    free(out);
}

/* ---- answering without reading the body -------------------------------- */

/* A response's `Connection` header is a promise: keep-alive means the next
 * request on the connection is served, close means the connection ends
 * after the response. keep_alive_probe.py checks one against the other. */

/* The checkContinue handler: refuses without reading the body. */
static void refuse_expectation(void *userdata, nhttps_incoming_message *req,
                               nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_write_head(res, 417, NULL);
    nhttps_server_response_end(res, (const uint8_t *)"expectation failed", 18);
}

/* Sends 100 Continue, then answers without reading the body. */
static void continue_then_ignore(void *userdata, nhttps_incoming_message *req,
                                 nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_write_continue(res);
    nhttps_server_response_end(res, (const uint8_t *)"ignored", 7);
}

/* Answers without reading the body: /reject with 413, /claim-keep-alive
 * with 413 and the application's own `Connection: keep-alive`, /stream with
 * the head first and then reads the body whole; anything else with 200. */
static void answer_by_path(void *userdata, nhttps_incoming_message *req,
                           nhttps_server_response *res) {
    (void)userdata;
    atomic_fetch_add(&requests, 1);
    const char *url = nhttps_incoming_message_url(req);
    if (strcmp(url, "/reject") == 0) {
        nhttps_server_response_write_head(res, 413, NULL);
        nhttps_server_response_end(res, (const uint8_t *)"too large", 9);
    } else if (strcmp(url, "/claim-keep-alive") == 0) {
        nhttps_server_response_set_header(res, "Connection", "keep-alive");
        nhttps_server_response_write_head(res, 413, NULL);
        nhttps_server_response_end(res, (const uint8_t *)"too large", 9);
    } else if (strcmp(url, "/stream") == 0) {
        nhttps_server_response_write_head(res, 200, NULL);
        nhttps_server_response_write(res, (const uint8_t *)"a", 1);
        free(h_read_body(req, NULL));
        nhttps_server_response_end(res, (const uint8_t *)"b", 1);
    } else {
        nhttps_server_response_end(res, (const uint8_t *)"ignored", 7);
    }
}

static nhttps_server *start_answering_by_path(nhttps_request_callback on_check_continue) {
    nhttps_server *server = new_server();
    if (server == NULL) return NULL;
    nhttps_server_on_request(server, answer_by_path, NULL);
    if (on_check_continue) nhttps_server_on_check_continue(server, on_check_continue, NULL);
    nhttps_server_on_client_error(server, on_client_error, NULL);
    listen_local(server);
    return server;
}

/* Sends `head` (and `body_bytes` more bytes of body) and reports what the
 * response said and what followed (see keep_alive_probe.py). */
static char *probe(const char *head, size_t body_bytes) {
    const char *in = h_path("probe.in");
    h_write_file(in, head, strlen(head));
    return h_capture(NULL, "python3 c-tests/peers/keep_alive_probe.py --port %u --request %s "
                           "--body-bytes %zu 2>&1",
                     (unsigned)h_port, in, body_bytes);
}

/* The header and what happened next agree. */
#define CHECK_PROMISE_KEPT(out)                                                      \
    CHECK_MSG((strstr(out, "connection keep-alive\n") && strstr(out, "next 200\n")) ||   \
                  (strstr(out, "connection close\n") && strstr(out, "next eof\n")),    \
              "the header and the connection disagree:\n%s", out)

static void a_refused_expectation_says_close_and_curl_gets_the_417(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = start_answering_by_path(refuse_expectation);
    CHECK(server != NULL);
    int status = -1;
    char *out = h_capture(&status,
                          CURL " -v --http1.1 -H 'Expect: 100-continue' -d abcdefgh "
                               "https://127.0.0.1:%u/reject 2>&1",
                          h_port);
    nhttps_server_free(server);
    CHECK_INT(status, 0);
    CHECK_CONTAINS(out, "< HTTP/1.1 417 Expectation Failed");
    CHECK_CONTAINS(out, "< Connection: close");
    CHECK_CONTAINS(out, "expectation failed");
    CHECK(strstr(out, "Connection died") == NULL);
    free(out);
}

static void a_refused_expectation_says_close_and_the_connection_ends(void) {
    reset();
    nhttps_server *server = start_answering_by_path(refuse_expectation);
    CHECK(server != NULL);
    char *out = probe("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 38\r\n"
                      "Expect: 100-continue\r\n\r\n", 0);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "status 417\nconnection close\nbody-length 18\n");
    CHECK_PROMISE_KEPT(out);
    free(out);
}

static void an_expectation_met_and_a_body_left_unread_keeps_the_connection(void) {
    reset();
    nhttps_server *server = start_answering_by_path(continue_then_ignore);
    CHECK(server != NULL);
    char *out = probe("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 38\r\n"
                      "Expect: 100-continue\r\n\r\n", 38);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "status 200\nconnection keep-alive\n");
    CHECK_PROMISE_KEPT(out);
    free(out);
}

static void a_small_unread_body_is_drained_and_the_connection_kept(void) {
    reset();
    nhttps_server *server = start_answering_by_path(NULL);
    CHECK(server != NULL);
    char *out = probe("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 100000);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "status 200\nconnection keep-alive\n");
    CHECK_PROMISE_KEPT(out);
    CHECK_INT(atomic_load(&requests), 2);
    free(out);
}

/* More than 1 MiB unread: not drained, and said so; the client that sends
 * it all before reading (as http.client) still gets the answer, because
 * the server reads and discards the rest before it closes. */
static void a_413_without_reading_a_large_body_says_close_and_arrives_whole(void) {
    reset();
    nhttps_server *server = start_answering_by_path(NULL);
    CHECK(server != NULL);
    char *out = probe("POST /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n",
                      3000000);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "status 413\nconnection close\nbody-length 9\n");
    CHECK(strstr(out, "send failed") == NULL);
    CHECK_PROMISE_KEPT(out);
    free(out);
}

static void a_413_to_curl_uploading_a_large_body_arrives(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = start_answering_by_path(NULL);
    CHECK(server != NULL);
    const char *file = h_path("upload.bin");
    char *big = calloc(1, 3000000);
    h_write_file(file, big, 3000000);
    free(big);
    int status = -1;
    char *out = h_capture(&status,
                          CURL " -v --http1.1 -H 'Expect:' --data-binary @%s "
                               "https://127.0.0.1:%u/reject 2>&1",
                          file, h_port);
    nhttps_server_free(server);
    CHECK_INT(status, 0);
    CHECK_CONTAINS(out, "< HTTP/1.1 413 Payload Too Large");
    CHECK_CONTAINS(out, "< Connection: close");
    free(out);
}

static void a_chunked_body_left_unread_says_close_unless_its_end_is_there(void) {
    reset();
    nhttps_server *server = start_answering_by_path(NULL);
    CHECK(server != NULL);
    /* The last chunk is sent later: the body's length is unknown. */
    char *open_ended = probe("POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             "\r\n5\r\nhello\r\n", 0);
    /* The whole body came with the head: it is discarded. */
    char *whole = probe("POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        "\r\n5\r\nhello\r\n0\r\n\r\n", 0);
    nhttps_server_free(server);
    CHECK_CONTAINS(open_ended, "status 200\nconnection close\n");
    CHECK_PROMISE_KEPT(open_ended);
    CHECK_CONTAINS(whole, "status 200\nconnection keep-alive\n");
    CHECK_PROMISE_KEPT(whole);
    free(open_ended);
    free(whole);
}

/* The head went out before the handler read the body: the promise is made
 * then, from what was known. */
static void a_head_sent_before_a_large_body_is_read_says_close(void) {
    reset();
    nhttps_server *server = start_answering_by_path(NULL);
    CHECK(server != NULL);
    char *out = probe("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
                      2000000);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "status 200\nconnection close\nbody-length 2\n");
    CHECK_PROMISE_KEPT(out);
    free(out);
}

/* An application's `Connection: keep-alive` is not sent when the server
 * will close. */
static void an_applications_keep_alive_header_gives_way_to_close(void) {
    reset();
    nhttps_server *server = start_answering_by_path(NULL);
    CHECK(server != NULL);
    char *out = probe("POST /claim-keep-alive HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
                      2000000);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "status 413\nconnection close\n");
    CHECK_PROMISE_KEPT(out);
    free(out);
}

/* ---- destroy ------------------------------------------------------------ */

static atomic_int end_after_destroy;

/* /cut: a chunked head and part of the body, then destroy; /none: destroy
 * with a head set but not sent. Then `end` on the destroyed response. */
static void destroy_midway(void *userdata, nhttps_incoming_message *req,
                           nhttps_server_response *res) {
    (void)userdata;
    if (strcmp(nhttps_incoming_message_url(req), "/cut") == 0) {
        nhttps_server_response_write_head(res, 200, NULL);
        nhttps_server_response_write(res, (const uint8_t *)"partial", 7);
    } else {
        nhttps_server_response_set_header(res, "X-Never", "sent");
        nhttps_server_response_write_head(res, 200, NULL);
    }
    nhttps_server_response_destroy(res);
    atomic_store(&end_after_destroy, (int)nhttps_server_response_end(res, NULL, 0));
}

static void destroy_cuts_the_response_short_and_closes_the_connection(void) {
    reset();
    nhttps_server *server = h_start_server(destroy_midway, NULL);
    CHECK(server != NULL);
    atomic_store(&end_after_destroy, 0);
    /* A second request on the connection is never answered: it closed. */
    const char *cut = "GET /cut HTTP/1.1\r\nHost: x\r\n\r\nGET /none HTTP/1.1\r\nHost: x\r\n\r\n";
    char *out_cut = h_tls_exchange(h_port, cut, strlen(cut));
    const char *none = "GET /none HTTP/1.1\r\nHost: x\r\n\r\n";
    char *out_none = h_tls_exchange(h_port, none, strlen(none));
    nhttps_server_free(server);
    CHECK_CONTAINS(out_cut, "HTTP/1.1 200 OK\r\n");
    CHECK_CONTAINS(out_cut, "\r\n\r\n7\r\npartial\r\n");
    CHECK(strstr(out_cut, "0\r\n\r\n") == NULL);
    CHECK(strstr(out_cut + 10, "HTTP/1.1") == NULL);
    CHECK_STR(out_none, "");
    CHECK_INT(atomic_load(&end_after_destroy), NHTTPS_ERR_INVALID_STATE);
    free(out_cut);
    free(out_none);
}

/* ---- upgrade ------------------------------------------------------------ */

/* Answers 101, then echoes the head bytes and what follows, upper-cased,
 * until the client closes. */
static void upgrade_echo(void *userdata, nhttps_incoming_message *req, nhttps_socket *socket,
                         const uint8_t *head, size_t head_len) {
    (void)userdata;
    note("upgrade %s head=%.*s;", nhttps_incoming_message_header(req, "upgrade"), (int)head_len,
         (const char *)head);
    const char *answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
                         "Connection: Upgrade\r\n\r\n";
    nhttps_socket_write(socket, (const uint8_t *)answer, strlen(answer));
    nhttps_socket_write(socket, (const uint8_t *)"[", 1);
    nhttps_socket_write(socket, head, head_len);
    nhttps_socket_write(socket, (const uint8_t *)"]", 1);
    nhttps_socket_close(socket);
    nhttps_socket_free(socket);
}

static void upgrade_hands_over_the_socket_with_the_head_bytes(void) {
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_upgrade(server, upgrade_echo, NULL));
    const char *request = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n"
                          "Connection: Upgrade\r\n\r\nearly bytes";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 101 Switching Protocols\r\n");
    CHECK_CONTAINS(out, "\r\n\r\n[early bytes]");
    CHECK_CONTAINS(seen, "upgrade echo head=early bytes;");
    CHECK_INT(atomic_load(&requests), 0);
    free(out);
}

static void upgrade_without_a_handler_closes_the_connection(void) {
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    const char *request = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n"
                          "Connection: Upgrade\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK(strstr(out, "101") == NULL);
    CHECK_INT(atomic_load(&requests), 0);
    free(out);
}

/* A thread blocked reading an upgraded socket blocks neither a write nor
 * close from another thread; close wakes the read, which returns 0. */
static atomic_int duplex_read_result = -1;

static void *read_until_closed(void *arg) {
    nhttps_socket *socket = arg;
    uint8_t buffer[64];
    size_t n = 99;
    nhttps_result rc = nhttps_socket_read(socket, buffer, sizeof buffer, &n);
    atomic_store(&duplex_read_result, rc == NHTTPS_OK ? (int)n : -2);
    return NULL;
}

static void upgrade_full_duplex(void *userdata, nhttps_incoming_message *req,
                                nhttps_socket *socket, const uint8_t *head, size_t head_len) {
    (void)userdata;
    (void)req;
    (void)head;
    (void)head_len;
    pthread_t reader;
    pthread_create(&reader, NULL, read_until_closed, socket);
    h_sleep_ms(200); /* let the reader block first */
    const char *answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
                         "Connection: Upgrade\r\n\r\nwritten while a read waits";
    nhttps_socket_write(socket, (const uint8_t *)answer, strlen(answer));
    nhttps_socket_close(socket);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    if (pthread_timedjoin_np(reader, NULL, &deadline) != 0) {
        note("reader still blocked after close;");
        pthread_detach(reader); /* the socket is leaked on purpose: the test fails */
        return;
    }
    nhttps_socket_free(socket);
}

static void an_upgraded_socket_is_full_duplex_and_close_wakes_a_read(void) {
    reset();
    atomic_store(&duplex_read_result, -1);
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    CHECK_OK(nhttps_server_on_upgrade(server, upgrade_full_duplex, NULL));
    const char *request = "GET /duplex HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n"
                          "Connection: Upgrade\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "\r\n\r\nwritten while a read waits");
    CHECK(strstr(seen, "still blocked") == NULL);
    CHECK_INT(atomic_load(&duplex_read_result), 0);
    free(out);
}

/* ---- HTTP/1.1 ----------------------------------------------------------- */

static void keep_alive_serves_several_requests_on_one_connection(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    nhttps_server_on_request(server, echo_request, NULL);
    nhttps_server_on_connection(server, on_connection, NULL);
    CHECK_OK(listen_local(server));
    char *out = h_capture(NULL, CURL " https://127.0.0.1:%u/a https://127.0.0.1:%u/b "
                                     "https://127.0.0.1:%u/c",
                          h_port, h_port, h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "GET /a ");
    CHECK_CONTAINS(out, "GET /c ");
    CHECK_INT(atomic_load(&requests), 3);
    CHECK_INT(atomic_load(&connections), 1);
    free(out);
}

static void http_1_0_without_keep_alive_closes_after_the_response(void) {
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    /* The second request must never be answered: the connection closes. */
    const char *request = "GET /one HTTP/1.0\r\n\r\nGET /two HTTP/1.0\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "GET /one HTTP/1.0");
    CHECK(strstr(out, "GET /two") == NULL);
    CHECK_CONTAINS(out, "Connection: close");
    free(out);
}

static void pipelined_requests_are_answered_in_order(void) {
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    const char *request = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                          "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                          "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    char *one = strstr(out, "GET /1 "), *two = strstr(out, "POST /2 "), *three = strstr(out, "GET /3 ");
    CHECK(one != NULL && two != NULL && three != NULL);
    CHECK(one < two && two < three);
    CHECK_CONTAINS(two, "body: abc\n");
    CHECK_INT(atomic_load(&requests), 3);
    free(out);
}

static void an_unread_body_is_drained_before_the_next_request(void) {
    reset();
    nhttps_server *server = h_start_server(h_hello, NULL);
    CHECK(server != NULL);
    const char *request = "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
                          "POST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabc\r\n0\r\n\r\n"
                          "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    int answers = 0;
    for (char *p = out; (p = strstr(p, "HTTP/1.1 200 OK")) != NULL; p++) {
        answers++;
    }
    CHECK_INT(answers, 3);
    CHECK(strstr(out, "400") == NULL);
    free(out);
}

static void chunked_request_body_with_trailers_is_decoded(void) {
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    const char *request = "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: close\r\n\r\n"
                          "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "body-length: 12\nbody: hello, world\n");
    free(out);
}

static void chunked_upload_from_curl(void) {
    REQUIRE_TOOL("curl");
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    char *out = h_capture(NULL,
                          "head -c 100000 /dev/zero | " CURL
                          " -H 'Transfer-Encoding: chunked' --data-binary @- https://127.0.0.1:%u/",
                          h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "Transfer-Encoding: chunked\n");
    CHECK_CONTAINS(out, "body-length: 100000\n");
    free(out);
}

/* Writes three pieces without a Content-Length: chunked on HTTP/1.1. */
static void write_in_pieces(void *userdata, nhttps_incoming_message *req,
                            nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_write_head(res, 200, NULL);
    nhttps_server_response_write(res, (const uint8_t *)"one,", 4);
    nhttps_server_response_write(res, (const uint8_t *)"two,", 4);
    nhttps_server_response_end(res, (const uint8_t *)"three", 5);
}

static void a_response_without_length_is_chunked_on_http_1_1(void) {
    REQUIRE_TOOL("python3");
    nhttps_server *server = h_start_server(write_in_pieces, NULL);
    CHECK(server != NULL);
    char *raw = h_tls_exchange(h_port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 47);
    char *parsed = h_capture(NULL, "python3 c-tests/peers/http_client.py --port %u /", h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(raw, "Transfer-Encoding: chunked\r\n");
    CHECK_CONTAINS(raw, "4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n");
    CHECK_CONTAINS(parsed, "status=200 body=one,two,three");
    free(raw);
    free(parsed);
}

static void a_response_without_length_is_close_delimited_on_http_1_0(void) {
    nhttps_server *server = h_start_server(write_in_pieces, NULL);
    CHECK(server != NULL);
    char *raw = h_tls_exchange(h_port, "GET / HTTP/1.0\r\n\r\n", 18);
    nhttps_server_free(server);
    CHECK(strstr(raw, "chunked") == NULL);
    CHECK_CONTAINS(raw, "Connection: close\r\n");
    CHECK_CONTAINS(raw, "\r\n\r\none,two,three");
    free(raw);
}

static void head_gets_headers_without_a_body(void) {
    reset();
    nhttps_server *server = h_start_server(h_hello, NULL);
    CHECK(server != NULL);
    const char *request = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    /* The HEAD answer carries Content-Length: 6 but no body: the next
     * bytes are the GET's status line. */
    CHECK_CONTAINS(out, "Content-Length: 6\r\n");
    char *second = strstr(out + 1, "HTTP/1.1 200 OK");
    CHECK(second != NULL);
    CHECK(strncmp(second - 4, "\r\n\r\n", 4) == 0);
    CHECK_CONTAINS(second, "\r\n\r\nhello\n");
    free(out);
}

static void status_204_and_304_have_no_body(void *userdata, nhttps_incoming_message *req,
                                            nhttps_server_response *res) {
    (void)userdata;
    uint16_t status = strcmp(nhttps_incoming_message_url(req), "/204") == 0 ? 204 : 304;
    nhttps_server_response_write_head(res, status, NULL);
    nhttps_server_response_end(res, (const uint8_t *)"ignored", 7);
}

static void no_content_and_not_modified_send_no_body(void) {
    nhttps_server *server = h_start_server(status_204_and_304_have_no_body, NULL);
    CHECK(server != NULL);
    const char *request = "GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n";
    char *out = h_tls_exchange(h_port, request, strlen(request));
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 204 No Content\r\n");
    CHECK_CONTAINS(out, "HTTP/1.1 304 Not Modified\r\n");
    CHECK(strstr(out, "ignored") == NULL);
    CHECK(strstr(out, "Transfer-Encoding") == NULL);
    free(out);
}

static void response_headers_can_be_set_read_and_removed(void *userdata,
                                                         nhttps_incoming_message *req,
                                                         nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_set_header(res, "X-Gone", "1");
    nhttps_server_response_remove_header(res, "x-gone");
    nhttps_server_response_append_header(res, "Set-Cookie", "a=1");
    nhttps_server_response_append_header(res, "Set-Cookie", "b=2");
    nhttps_server_response_set_header(res, "X-Got", nhttps_server_response_get_header(res, "set-cookie"));
    nhttps_server_response_set_status_message(res, "Very Fine");
    bool before = nhttps_server_response_headers_sent(res);
    nhttps_server_response_write(res, (const uint8_t *)"x", 1);
    bool after = nhttps_server_response_headers_sent(res);
    nhttps_server_response_end(res, (const uint8_t *)(before == false && after ? "ok" : "no"), 2);
}

static void response_headers_set_get_remove_and_status_message(void) {
    nhttps_server *server = h_start_server(response_headers_can_be_set_read_and_removed, NULL);
    CHECK(server != NULL);
    char *out = h_tls_exchange(h_port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 47);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 200 Very Fine\r\n");
    CHECK_CONTAINS(out, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n");
    CHECK_CONTAINS(out, "X-Got: a=1\r\n");
    CHECK(strstr(out, "X-Gone") == NULL);
    CHECK_CONTAINS(out, "1\r\nx\r\n2\r\nok\r\n0\r\n\r\n");
    free(out);
}

static const char ONE_HEAD[] =
    "Content-Type\0text/plain\0Set-Cookie\0a=1\0Set-Cookie\0b=2\0X-Latin-1\0caf\xe9\0";

static void set_the_head_in_one_call(void *userdata, nhttps_incoming_message *req,
                                     nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_set_header(res, "Set-Cookie", "replaced=1");
    nhttps_server_response_set_header(res, "X-Kept", "1");
    nhttps_server_response_set_header(res, "X-Utf-8", "caf\xc3\xa9");
    nhttps_result ok = nhttps_server_response_set_head(res, 201, "Made", ONE_HEAD, sizeof ONE_HEAD - 1);
    nhttps_server_response_end(res, (const uint8_t *)(ok == NHTTPS_OK ? "hello" : "no"), ok == NHTTPS_OK ? 5 : 2);
}

/* Header values are bytes: Latin-1 (a WSGI application's) and UTF-8 go out as given. */
static void set_head_sets_status_and_headers_and_end_still_sets_the_length(void) {
    nhttps_server *server = h_start_server(set_the_head_in_one_call, NULL);
    CHECK(server != NULL);
    char *out = h_tls_exchange(h_port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 47);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 201 Made\r\n");
    CHECK_CONTAINS(out, "X-Kept: 1\r\nX-Utf-8: caf\xc3\xa9\r\nContent-Type: text/plain\r\n"
                        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Latin-1: caf\xe9\r\n");
    CHECK(strstr(out, "replaced") == NULL);
    CHECK_CONTAINS(out, "Content-Length: 5\r\n");
    CHECK(strstr(out, "Transfer-Encoding") == NULL);
    CHECK_CONTAINS(out, "\r\n\r\nhello");
    free(out);
}

static void refuse_bad_heads(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    static const char no_value[] = "X-A\0a\0X-B\0";
    static const char unterminated[] = "X-A\0a";
    static const char bad_name[] = "X A\0a\0";
    static const char bad_value[] = "X-A\0a\r\nX-Evil: 1\0";
    int refused = 0;
    refused += nhttps_server_response_set_head(res, 500, NULL, no_value, sizeof no_value - 1) ==
               NHTTPS_ERR_INVALID_ARGUMENT;
    refused += nhttps_server_response_set_head(res, 500, NULL, unterminated, sizeof unterminated - 1) ==
               NHTTPS_ERR_INVALID_ARGUMENT;
    refused += nhttps_server_response_set_head(res, 500, NULL, bad_name, sizeof bad_name - 1) ==
               NHTTPS_ERR_INVALID_ARGUMENT;
    refused += nhttps_server_response_set_head(res, 500, NULL, bad_value, sizeof bad_value - 1) ==
               NHTTPS_ERR_INVALID_ARGUMENT;
    refused += nhttps_server_response_set_head(res, 42, NULL, NULL, 0) == NHTTPS_ERR_INVALID_ARGUMENT;
    refused += nhttps_server_response_set_head(res, 500, NULL, NULL, 3) == NHTTPS_ERR_NULL_ARGUMENT;
    char answer[16];
    snprintf(answer, sizeof answer, "refused %d", refused);
    nhttps_server_response_end(res, (const uint8_t *)answer, strlen(answer));
}

static void set_head_refuses_a_bad_block_and_changes_nothing(void) {
    nhttps_server *server = h_start_server(refuse_bad_heads, NULL);
    CHECK(server != NULL);
    char *out = h_tls_exchange(h_port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 47);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "HTTP/1.1 200 OK\r\n");
    CHECK(strstr(out, "X-A") == NULL);
    CHECK(strstr(out, "X-Evil") == NULL);
    CHECK_CONTAINS(out, "refused 6");
    free(out);
}

/* ---- threads ------------------------------------------------------------ */

static void *finish_later(void *arg) {
    nhttps_server_response *res = arg;
    h_sleep_ms(200);
    nhttps_server_response_end(res, (const uint8_t *)"finished elsewhere\n", 19);
    return NULL;
}

static void respond_from_another_thread(void *userdata, nhttps_incoming_message *req,
                                        nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    pthread_t thread;
    pthread_create(&thread, NULL, finish_later, res);
    pthread_detach(thread);
}

static void a_response_may_be_ended_from_another_thread(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = h_start_server(respond_from_another_thread, NULL);
    CHECK(server != NULL);
    char *out = h_capture(NULL, CURL " https://127.0.0.1:%u/ https://127.0.0.1:%u/", h_port, h_port);
    nhttps_server_free(server);
    CHECK_STR(out, "finished elsewhere\nfinished elsewhere\n");
    free(out);
}

static atomic_int in_flight;

static void slow_answer(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    atomic_store(&in_flight, 1);
    h_sleep_ms(500);
    nhttps_server_response_end(res, (const uint8_t *)"finished despite close\n", 23);
}

struct fetched {
    uint16_t port;
    char *out;
};

static void *fetch_in_background(void *arg) {
    struct fetched *f = arg;
    f->out = h_capture(NULL, CURL " -i https://127.0.0.1:%u/", f->port);
    return NULL;
}

static void close_lets_a_request_in_flight_finish(void) {
    REQUIRE_TOOL("curl");
    reset();
    atomic_store(&in_flight, 0);
    nhttps_server *server = h_start_server(slow_answer, NULL);
    CHECK(server != NULL);
    nhttps_server_on_close(server, on_close, NULL);
    struct fetched f = {h_port, NULL};
    pthread_t thread;
    pthread_create(&thread, NULL, fetch_in_background, &f);
    bool started = h_wait_for(&in_flight, 30000);
    nhttps_server_close(server); /* returns once the response has gone */
    int closed = atomic_load(&closes);
    pthread_join(thread, NULL);
    nhttps_server_free(server);
    CHECK(started);
    CHECK_INT(closed, 1);
    CHECK_CONTAINS(f.out, "HTTP/1.1 200 OK");
    CHECK_CONTAINS(f.out, "Connection: close");
    CHECK_CONTAINS(f.out, "finished despite close\n");
    free(f.out);
}

static void a_client_vanishing_mid_request_does_not_disturb_the_next(void) {
    reset();
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    /* Half a request, then the client goes away. */
    free(h_capture(NULL, "printf 'GET / HTTP/1.1\\r\\nHost: x' | timeout 10 python3 "
                         "c-tests/peers/tls_raw.py --port %u --timeout 0.2",
                   h_port));
    char *out = h_tls_exchange(h_port, "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 52);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "GET /after HTTP/1.1");
    free(out);
}

/* ---- where it listens --------------------------------------------------- */

static void listen_on_a_unix_socket(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    nhttps_server_on_request(server, echo_request, NULL);
    const char *path = h_path("server.sock");
    CHECK_OK(nhttps_server_listen_unix(server, path));
    CHECK_INT(nhttps_server_port(server), 0);
    char *out = h_capture(NULL, CURL " --unix-socket %s https://localhost/over-unix", path);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "GET /over-unix HTTP/1.1");
    free(out);
}

static void listen_on_ipv6_loopback(void) {
    REQUIRE_TOOL("curl");
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0) {
        printf("SKIP %s: *** SKIPPED: no IPv6 on this machine ***\n", h_current);
        h_current_skipped = true;
        return;
    }
    close(probe);
    nhttps_server *server = new_server();
    CHECK(server != NULL);
    nhttps_server_on_request(server, h_hello, NULL);
    CHECK_OK(nhttps_server_listen(server, "::1", 0));
    uint16_t port = nhttps_server_port(server);
    CHECK(port != 0);
    char *out = h_capture(NULL, CURL " -g 'https://[::1]:%u/'", port);
    nhttps_server_free(server);
    CHECK_STR(out, "hello\n");
    free(out);
}

static void node_https_client_gets_the_answer(void) {
    REQUIRE_TOOL("node");
    nhttps_server *server = h_start_server(echo_request, NULL);
    CHECK(server != NULL);
    char *out = h_capture(
        NULL,
        "node -e \"require('https').get({host:'127.0.0.1',port:%u,path:'/from-node',"
        "rejectUnauthorized:false},r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>"
        "console.log(r.statusCode,r.headers.connection,b.split('\\n')[0]))})\"",
        h_port);
    nhttps_server_free(server);
    CHECK_CONTAINS(out, "200 keep-alive GET /from-node HTTP/1.1");
    free(out);
}

/* Answers "second". */
static void answer_second(void *userdata, nhttps_incoming_message *req,
                          nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_end(res, (const uint8_t *)"second", 6);
}

static void a_listener_replaced_while_a_head_arrives_gets_that_request(void) {
    REQUIRE_TOOL("python3");
    nhttps_server *server = h_start_server(h_hello, NULL);
    const char *go = h_path("go-half");
    unlink(go);
    char command[512];
    snprintf(command, sizeof command, "timeout 30 python3 c-tests/peers/half_head.py %u %s 2>&1",
             (unsigned)h_port, go);
    FILE *peer = popen(command, "r");
    char line[256] = "";
    CHECK(fgets(line, sizeof line, peer) != NULL);
    CHECK_STR(line, "half\n");
    /* The head is half here: the listener changes, then the rest comes. */
    h_sleep_ms(50);
    CHECK_OK(nhttps_server_on_request(server, answer_second, NULL));
    h_write_file(go, "go", 2);
    char body[256] = "";
    size_t n = fread(body, 1, sizeof body - 1, peer);
    body[n] = '\0';
    pclose(peer);
    CHECK_STR(body, "second\n");
    nhttps_server_free(server);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(request_gives_method_url_version_and_headers_in_order);
    RUN(a_listener_replaced_while_a_head_arrives_gets_that_request);
    RUN(connection_fires_before_the_handshake_with_the_remote_address);
    RUN(connection_callback_returning_false_refuses_the_connection);
    RUN(listening_fires_before_listen_returns_and_close_after_close);
    RUN(thread_exit_runs_on_each_pool_thread_before_close_returns);
    RUN(malformed_request_gets_400_and_client_error);
    RUN(a_malformed_body_left_unread_closes_after_the_response_and_is_a_client_error);
    RUN(bare_lf_line_endings_are_rejected);
    RUN(a_tls_handshake_failure_is_a_client_error);
    RUN(without_a_check_continue_handler_100_is_sent_and_request_follows);
    RUN(check_continue_handler_sends_100_and_reads_the_body);
    RUN(check_continue_handler_may_refuse_without_reading_the_body);
    RUN(a_refused_expectation_says_close_and_curl_gets_the_417);
    RUN(a_refused_expectation_says_close_and_the_connection_ends);
    RUN(an_expectation_met_and_a_body_left_unread_keeps_the_connection);
    RUN(a_small_unread_body_is_drained_and_the_connection_kept);
    RUN(a_413_without_reading_a_large_body_says_close_and_arrives_whole);
    RUN(a_413_to_curl_uploading_a_large_body_arrives);
    RUN(a_chunked_body_left_unread_says_close_unless_its_end_is_there);
    RUN(a_head_sent_before_a_large_body_is_read_says_close);
    RUN(an_applications_keep_alive_header_gives_way_to_close);
    RUN(destroy_cuts_the_response_short_and_closes_the_connection);
    RUN(upgrade_hands_over_the_socket_with_the_head_bytes);
    RUN(upgrade_without_a_handler_closes_the_connection);
    RUN(an_upgraded_socket_is_full_duplex_and_close_wakes_a_read);
    RUN(keep_alive_serves_several_requests_on_one_connection);
    RUN(http_1_0_without_keep_alive_closes_after_the_response);
    RUN(pipelined_requests_are_answered_in_order);
    RUN(the_header_block_holds_every_field_in_order);
    RUN(the_cgi_variables_name_the_request_and_its_tls_facts);
    RUN(an_unread_body_is_drained_before_the_next_request);
    RUN(chunked_request_body_with_trailers_is_decoded);
    RUN(chunked_upload_from_curl);
    RUN(a_response_without_length_is_chunked_on_http_1_1);
    RUN(a_response_without_length_is_close_delimited_on_http_1_0);
    RUN(head_gets_headers_without_a_body);
    RUN(no_content_and_not_modified_send_no_body);
    RUN(response_headers_set_get_remove_and_status_message);
    RUN(set_head_sets_status_and_headers_and_end_still_sets_the_length);
    RUN(set_head_refuses_a_bad_block_and_changes_nothing);
    RUN(a_response_may_be_ended_from_another_thread);
    RUN(close_lets_a_request_in_flight_finish);
    RUN(a_client_vanishing_mid_request_does_not_disturb_the_next);
    RUN(listen_on_a_unix_socket);
    RUN(listen_on_ipv6_loopback);
    RUN(node_https_client_gets_the_answer);
    return h_finish();
}
