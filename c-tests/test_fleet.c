/* What a server needs to run as one of several processes (issue 17):
 * listening on a socket it inherited, sharing a port with SO_REUSEPORT,
 * and counting what it did. Clients are curl and raw sockets. */
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>

static void answer(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    atomic_int *served = userdata;
    (void)req;
    if (served != NULL) atomic_fetch_add(served, 1);
    nhttps_server_response_end(res, (const uint8_t *)"ok", 2);
}

static nhttps_server *new_server(bool reuse_port, atomic_int *served) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server_options_set_reuse_port(options, reuse_port);
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) return NULL;
    nhttps_server_on_request(server, answer, served);
    return server;
}

/* A listening IPv4 socket on 127.0.0.1 and a port the system picks. */
static int listening_socket(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

/* Connects to 127.0.0.1:port, sends `data`, reads until the server closes. */
static void send_raw(uint16_t port, const char *data) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0) return;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        ssize_t ignored = write(fd, data, strlen(data));
        (void)ignored;
        char buf[512];
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while (read(fd, buf, sizeof buf) > 0) {
        }
    }
    close(fd);
}

static void listen_fd_serves_on_a_socket_the_program_bound(void) {
    REQUIRE_TOOL("curl");
    uint16_t port = 0;
    int fd = listening_socket(&port);
    CHECK(fd >= 0);
    nhttps_server *server = new_server(false, NULL);
    CHECK_OK(nhttps_server_listen_fd(server, fd));
    CHECK_INT(nhttps_server_port(server), port);
    int status = -1;
    char *body = h_capture(&status, CURL " https://127.0.0.1:%u/", (unsigned)port);
    CHECK_INT(status, 0);
    CHECK_STR(body, "ok");
    free(body);
    nhttps_server_close(server);
    nhttps_server_free(server);
    /* The server closed the socket it owned. */
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
}

