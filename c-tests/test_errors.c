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
    return h_finish();
}
