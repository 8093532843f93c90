/* nhttps_server PORT CERT KEY — nhttps in the bench, configured as its peers are
 * (nginx.conf.in, node_server.js, mhd_server.c): GET / answers "hello, world\n" and
 * GET /1m 1 MiB, from memory, with no access log and session tickets off; GET /sleep
 * answers after its handler slept 5 s (blocking_handlers.sh). The keep-alive timeout is
 * 10 minutes, so that hold_idle_connections.sh's first connections are still open when
 * its last ones arrive. `serve`, the shipped static-file server (files,
 * an access-log line per response, tickets), is measured beside it. */
#include <nhttps.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t big[1 << 20];

static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    const char *url = nhttps_incoming_message_url(req);
    nhttps_server_response_set_header(res, "Content-Type", "text/plain");
    if (strcmp(url, "/sleep") == 0) {
        sleep(5);
        nhttps_server_response_end(res, (const uint8_t *)"slept\n", 6);
    } else if (strcmp(url, "/1m") == 0) {
        nhttps_server_response_end(res, big, sizeof big);
    } else {
        nhttps_server_response_end(res, (const uint8_t *)"hello, world\n", 13);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: nhttps_server PORT CERT KEY\n");
        return 2;
    }
    memset(big, 'x', sizeof big);
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server *server = NULL;
    if (nhttps_server_options_set_cert_file(options, argv[2]) != NHTTPS_OK ||
        nhttps_server_options_set_key_file(options, argv[3]) != NHTTPS_OK ||
        nhttps_server_options_set_tickets(options, false) != NHTTPS_OK ||
        nhttps_server_options_set_keep_alive_timeout_ms(options, 600000) != NHTTPS_OK ||
        nhttps_server_new(options, &server) != NHTTPS_OK) {
        fprintf(stderr, "nhttps_server: %s\n", nhttps_last_error_message());
        return 1;
    }
    nhttps_server_options_free(options);
    nhttps_server_on_request(server, on_request, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", (uint16_t)atoi(argv[1])) != NHTTPS_OK) {
        fprintf(stderr, "nhttps_server: %s\n", nhttps_last_error_message());
        return 1;
    }
    printf("listening on https://127.0.0.1:%u/\n", (unsigned)nhttps_server_port(server));
    fflush(stdout);
    pause();
    nhttps_server_free(server);
    return 0;
}
