/* What a server needs to run as one of several processes (issue 17):
 * listening on a socket it inherited, sharing a port with SO_REUSEPORT,
 * and counting what it did. Clients are curl and raw sockets. */
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(listen_fd_serves_on_a_socket_the_program_bound);
    RUN(listen_fd_refuses_a_socket_that_is_not_listening_and_leaves_it_open);
    RUN(reuse_port_lets_two_servers_share_a_port);
    RUN(a_port_in_use_without_reuse_port_is_refused);
    RUN(stats_count_connections_requests_handshakes_and_bytes);
    RUN(stats_fill_only_the_fields_that_fit_in_size);
    return h_finish();
}