static void listen_fd_refuses_a_socket_that_is_not_listening_and_leaves_it_open(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    nhttps_server *server = new_server(false, NULL);
    CHECK_RC(nhttps_server_listen_fd(server, fd), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(nhttps_last_error_message(), "not listening");
    CHECK(fcntl(fd, F_GETFD) != -1);
    CHECK_RC(nhttps_server_listen_fd(server, -1), NHTTPS_ERR_INVALID_ARGUMENT);
    /* It can still listen on a good one. */
    uint16_t port = 0;
    int good = listening_socket(&port);
    CHECK_OK(nhttps_server_listen_fd(server, good));
    nhttps_server_free(server);
    close(fd);
}

static void reuse_port_lets_two_servers_share_a_port(void) {
    REQUIRE_TOOL("curl");
    static atomic_int first_served, second_served;
    atomic_store(&first_served, 0);
    atomic_store(&second_served, 0);
    nhttps_server *first = new_server(true, &first_served);
    nhttps_server *second = new_server(true, &second_served);
    CHECK_OK(nhttps_server_listen(first, "127.0.0.1", 0));
    uint16_t port = nhttps_server_port(first);
    CHECK_OK(nhttps_server_listen(second, "127.0.0.1", port));
    CHECK_INT(nhttps_server_port(second), port);
    /* 40 connections: the kernel spreads them by their addresses. */
    for (int i = 0; i < 40; i++) {
        int status = -1;
        char *body = h_capture(&status, CURL " https://127.0.0.1:%u/", (unsigned)port);
        CHECK_STR(body, "ok");
        free(body);
    }
    CHECK_INT(atomic_load(&first_served) + atomic_load(&second_served), 40);
    CHECK_MSG(atomic_load(&first_served) > 0 && atomic_load(&second_served) > 0,
              "first served %d, second %d", atomic_load(&first_served),
              atomic_load(&second_served));
    /* One goes (a rolling restart): the other serves everything. */
    nhttps_server_close(first);
    nhttps_server_free(first);
    for (int i = 0; i < 5; i++) {
        int status = -1;
        char *body = h_capture(&status, CURL " https://127.0.0.1:%u/", (unsigned)port);
        CHECK_STR(body, "ok");
        free(body);
    }
    nhttps_server_free(second);
}

static void a_port_in_use_without_reuse_port_is_refused(void) {
    nhttps_server *first = new_server(true, NULL);
    nhttps_server *second = new_server(false, NULL);
    CHECK_OK(nhttps_server_listen(first, "127.0.0.1", 0));
    CHECK_RC(nhttps_server_listen(second, "127.0.0.1", nhttps_server_port(first)),
             NHTTPS_ERR_ADDRESS_IN_USE);
    nhttps_server_free(second);
    nhttps_server_free(first);
}

static void stats_count_connections_requests_handshakes_and_bytes(void) {
    REQUIRE_TOOL("curl");
    nhttps_server *server = new_server(false, NULL);
    CHECK_OK(nhttps_server_listen(server, "127.0.0.1", 0));
    uint16_t port = nhttps_server_port(server);
    nhttps_stats stats = {.size = sizeof stats};
    CHECK_OK(nhttps_server_stats(server, &stats));
    CHECK_INT(stats.size, sizeof stats);
    CHECK_INT(stats.accepted, 0);
    CHECK_INT(stats.requests, 0);
    /* Three requests on one connection, then plain HTTP on a TLS port. */
    int status = -1;
    char *body = h_capture(&status, CURL " https://127.0.0.1:%u/a https://127.0.0.1:%u/b "
                                         "https://127.0.0.1:%u/c",
                           (unsigned)port, (unsigned)port, (unsigned)port);
    CHECK_STR(body, "okokok");
    free(body);
    send_raw(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    /* The connections' ends are counted as their threads finish. */
    for (int i = 0; i < 200; i++) {
        CHECK_OK(nhttps_server_stats(server, &stats));
        if (stats.open == 0 && stats.handshake_failures == 1) break;
        h_sleep_ms(10);
    }
    CHECK_INT(stats.accepted, 2);
    CHECK_INT(stats.open, 0);
    CHECK_INT(stats.idle, 0);
    CHECK_INT(stats.requests, 3);
    CHECK_INT(stats.handshake_failures, 1);
    CHECK_INT(stats.client_errors, 0);
    /* At least the three heads in and the three answers out, in TLS records. */
    CHECK_MSG(stats.bytes_in > 3 * 40 && stats.bytes_out > 3 * 60, "in %llu out %llu",
              (unsigned long long)stats.bytes_in, (unsigned long long)stats.bytes_out);
    nhttps_server_free(server);
}

static void stats_fill_only_the_fields_that_fit_in_size(void) {
    nhttps_server *server = new_server(false, NULL);
    nhttps_stats stats;
    memset(&stats, 0xAB, sizeof stats);
    stats.size = offsetof(nhttps_stats, open); /* an older, smaller struct */
    CHECK_OK(nhttps_server_stats(server, &stats));
    CHECK_INT(stats.size, offsetof(nhttps_stats, open));
    CHECK_INT(stats.accepted, 0);
    CHECK(stats.open == 0xABABABABABABABABull);
    stats.size = 3;
    CHECK_RC(nhttps_server_stats(server, &stats), NHTTPS_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(nhttps_last_error_message(), "size");
    nhttps_server_free(server);
}

/* --- the PROXY protocol ----------------------------------------------------- */

static char connection_seen[128];
static atomic_int client_errors;
static char last_client_error[256];
static nhttps_result last_client_error_code;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

static bool note_connection(void *userdata, const nhttps_socket_info *info) {
    (void)userdata;
    pthread_mutex_lock(&seen_lock);
    snprintf(connection_seen, sizeof connection_seen, "%s:%u",
             nhttps_socket_info_remote_address(info), nhttps_socket_info_remote_port(info));
    pthread_mutex_unlock(&seen_lock);
    return true;
}

static void note_client_error(void *userdata, const nhttps_error *error,
                              const nhttps_socket_info *info) {
    (void)userdata;
    (void)info;
    pthread_mutex_lock(&seen_lock);
    snprintf(last_client_error, sizeof last_client_error, "%s", nhttps_error_message(error));
    last_client_error_code = nhttps_error_code(error);
    pthread_mutex_unlock(&seen_lock);
    atomic_fetch_add(&client_errors, 1);
}

/* Answers "remote=ADDR:PORT local=ADDR:PORT". */
static void answer_addresses(void *userdata, nhttps_incoming_message *req,
                             nhttps_server_response *res) {
    (void)userdata;
    const nhttps_socket_info *info = nhttps_incoming_message_socket(req);
    char body[256];
    int len = snprintf(body, sizeof body, "remote=%s:%u local=%s:%u",
                       nhttps_socket_info_remote_address(info), nhttps_socket_info_remote_port(info),
                       nhttps_socket_info_local_address(info), nhttps_socket_info_local_port(info));
    nhttps_server_response_end(res, (const uint8_t *)body, (size_t)len);
}

static nhttps_server *proxied_server(void) {
    atomic_store(&client_errors, 0);
    connection_seen[0] = last_client_error[0] = '\0';
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server_options_set_proxy_protocol(options, true);
    nhttps_server_options_set_handshake_timeout_ms(options, 500);
    nhttps_server *server = NULL;
    nhttps_result rc = nhttps_server_new(options, &server);
    nhttps_server_options_free(options);
    if (rc != NHTTPS_OK) return NULL;
    nhttps_server_on_request(server, answer_addresses, NULL);
    nhttps_server_on_connection(server, note_connection, NULL);
    nhttps_server_on_client_error(server, note_client_error, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", 0) != NHTTPS_OK) {
        nhttps_server_free(server);
        return NULL;
    }
    h_port = nhttps_server_port(server);
    return server;
}

/* proxy_client.py's output for `args`. */
static char *proxy_client(const char *args) {
    int status = -1;
    return h_capture(&status, "timeout 30 python3 c-tests/peers/proxy_client.py --port %u %s 2>&1",
                     (unsigned)h_port, args);
}

static void a_v1_header_gives_the_clients_addresses(void) {
    REQUIRE_TOOL("python3");
    nhttps_server *server = proxied_server();
    char *out = proxy_client("'v1:TCP4 203.0.113.7 192.0.2.1 51234 443'");
    CHECK_CONTAINS(out, "RESPONSE HTTP/1.1 200");
    CHECK_CONTAINS(out, "remote=203.0.113.7:51234 local=192.0.2.1:443");
    CHECK_STR(connection_seen, "203.0.113.7:51234");
    free(out);
    nhttps_server_free(server);
}

static void a_v2_header_gives_the_clients_ipv6_address(void) {
    REQUIRE_TOOL("python3");
    nhttps_server *server = proxied_server();
    char *out = proxy_client("'v2:[2001:db8::7]:40000,[2001:db8::1]:8443'");
    CHECK_CONTAINS(out, "remote=2001:db8::7:40000 local=2001:db8::1:8443");
    free(out);
    nhttps_server_free(server);
}

static void local_and_unknown_headers_keep_the_sockets_addresses(void) {
    REQUIRE_TOOL("python3");
    nhttps_server *server = proxied_server();
    char *out = proxy_client("v2-local");
    CHECK_CONTAINS(out, "remote=127.0.0.1:");
    free(out);
    out = proxy_client("'v1:UNKNOWN'");
    CHECK_CONTAINS(out, "remote=127.0.0.1:");
    free(out);
    CHECK_INT(atomic_load(&client_errors), 0);
    nhttps_server_free(server);
}

/* Sends `header` (proxy_client.py's syntax) and nothing more: the server
 * must close the connection and report `code`; then it still serves. */
static void refused(const char *header, nhttps_result code, const char *message) {
    nhttps_server *server = proxied_server();
    char args[512];
    snprintf(args, sizeof args, "--raw --stall 5 %s", header);
    char *out = proxy_client(args);
    CHECK_MSG(strstr(out, "CLOSED") != NULL, "%s: %s", header, out);
    free(out);
    for (int i = 0; i < 200 && atomic_load(&client_errors) == 0; i++) h_sleep_ms(10);
    CHECK_MSG(atomic_load(&client_errors) == 1, "%s: %d client errors", header,
              atomic_load(&client_errors));
    pthread_mutex_lock(&seen_lock);
    CHECK_MSG(last_client_error_code == code && strstr(last_client_error, message) != NULL,
              "%s: got %d %s", header, (int)last_client_error_code, last_client_error);
    pthread_mutex_unlock(&seen_lock);
    /* Nothing of it reached the `connection` event. */
    CHECK_STR(connection_seen, "");
    nhttps_stats stats = {.size = sizeof stats};
    CHECK_OK(nhttps_server_stats(server, &stats));
    CHECK_INT(stats.client_errors, 1);
    out = proxy_client("'v1:TCP4 198.51.100.2 192.0.2.1 1000 443'");
    CHECK_CONTAINS(out, "remote=198.51.100.2:1000");
    free(out);
    nhttps_server_free(server);
}

static void hostile_proxy_headers_are_closed_and_reported(void) {
    REQUIRE_TOOL("python3");
    /* A TLS client (or plain HTTP) where the header should be. */
    refused("hex:160301", NHTTPS_ERR_HTTP_PARSE, "no PROXY header");
    refused("hex:474554202f", NHTTPS_ERR_HTTP_PARSE, "no PROXY header");
    /* v1: a line over 107 bytes, a bad address, a bad port. */
    char args[256] = "'v1:UNKNOWN ";
    for (int i = 0; i < 110; i++) strcat(args, "1");
    strcat(args, "'");
    refused(args, NHTTPS_ERR_HTTP_PARSE, "107");
    refused("'v1:TCP4 1.2.3 192.0.2.1 1 2'", NHTTPS_ERR_HTTP_PARSE, "PROXY protocol");
    refused("'v1:TCP4 1.2.3.4 192.0.2.1 65536 443'", NHTTPS_ERR_HTTP_PARSE, "port");
    /* v2: a wrong signature, a length shorter than its addresses (a lie),
     * and a length longer than what is sent (truncated: the peer stalls). */
    refused("hex:0d0a0d0a000d0a515549580a2111000c7f000001", NHTTPS_ERR_HTTP_PARSE, "signature");
    refused("hex:0d0a0d0a000d0a515549540a211100047f000001", NHTTPS_ERR_HTTP_PARSE, "shorter");
    refused("hex:0d0a0d0a000d0a515549540a2111000c7f00", NHTTPS_ERR_TIMEOUT, "PROXY");
    /* v2 with a command that is neither LOCAL nor PROXY. */
    refused("hex:0d0a0d0a000d0a515549540a2211000c7f0000017f000001000100bb",
            NHTTPS_ERR_HTTP_PARSE, "command");
    /* A stalled v1 line: late, then cut off by the handshake timeout. */
    refused("hex:50524f585920", NHTTPS_ERR_TIMEOUT, "did not come in time");
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(listen_fd_serves_on_a_socket_the_program_bound);
    RUN(listen_fd_refuses_a_socket_that_is_not_listening_and_leaves_it_open);
    RUN(reuse_port_lets_two_servers_share_a_port);
    RUN(a_port_in_use_without_reuse_port_is_refused);
    RUN(stats_count_connections_requests_handshakes_and_bytes);
    RUN(stats_fill_only_the_fields_that_fit_in_size);
    RUN(a_v1_header_gives_the_clients_addresses);
    RUN(a_v2_header_gives_the_clients_ipv6_address);
    RUN(local_and_unknown_headers_keep_the_sockets_addresses);
    RUN(hostile_proxy_headers_are_closed_and_reported);
    return h_finish();
}
