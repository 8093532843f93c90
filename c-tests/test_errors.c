/* Errors at the boundary: NULL and invalid arguments get a result code and
 * a message, never a crash; bad keys, certificates and passphrases are
 * told apart. */
#include "harness.h"

static void version_is_a_static_string(void) {
    CHECK(nhttps_version() != NULL);
    CHECK(strchr(nhttps_version(), '.') != NULL);
}

static void result_names_every_code_and_unknown_values(void) {
    CHECK_STR(nhttps_result_name(NHTTPS_OK), "NHTTPS_OK");
    CHECK_STR(nhttps_result_name(NHTTPS_ERR_PASSPHRASE), "NHTTPS_ERR_PASSPHRASE");
    CHECK_STR(nhttps_result_name(NHTTPS_ERR_CERTIFICATE_VERIFY), "NHTTPS_ERR_CERTIFICATE_VERIFY");
    CHECK_STR(nhttps_result_name(-1), "NHTTPS_UNKNOWN");
    CHECK_STR(nhttps_result_name(9999), "NHTTPS_UNKNOWN");
}

static void null_arguments_get_null_argument_and_a_message(void) {
    nhttps_server *server = NULL;
    CHECK_RC(nhttps_server_new(NULL, &server), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK(server == NULL);
    CHECK(strlen(nhttps_last_error_message()) > 0);
    nhttps_server_options *options = nhttps_server_options_new();
    CHECK_RC(nhttps_server_new(options, NULL), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_options_set_key_pem(NULL, (const uint8_t *)"x", 1),
             NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_options_set_key_pem(options, NULL, 1), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_options_set_cert_file(options, NULL), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_on_request(NULL, h_hello, NULL), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_listen(NULL, "127.0.0.1", 0), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_listen_unix(NULL, "/tmp/x"), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_close(NULL), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_response_end(NULL, NULL, 0), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_server_response_write(NULL, (const uint8_t *)"x", 1), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_incoming_message_read(NULL, NULL, 0, NULL), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_socket_write(NULL, (const uint8_t *)"x", 1), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_client_request_new(NULL, NULL), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK_RC(nhttps_get(NULL, NULL), NHTTPS_ERR_NULL_ARGUMENT);
    CHECK(nhttps_incoming_message_method(NULL) == NULL);
    CHECK(nhttps_incoming_message_header(NULL, "host") == NULL);
    CHECK(nhttps_socket_info_tls_version(NULL) == NULL);
    CHECK_INT(nhttps_server_port(NULL), 0);
    CHECK_RC(nhttps_error_code(NULL), NHTTPS_ERR_NULL_ARGUMENT);
    nhttps_server_options_free(options);
}

static void frees_accept_null(void) {
    nhttps_server_free(NULL);
    nhttps_server_options_free(NULL);
    nhttps_socket_free(NULL);
    nhttps_secure_context_free(NULL);
    nhttps_incoming_message_free(NULL);
    nhttps_request_options_free(NULL);
    nhttps_client_request_free(NULL);
    nhttps_agent_free(NULL);
    nhttps_agent_options_free(NULL);
}

static void a_server_without_a_certificate_is_refused(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    CHECK(rc != NHTTPS_OK);
    CHECK(server == NULL);
    CHECK(strlen(nhttps_last_error_message()) > 0);
}

static void garbage_key_and_certificate_are_told_apart(void) {
    const char *garbage = "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n";
    nhttps_server *dev = h_start_server(h_hello, NULL);
    CHECK(dev != NULL);
    const char *good_cert = nhttps_server_certificate_pem(dev);
    CHECK(good_cert != NULL);
    nhttps_server_options *options = nhttps_server_options_new();
    CHECK_OK(nhttps_server_options_set_cert_pem(options, (const uint8_t *)good_cert, strlen(good_cert)));
    CHECK_OK(nhttps_server_options_set_key_pem(options, (const uint8_t *)garbage, strlen(garbage)));
    nhttps_server *server = NULL;
    nhttps_result key_rc = nhttps_server_new(options, &server);
    REQUIRE_TOOL("openssl");
    const char *key = h_path("plain-key.pem");
    free(h_capture(NULL, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s", key));
    CHECK_OK(nhttps_server_options_set_key_file(options, key));
    CHECK_OK(nhttps_server_options_set_cert_pem(options, (const uint8_t *)"nonsense", 8));
    nhttps_result cert_rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    nhttps_server_free(dev);
    CHECK_RC(key_rc, NHTTPS_ERR_KEY);
    CHECK_RC(cert_rc, NHTTPS_ERR_CERTIFICATE);
}

static void a_key_that_does_not_match_the_certificate_is_a_certificate_error(void) {
    REQUIRE_TOOL("openssl");
    nhttps_server *dev = h_start_server(h_hello, NULL);
    CHECK(dev != NULL);
    const char *cert = nhttps_server_certificate_pem(dev);
    const char *key = h_path("other-key.pem");
    free(h_capture(NULL, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s", key));
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_set_cert_pem(options, (const uint8_t *)cert, strlen(cert));
    nhttps_server_options_set_key_file(options, key);
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    nhttps_server_free(dev);
    CHECK_RC(rc, NHTTPS_ERR_CERTIFICATE);
    CHECK_CONTAINS(nhttps_last_error_message(), "does not match");
}

static void a_missing_key_file_is_an_io_error(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_result rc = nhttps_server_options_set_key_file(options, "/nonexistent/key.pem");
    nhttps_server_options_free(options);
    CHECK_RC(rc, NHTTPS_ERR_IO);
    CHECK_CONTAINS(nhttps_last_error_message(), "/nonexistent/key.pem");
}

static void a_wrong_passphrase_is_a_passphrase_error(void) {
    REQUIRE_TOOL("openssl");
    const char *key = h_path("enc-key.pem"), *cert = h_path("enc-cert.pem");
    int status = 0;
    free(h_capture(&status,
                   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 1 "
                   "-subj /CN=localhost -passout pass:right -keyout %s -out %s 2>/dev/null",
                   key, cert));
    CHECK_INT(status, 0);
    nhttps_server_options *options = nhttps_server_options_new();
    CHECK_OK(nhttps_server_options_set_key_file(options, key));
    CHECK_OK(nhttps_server_options_set_cert_file(options, cert));
    nhttps_server *server = NULL;
    CHECK_RC(nhttps_server_new(options, &server), NHTTPS_ERR_PASSPHRASE);
    CHECK_OK(nhttps_server_options_set_passphrase(options, "wrong"));
    CHECK_RC(nhttps_server_new(options, &server), NHTTPS_ERR_PASSPHRASE);
    CHECK_OK(nhttps_server_options_set_passphrase(options, "right"));
    CHECK_OK(nhttps_server_new(options, &server));
    nhttps_server_free(server);
    nhttps_server_options_free(options);
}

static void listening_twice_on_one_port_is_address_in_use(void) {
    nhttps_server *first = h_start_server(h_hello, NULL);
    CHECK(first != NULL);
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *second = NULL;
    CHECK_OK(nhttps_server_new(options, &second));
    nhttps_server_options_free(options);
    nhttps_result rc = nhttps_server_listen(second, "127.0.0.1", h_port);
    nhttps_server_free(second);
    nhttps_server_free(first);
    CHECK_RC(rc, NHTTPS_ERR_ADDRESS_IN_USE);
}

static void a_bad_header_value_is_refused(void *userdata, nhttps_incoming_message *req,
                                          nhttps_server_response *res) {
    (void)req;
    atomic_int *results = userdata;
    atomic_store(&results[0], nhttps_server_response_set_header(res, "X-Bad", "a\r\nInjected: 1"));
    atomic_store(&results[1], nhttps_server_response_set_header(res, "Bad Name", "v"));
    nhttps_server_response_end(res, (const uint8_t *)"ok", 2);
}

static void header_injection_is_refused_with_invalid_argument(void) {
    REQUIRE_TOOL("curl");
    static atomic_int results[2];
    nhttps_server *server = h_start_server(a_bad_header_value_is_refused, results);
    CHECK(server != NULL);
    char *out = h_capture(NULL, CURL " -i https://127.0.0.1:%u/", h_port);
    nhttps_server_free(server);
    CHECK_INT(atomic_load(&results[0]), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_INT(atomic_load(&results[1]), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(out, "Injected") == NULL);
    CHECK_CONTAINS(out, "ok");
    free(out);
}

static void a_signed_content_length_is_refused(void *userdata, nhttps_incoming_message *req,
                                               nhttps_server_response *res) {
    (void)req;
    atomic_int *result = userdata;
    nhttps_server_response_set_header(res, "Content-Length", "+2");
    atomic_store(result, nhttps_server_response_write(res, (const uint8_t *)"ok", 2));
    nhttps_server_response_remove_header(res, "Content-Length");
    nhttps_server_response_end(res, (const uint8_t *)"ok", 2);
}

static void a_content_length_that_is_not_plain_digits_is_invalid_argument(void) {
    REQUIRE_TOOL("curl");
    static atomic_int result;
    nhttps_server *server = h_start_server(a_signed_content_length_is_refused, &result);
    CHECK(server != NULL);
    char *out = h_capture(NULL, CURL " -i https://127.0.0.1:%u/", h_port);
    nhttps_server_free(server);
    CHECK_INT(atomic_load(&result), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(out, "+2") == NULL);
    CHECK_CONTAINS(out, "Content-Length: 2\r\n");
    free(out);
}

/* RFC 9110: Content-Length is 1*DIGIT. A request the application gives
 * "+5" is refused before anything is sent (a general number parser
 * would have sent it on, for the server to reject). */
static void a_request_content_length_that_is_not_plain_digits_is_invalid_argument(void) {
    const char *bad[] = {"+5", "-1", "5 5", "0x5", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nhttps_request_options *options = nhttps_request_options_new();
        CHECK_OK(nhttps_request_options_set_host(options, "127.0.0.1"));
        CHECK_OK(nhttps_request_options_add_header(options, "Content-Length", bad[i]));
        nhttps_client_request *request = NULL;
        nhttps_result rc = nhttps_client_request_new(options, &request);
        nhttps_request_options_free(options);
        CHECK_MSG(rc == NHTTPS_ERR_INVALID_ARGUMENT, "Content-Length %s -> %s", bad[i],
                  nhttps_result_name((int)rc));
        CHECK_CONTAINS(nhttps_last_error_message(), "Content-Length");
        CHECK(request == NULL);
    }
    nhttps_request_options *options = nhttps_request_options_new();
    CHECK_OK(nhttps_request_options_set_host(options, "127.0.0.1"));
    CHECK_OK(nhttps_request_options_add_header(options, "Content-Length", " 5 "));
    nhttps_client_request *request = NULL;
    CHECK_OK(nhttps_client_request_new(options, &request));
    nhttps_request_options_free(options);
    nhttps_client_request_free(request);
}

/* ---- one rule for values: in range, or refused (issue 18) ----------------
 * Every setter takes a value in its documented range or refuses it with
 * NHTTPS_ERR_INVALID_ARGUMENT, leaving the option as it was: nothing is
 * clamped or replaced. 0 means "no limit" only where a setter says so. */

/* Every timeout is at least 1 ms: 0 (Node's "no timeout") is refused by the
 * server's, a request's and an agent's timeout setters alike, never
 * rounded up to 1 ms; 1 ms is accepted. */
static void a_zero_timeout_is_refused_by_every_timeout_setter(void) {
    nhttps_result (*server_setters[])(nhttps_server_options *, uint32_t) = {
        nhttps_server_options_set_keep_alive_timeout_ms,
        nhttps_server_options_set_handshake_timeout_ms,
        nhttps_server_options_set_headers_timeout_ms,
        nhttps_server_options_set_request_timeout_ms,
    };
    nhttps_server_options *server = nhttps_server_options_new();
    for (size_t i = 0; i < sizeof server_setters / sizeof server_setters[0]; i++) {
        nhttps_result rc = server_setters[i](server, 0);
        CHECK_MSG(rc == NHTTPS_ERR_INVALID_ARGUMENT, "server timeout setter %zu: 0 -> %s", i,
                  nhttps_result_name((int)rc));
        CHECK_CONTAINS(nhttps_last_error_message(), "at least 1 ms");
        CHECK_OK(server_setters[i](server, 1));
    }
    nhttps_server_options_free(server);

    nhttps_request_options *request = nhttps_request_options_new();
    CHECK_RC(nhttps_request_options_set_timeout_ms(request, 0), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(nhttps_last_error_message(), "at least 1 ms");
    CHECK_RC(nhttps_request_options_set_connect_timeout_ms(request, 0),
             NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_request_options_set_timeout_ms(request, 1));
    CHECK_OK(nhttps_request_options_set_connect_timeout_ms(request, 1));
    nhttps_request_options_free(request);

    nhttps_agent_options *agent = nhttps_agent_options_new();
    CHECK_RC(nhttps_agent_options_set_free_socket_timeout_ms(agent, 0),
             NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_agent_options_set_free_socket_timeout_ms(agent, 1));
    nhttps_agent_options_free(agent);
}

/* Node's maxSockets: at least 1. 0 is refused (no request could ever be
 * sent), not turned into 1. */
static void max_sockets_0_is_refused_and_1_is_the_least(void) {
    nhttps_agent_options *options = nhttps_agent_options_new();
    CHECK_RC(nhttps_agent_options_set_max_sockets(options, 0), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(nhttps_last_error_message(), "maxSockets");
    CHECK_OK(nhttps_agent_options_set_max_sockets(options, 1));
    nhttps_agent_options_free(options);
}

/* For a limit that has none by default, 0 is how C says "no limit" (Node's
 * Infinity), and maxFreeSockets 0 keeps no idle connection: all accepted. */
static void zero_is_accepted_where_it_means_no_limit_or_none(void) {
    nhttps_server_options *server = nhttps_server_options_new();
    CHECK_OK(nhttps_server_options_set_max_connections(server, 0));
    CHECK_OK(nhttps_server_options_set_max_connections_per_ip(server, 0));
    CHECK_OK(nhttps_server_options_set_max_requests_per_socket(server, 0));
    CHECK_OK(nhttps_server_options_set_session_cache_size(server, 0));
    nhttps_server_options_free(server);
    nhttps_agent_options *agent = nhttps_agent_options_new();
    CHECK_OK(nhttps_agent_options_set_max_total_sockets(agent, 0));
    CHECK_OK(nhttps_agent_options_set_max_free_sockets(agent, 0));
    nhttps_agent_options_free(agent);
}

/* Sizes and lengths have a least value (and some a greatest): below or
 * above it, the value is refused, never raised or cut to fit. */
static void sizes_and_lengths_out_of_range_are_refused(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    CHECK_RC(nhttps_server_options_set_thread_stack_size(options, 64 * 1024 - 1),
             NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_server_options_set_thread_stack_size(options, 64 * 1024));
    CHECK_RC(nhttps_server_options_set_max_header_size(options, 0), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_server_options_set_max_header_size(options, 63), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_server_options_set_max_header_size(options, 64));
    uint8_t bytes[81] = {0};
    CHECK_RC(nhttps_server_options_set_session_id_context(options, bytes, 0),
             NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_server_options_set_session_id_context(options, bytes, 33),
             NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_server_options_set_session_id_context(options, bytes, 1));
    CHECK_OK(nhttps_server_options_set_session_id_context(options, bytes, 32));
    CHECK_RC(nhttps_server_options_set_ticket_keys(options, bytes, 79), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_server_options_set_ticket_keys(options, bytes, 81), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_server_options_set_ticket_keys(options, bytes, NHTTPS_TICKET_KEYS_LEN));
    CHECK_RC(nhttps_server_options_set_session_timeout(options, 0), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_server_options_set_session_timeout(options, 1));
    char long_name[257];
    memset(long_name, 'p', 256);
    long_name[256] = '\0';
    const char *empty[] = {""}, *too_long[] = {long_name}, *fine[] = {"http/1.1"};
    CHECK_RC(nhttps_server_options_set_alpn_protocols(options, empty, 1), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_server_options_set_alpn_protocols(options, too_long, 1),
             NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_server_options_set_alpn_protocols(options, fine, 1));
    CHECK_RC(nhttps_server_options_set_npn_protocols(options, empty, 1), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nhttps_server_options_set_npn_protocols(options, fine, 1));
    nhttps_server_options_free(options);
}

/* Node's scheduling is "lifo" or "fifo", spelled so; anything else is
 * refused, as Node's validateOneOf throws. */
static void scheduling_other_than_lifo_or_fifo_is_refused(void) {
    nhttps_agent_options *options = nhttps_agent_options_new();
    CHECK_RC(nhttps_agent_options_set_scheduling(options, "LIFO"), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_agent_options_set_scheduling(options, "random"), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(nhttps_last_error_message(), "random");
    CHECK_OK(nhttps_agent_options_set_scheduling(options, "fifo"));
    CHECK_OK(nhttps_agent_options_set_scheduling(options, "lifo"));
    nhttps_agent_options_free(options);
}

/* A request header whose name is not a token or whose value holds a control
 * character is refused when it is added, with the same rule the request
 * applies again before it is sent. */
static void a_request_header_with_a_bad_name_or_value_is_refused_when_added(void) {
    nhttps_request_options *options = nhttps_request_options_new();
    CHECK_RC(nhttps_request_options_add_header(options, "Bad Name", "v"),
             NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_RC(nhttps_request_options_add_header(options, "X-Bad", "a\r\nInjected: 1"),
             NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(nhttps_last_error_message(), "X-Bad");
    CHECK_OK(nhttps_request_options_add_header(options, "X-Good", "a\tb"));
    nhttps_request_options_free(options);
}

/* A refused value leaves the option as it was: a server given
 * max_header_size 128, then 10 (refused), still allows 128 bytes — not 64
 * (the least, as a clamp would give) nor 16 KiB (the default). */
static void a_refused_value_leaves_the_option_as_it_was(void) {
    REQUIRE_TOOL("curl");
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    CHECK_OK(nhttps_server_options_set_max_header_size(options, 128));
    CHECK_RC(nhttps_server_options_set_max_header_size(options, 10), NHTTPS_ERR_INVALID_ARGUMENT);
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    CHECK_OK(rc);
    nhttps_server_on_request(server, h_hello, NULL);
    CHECK_OK(nhttps_server_listen(server, "127.0.0.1", 0));
    uint16_t port = nhttps_server_port(server);
    /* About 70 bytes of head: over 64, under 128. */
    char *small = h_capture(NULL, CURL " -A x -o /dev/null -w '%%{http_code}' https://127.0.0.1:%u/",
                            (unsigned)port);
    /* About 170 bytes: over 128, far under 16 KiB. */
    char *large = h_capture(NULL,
                            CURL " -A x -H 'X-Pad: %0100d' -o /dev/null -w '%%{http_code}' "
                                 "https://127.0.0.1:%u/",
                            0, (unsigned)port);
    nhttps_server_free(server);
    CHECK_STR(small, "200");
    CHECK_STR(large, "431");
    free(small);
    free(large);
}

int main(void) {
    RUN(version_is_a_static_string);
    RUN(result_names_every_code_and_unknown_values);
    RUN(null_arguments_get_null_argument_and_a_message);
    RUN(frees_accept_null);
    RUN(a_server_without_a_certificate_is_refused);
    RUN(garbage_key_and_certificate_are_told_apart);
    RUN(a_key_that_does_not_match_the_certificate_is_a_certificate_error);
    RUN(a_missing_key_file_is_an_io_error);
    RUN(a_wrong_passphrase_is_a_passphrase_error);
    RUN(listening_twice_on_one_port_is_address_in_use);
    RUN(header_injection_is_refused_with_invalid_argument);
    RUN(a_content_length_that_is_not_plain_digits_is_invalid_argument);
    RUN(a_request_content_length_that_is_not_plain_digits_is_invalid_argument);
    RUN(a_zero_timeout_is_refused_by_every_timeout_setter);
    RUN(max_sockets_0_is_refused_and_1_is_the_least);
    RUN(zero_is_accepted_where_it_means_no_limit_or_none);
    RUN(sizes_and_lengths_out_of_range_are_refused);
    RUN(scheduling_other_than_lifo_or_fifo_is_refused);
    RUN(a_request_header_with_a_bad_name_or_value_is_refused_when_added);
    RUN(a_refused_value_leaves_the_option_as_it_was);
    return h_finish();
}
