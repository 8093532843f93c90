/* idle_server PORT CERT KEY — the bench's server for holding many idle
 * connections (bench/idle10k.sh): nhttps answering "hello, world\n" with a
 * keep-alive timeout of 10 minutes, so that connections opened first are
 * still open when the last ones arrive (serve keeps Node's 5 s). */
#include <nhttps.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata;
    (void)req;
    nhttps_server_response_end(res, (const uint8_t *)"hello, world\n", 13);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: idle_server PORT CERT KEY\n");
        return 2;
    }
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server *server = NULL;
    if (nhttps_server_options_set_cert_file(options, argv[2]) != NHTTPS_OK ||
        nhttps_server_options_set_key_file(options, argv[3]) != NHTTPS_OK ||
        nhttps_server_options_set_keep_alive_timeout_ms(options, 600000) != NHTTPS_OK ||
        nhttps_server_new(options, &server) != NHTTPS_OK) {
        fprintf(stderr, "idle_server: %s\n", nhttps_last_error_message());
        return 1;
    }
    nhttps_server_options_free(options);
    nhttps_server_on_request(server, on_request, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", (uint16_t)atoi(argv[1])) != NHTTPS_OK) {
        fprintf(stderr, "idle_server: %s\n", nhttps_last_error_message());
        return 1;
    }
    pause();
    nhttps_server_free(server);
    return 0;
}
